//! Exactly-once storage: the SDK's Rust client publishes through a loopback TCP proxy
//! that the test cuts; after each reconnect the client re-sends every event it has no
//! ack for, and the server must ack the ones it already stored without storing them
//! again — across reconnects, and across a restart from disk (the window of recent
//! publishes is rebuilt from the log).
//!
//! To be sure each cut leaves events stored but not acked, the proxy first stops
//! passing the server's replies (acks) on, and cuts once it has held some back.

mod common;
mod storage_support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ensign_client::publisher::{encode_type, Counter};
use ensign_client::{ClientConfig, EventFields, OutcomeSink};
use ensign_server::{ServerConfig, ServerHandle};
use parking_lot::Mutex;
use storage_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A TCP proxy to the server that can hold the server's bytes back and cut every
/// connection.
struct Proxy {
    addr: SocketAddr,
    target: Mutex<SocketAddr>,
    conns: Mutex<Vec<JoinHandle<()>>>,
    hold: AtomicBool,
    held: AtomicU64,
    held_more: Notify,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Arc<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Arc::new(Proxy {
            addr: listener.local_addr().unwrap(),
            target: Mutex::new(target),
            conns: Mutex::new(Vec::new()),
            hold: AtomicBool::new(false),
            held: AtomicU64::new(0),
            held_more: Notify::new(),
        });
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let target = *p.target.lock();
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                let up = tokio::spawn(pump(cr, sw, None));
                let down = tokio::spawn(pump(sr, cw, Some(p.clone())));
                p.conns.lock().extend([up, down]);
            }
        });
        proxy
    }

    /// Drops every open connection (both ends see it closed) and passes bytes on again.
    fn cut(&self) {
        for c in self.conns.lock().drain(..) {
            c.abort();
        }
        self.hold.store(false, Ordering::SeqCst);
    }

    /// Holds the server's bytes back until at least `bytes` more were held.
    async fn hold_back(&self, bytes: u64) {
        let goal = self.held.load(Ordering::SeqCst) + bytes;
        self.hold.store(true, Ordering::SeqCst);
        loop {
            let more = self.held_more.notified();
            if self.held.load(Ordering::SeqCst) >= goal {
                return;
            }
            bounded(more).await;
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    holder: Option<Arc<Proxy>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(p) = &holder {
            if p.hold.load(Ordering::SeqCst) {
                p.held.fetch_add(n as u64, Ordering::SeqCst);
                p.held_more.notify_waiters();
                continue;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn client(endpoint: &str) -> ensign_client::Client {
    let mut cfg = ClientConfig::local(endpoint);
    cfg.reconnect_tick = Duration::from_millis(20);
    ensign_client::Client::new(cfg).expect("client builds")
}

/// Publishes events numbered `0..n` (100 bytes each) from a task.
fn publish_task(
    c: &ensign_client::Client,
    topic: [u8; 16],
    n: u64,
    sink: Arc<dyn OutcomeSink>,
) -> JoinHandle<()> {
    let p = c.publisher().clone();
    tokio::spawn(async move {
        let ty = encode_type("Test", 1, 0, 0);
        let data: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                let mut d = vec![7u8; 100];
                d[..8].copy_from_slice(&i.to_be_bytes());
                d
            })
            .collect();
        let fields: Vec<EventFields<'_>> = data
            .iter()
            .map(|d| EventFields {
                data: d,
                mimetype: 50,
                type_pb: &ty,
                meta: &[],
                created: (1_700_000_000, 0),
            })
            .collect();
        let mut done = 0;
        while done < fields.len() {
            match p
                .try_publish(&topic, &fields[done..], &sink, done as u32)
                .expect("publish")
            {
                ensign_client::Admit::Accepted(k) => done += k,
                ensign_client::Admit::UnknownTopic => panic!("topic unknown"),
            }
            if done < fields.len() {
                p.wait_for_room().await.expect("room");
            }
        }
    })
}

/// The numbers of the stored events of topic "t", each checked to be stored once.
async fn stored_once(h: &ServerHandle, n: u64) {
    let mut c = connect(&h.endpoint()).await;
    let events = read_topic(&mut c, "t", true).await;
    let mut seen = HashSet::new();
    for e in &events {
        assert!(seen.insert(number(e)), "event {} stored twice", number(e));
    }
    assert_eq!(events.len() as u64, n, "every event stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_8_times_stores_200000_events_exactly_once() {
    const N: u64 = 200_000;
    let h = start(ServerConfig::default()).await;
    let proxy = Proxy::start(h.local_addr()).await;
    let c = client(&proxy.addr.to_string());
    c.create_topic("t").await.unwrap();
    let topic = c.publisher().resolve("t").await.unwrap();
    let counter = Arc::new(Counter::default());
    let task = publish_task(&c, topic, N, counter.clone());
    for cut in 1..=8u64 {
        bounded(counter.wait_for(cut * N / 9)).await;
        // ~25 acks held back: stored on the server, unknown to the client.
        proxy.hold_back(1_000).await;
        proxy.cut();
    }
    task.await.unwrap();
    tokio::time::timeout(Duration::from_secs(120), counter.wait_for(N))
        .await
        .expect("every event has an outcome");
    assert_eq!((counter.acked(), counter.nacked()), (N, 0));
    assert!(h.recognised_resends() > 0, "the cuts left re-sent events");
    stored_once(&h, N).await;
    c.close(Duration::from_secs(5)).await.unwrap();
    bounded(h.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_sent_events_are_recognised_after_a_restart_from_disk() {
    const N: u64 = 30_000;
    let dir = tempfile::tempdir().unwrap();
    let disk = |port| ServerConfig {
        port,
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let h = start(disk(0)).await;
    let port = h.local_addr().port();
    let proxy = Proxy::start(h.local_addr()).await;
    let c = client(&proxy.addr.to_string());
    c.create_topic("t").await.unwrap();
    let topic = c.publisher().resolve("t").await.unwrap();
    let counter = Arc::new(Counter::default());
    let task = publish_task(&c, topic, N, counter.clone());
    bounded(counter.wait_for(N / 3)).await;
    proxy.hold_back(1_000).await;
    // The server stops (with acks it sent that the client never got) and restarts.
    bounded(h.shutdown()).await;
    proxy.cut();
    let h = start(disk(port)).await;
    task.await.unwrap();
    tokio::time::timeout(Duration::from_secs(60), counter.wait_for(N))
        .await
        .expect("every event has an outcome");
    assert_eq!((counter.acked(), counter.nacked()), (N, 0));
    assert!(
        h.recognised_resends() > 0,
        "re-sent events found in the replayed log"
    );
    stored_once(&h, N).await;
    c.close(Duration::from_secs(5)).await.unwrap();
    bounded(h.shutdown()).await;
}
