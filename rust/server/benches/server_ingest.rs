//! Ingest benchmark of the local server alone: a raw tonic client (no SDK) publishes
//! 100-byte events over pipelined publish streams and counts acks, against a server in
//! memory and on disk, both in this process on separate runtimes.
//!
//! ```text
//! cargo bench -p ensign-server --bench server_ingest -- [--events N] [--streams K]
//!     [--size BYTES] [--window W] [--server-threads T] [--mode memory|disk|both]
//! ```
//!
//! The client keeps up to `--window` events unacknowledged per stream: its request
//! stream yields pre-built requests until the window is full, so tonic coalesces them
//! into large writes; acks reopen the window. Events/s = acked events / wall time from
//! the first send to the last ack.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ensign_proto::api::{self, ensign_client::EnsignClient, publisher_reply, publisher_request};
use ensign_server::{ServerConfig, ServerHandle};
use futures_util::task::AtomicWaker;
use futures_util::Stream;
use prost::Message;

struct Args {
    events: u64,
    streams: u64,
    size: usize,
    window: u64,
    server_threads: usize,
    mode: String,
}

fn args() -> Args {
    let mut a = Args {
        events: 2_000_000,
        streams: 1,
        size: 100,
        window: 8192,
        server_threads: 1,
        mode: "both".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let v = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--events" => a.events = v.parse().expect("--events N"),
            "--streams" => a.streams = v.parse().expect("--streams K"),
            "--size" => a.size = v.parse().expect("--size BYTES"),
            "--window" => a.window = v.parse().expect("--window W"),
            "--server-threads" => a.server_threads = v.parse().expect("--server-threads T"),
            "--mode" => a.mode = v,
            // cargo bench passes --bench; ignore anything else.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// Shared between a stream's request generator and its ack reader.
struct Window {
    acked: AtomicU64,
    waker: AtomicWaker,
}

/// Yields the stream's requests while fewer than `window` are unacknowledged.
struct Requests {
    open: Option<api::PublisherRequest>,
    topic: Bytes,
    event: Bytes,
    ids: Bytes,
    sent: u64,
    total: u64,
    limit: u64,
    shared: Arc<Window>,
}

impl Stream for Requests {
    type Item = api::PublisherRequest;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(open) = self.open.take() {
            return Poll::Ready(Some(open));
        }
        if self.sent == self.total {
            return Poll::Ready(None);
        }
        if self.sent - self.shared.acked.load(Ordering::Acquire) >= self.limit {
            self.shared.waker.register(cx.waker());
            if self.sent - self.shared.acked.load(Ordering::Acquire) >= self.limit {
                return Poll::Pending;
            }
        }
        let i = self.sent as usize * 16;
        self.sent += 1;
        let w = api::EventWrapper {
            topic_id: self.topic.clone(),
            local_id: self.ids.slice(i..i + 16),
            event: self.event.clone(),
            ..Default::default()
        };
        Poll::Ready(Some(api::PublisherRequest {
            embed: Some(publisher_request::Embed::Event(Box::new(w))),
        }))
    }
}

async fn one_stream(endpoint: String, topic: Bytes, event: Bytes, n: u64, window: u64) -> u64 {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .unwrap()
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(8 << 20))
        .connect()
        .await
        .unwrap();
    let mut client = EnsignClient::new(ch);
    // Every event gets its own local id: the server acks a repeated one as a re-send
    // without storing it again (idempotence), which would measure another path.
    let mut ids = Vec::with_capacity(n as usize * 16);
    for i in 0..n {
        ids.extend_from_slice(&[1u8; 8]);
        ids.extend_from_slice(&i.to_be_bytes());
    }
    let shared = Arc::new(Window {
        acked: AtomicU64::new(0),
        waker: AtomicWaker::new(),
    });
    let requests = Requests {
        open: Some(api::PublisherRequest {
            embed: Some(publisher_request::Embed::OpenStream(
                api::OpenStream::default(),
            )),
        }),
        topic,
        event,
        ids: ids.into(),
        sent: 0,
        total: n,
        limit: window,
        shared: shared.clone(),
    };
    let mut replies = client.publish(requests).await.unwrap().into_inner();
    let mut acks = 0;
    while let Some(r) = replies.message().await.unwrap() {
        match r.embed {
            Some(publisher_reply::Embed::Ack(_)) => {
                acks += 1;
                shared.acked.store(acks, Ordering::Release);
                if acks % 64 == 0 || acks == n {
                    shared.waker.wake();
                }
            }
            Some(publisher_reply::Embed::CloseStream(_)) => break,
            Some(publisher_reply::Embed::Nack(n)) => panic!("nack: {n:?}"),
            _ => {}
        }
    }
    acks
}

fn run(a: &Args, data_dir: Option<std::path::PathBuf>) -> (f64, Duration) {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.server_threads)
        .thread_name("server")
        .enable_all()
        .build()
        .unwrap();
    let handle: ServerHandle = server_rt
        .block_on(ensign_server::start(ServerConfig {
            data_dir,
            ..Default::default()
        }))
        .unwrap();
    let endpoint = handle.endpoint();
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let event: Bytes = api::Event {
        data: Bytes::from(vec![b'x'; a.size]),
        mimetype: 1,
        ..Default::default()
    }
    .encode_to_vec()
    .into();
    let (rate, elapsed) = client_rt.block_on(async {
        let mut c = EnsignClient::new(
            tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
        let topic = c
            .create_topic(api::Topic {
                name: "bench".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .id;
        let per = a.events / a.streams;
        let start = Instant::now();
        let tasks: Vec<_> = (0..a.streams)
            .map(|_| {
                tokio::spawn(one_stream(
                    endpoint.clone(),
                    topic.clone(),
                    event.clone(),
                    per,
                    a.window,
                ))
            })
            .collect();
        let mut acked = 0;
        for t in tasks {
            acked += t.await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(acked, per * a.streams, "every event acked");
        (acked as f64 / elapsed.as_secs_f64(), elapsed)
    });
    server_rt.block_on(handle.shutdown());
    (rate, elapsed)
}

fn main() {
    let a = args();
    println!(
        "server_ingest: {} events of {} B, {} stream(s), window {}, {} server worker(s), client on 1 thread",
        a.events, a.size, a.streams, a.window, a.server_threads
    );
    println!("| mode | events/s | MB/s (payload) | seconds |");
    println!("|------|---------:|---------------:|--------:|");
    let mut modes = Vec::new();
    if a.mode == "memory" || a.mode == "both" {
        modes.push("memory");
    }
    if a.mode == "disk" || a.mode == "both" {
        modes.push("disk");
    }
    for mode in modes {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = (mode == "disk").then(|| dir.path().to_path_buf());
        let (rate, elapsed) = run(&a, data_dir);
        println!(
            "| {mode} | {rate:.0} | {:.1} | {:.2} |",
            rate * a.size as f64 / 1e6,
            elapsed.as_secs_f64()
        );
    }
}
