//! Connection limits and timeouts of the gRPC listener: slow or silent handshakes are
//! closed, idle connections are closed while quiet streams are not, the connection
//! limit refuses the extra connection, the stream limit is advertised, and a peer that
//! does not answer keepalive PINGs is dropped.

mod common;

use std::time::Duration;

use common::*;
use ensign_proto::api::{self, subscribe_reply, subscribe_request};
use ensign_server::{ConnectionLimits, ServerConfig, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_stream::wrappers::ReceiverStream;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame (length 0, type 4, no flags, stream 0).
const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
const SETTINGS_ACK: [u8; 9] = [0, 0, 0, 4, 1, 0, 0, 0, 0];
const SHORT: Duration = Duration::from_millis(250);

async fn server(limits: ConnectionLimits) -> ServerHandle {
    start(ServerConfig {
        connections: limits,
        ..Default::default()
    })
    .await
}

/// Reads until the server closes the connection (EOF or reset); returns what it sent.
async fn read_until_closed(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match bounded(s.read(&mut buf)).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// Waits (bounded) for a condition the server exposes no notification for.
async fn wait_until(mut cond: impl FnMut() -> bool) {
    bounded(async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// An HTTP/2 connection driven in the background; `ping` proves the server serves it.
struct H2 {
    ping: h2::PingPong,
    done: tokio::task::JoinHandle<()>,
    max_streams: usize,
}

async fn h2_connect(h: &ServerHandle) -> H2 {
    let tcp = TcpStream::connect(h.local_addr()).await.unwrap();
    let (_send, mut conn) = bounded(h2::client::handshake(tcp)).await.unwrap();
    let mut ping = conn.ping_pong().unwrap();
    let pong = async {
        tokio::select! {
            r = &mut conn => panic!("connection ended early: {r:?}"),
            r = ping.ping(h2::Ping::opaque()) => r.unwrap(),
        }
    };
    bounded(pong).await;
    let max_streams = conn.max_concurrent_send_streams();
    let done = tokio::spawn(async move {
        let _keep = _send;
        let _ = conn.await;
    });
    H2 {
        ping,
        done,
        max_streams,
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let h = server(ConnectionLimits {
        handshake_timeout: SHORT,
        ..Default::default()
    })
    .await;
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    read_until_closed(&mut s).await;
    assert_eq!(h.grpc_listener_stats().handshake_timeouts, 1);
    // A client that does send its handshake is served.
    let mut c = connect(&h.endpoint()).await;
    c.status(api::HealthCheck::default()).await.unwrap();
}

#[tokio::test]
async fn a_preface_sent_byte_by_byte_is_cut_off() {
    let h = server(ConnectionLimits {
        handshake_timeout: SHORT,
        ..Default::default()
    })
    .await;
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    let slowloris = async {
        for b in PREFACE.iter().chain(&SETTINGS) {
            if s.write_all(&[*b]).await.is_err() {
                return;
            }
            // The attack itself: 33 bytes at 40 ms each take 1.3 s, 5x the deadline.
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    };
    bounded(slowloris).await;
    read_until_closed(&mut s).await;
    assert_eq!(h.grpc_listener_stats().handshake_timeouts, 1);
}

#[tokio::test]
async fn idle_connections_are_closed_but_a_quiet_stream_keeps_its_own() {
    let h = server(ConnectionLimits {
        idle_timeout: Some(SHORT),
        ..Default::default()
    })
    .await;
    let mut sub_client = connect(&h.endpoint()).await;
    create_topic(&mut sub_client, "quiet").await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(api::SubscribeRequest {
        embed: Some(subscribe_request::Embed::Subscription(api::Subscription {
            client_id: "quiet-sub".into(),
            topics: vec!["quiet".into()],
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut sub = bounded(sub_client.subscribe(ReceiverStream::new(rx)))
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        bounded(sub.message()).await.unwrap().unwrap().embed,
        Some(subscribe_reply::Embed::Ready(_))
    ));

    // A connection with no request at all is closed once idle_timeout has passed...
    let idle = h2_connect(&h).await;
    bounded(idle.done).await.unwrap();
    assert!(h.grpc_listener_stats().idle_closed >= 1);

    // ...while the subscription, quiet all that time, still delivers.
    let mut pub_client = connect(&h.endpoint()).await;
    let p = publish(&mut pub_client, &[]).await;
    let topic = p.ready.topics["quiet"].clone();
    p.send(wrapper(&topic, 1, b"still here")).await;
    match bounded(sub.message()).await.unwrap().unwrap().embed {
        Some(subscribe_reply::Embed::Event(e)) => assert_eq!(e.topic_id, topic),
        other => panic!("expected the event, got {other:?}"),
    }
    drop(tx);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let h = server(ConnectionLimits {
        max_connections: 2,
        ..Default::default()
    })
    .await;
    let first = h2_connect(&h).await;
    let mut second = h2_connect(&h).await;
    let mut extra = TcpStream::connect(h.local_addr()).await.unwrap();
    assert!(
        read_until_closed(&mut extra).await.is_empty(),
        "the refused connection gets no SETTINGS"
    );
    assert_eq!(h.grpc_listener_stats().refused, 1);
    // The others are still served.
    bounded(second.ping.ping(h2::Ping::opaque())).await.unwrap();
    // Once one goes away, its slot is free again.
    first.done.abort();
    drop(first.ping);
    wait_until(|| h.grpc_listener_stats().open < 2).await;
    let mut c = connect(&h.endpoint()).await;
    c.status(api::HealthCheck::default()).await.unwrap();
}

#[tokio::test]
async fn the_stream_limit_is_advertised() {
    let h = server(ConnectionLimits {
        max_concurrent_streams: 3,
        ..Default::default()
    })
    .await;
    assert_eq!(h2_connect(&h).await.max_streams, 3);
}

#[tokio::test]
async fn a_peer_that_ignores_keepalive_pings_is_dropped() {
    let h = server(ConnectionLimits {
        keepalive_interval: Some(SHORT),
        keepalive_timeout: SHORT,
        idle_timeout: None,
        ..Default::default()
    })
    .await;
    let mut s = TcpStream::connect(h.local_addr()).await.unwrap();
    s.write_all(PREFACE).await.unwrap();
    s.write_all(&SETTINGS).await.unwrap();
    s.write_all(&SETTINGS_ACK).await.unwrap();
    // Read frames until the server's PING (type 6, no ACK flag); never answer it.
    let mut saw_ping = false;
    let read_frames = async {
        loop {
            let mut header = [0u8; 9];
            if s.read_exact(&mut header).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
            let mut payload = vec![0u8; len];
            if s.read_exact(&mut payload).await.is_err() {
                return;
            }
            saw_ping |= header[3] == 6 && header[4] & 1 == 0;
        }
    };
    bounded(read_frames).await;
    assert!(
        saw_ping,
        "the server closed the connection without pinging it"
    );
}
