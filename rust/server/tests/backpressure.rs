//! Slow subscribers: they push back on the publishers of their own topics without
//! losing events, never on publishers of other topics, and are evicted with
//! `RESOURCE_EXHAUSTED` (logged and counted) once they fall too far behind, whether they
//! read a little or nothing at all.

mod common;

use std::time::Duration;

use common::*;
use ensign_proto::api;
use prost::Message;
use tonic::Code;

/// A subscriber on its own connection with a small HTTP/2 window, so that the server's
/// queue for it fills as soon as it stops reading.
async fn small_window_subscriber(endpoint: &str, topics: &[&str]) -> Sub {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .unwrap()
        .initial_stream_window_size(Some(65_535))
        .connect()
        .await
        .unwrap();
    let mut sc = api::ensign_client::EnsignClient::new(ch);
    try_subscribe(&mut sc, subscription(topics)).await.unwrap()
}

/// Publishes `n` events of 100 B to `topic` on a new stream of `c`, half-closes, and
/// returns the task counting its acks.
async fn publish_n(c: &mut Client, topic: &bytes::Bytes, n: u64) -> tokio::task::JoinHandle<u64> {
    let mut p = publish(c, &[]).await;
    let tx = p.tx.clone();
    let t = topic.clone();
    tokio::spawn(async move {
        for i in 0..n {
            if tx
                .send(event_req(wrapper(&t, i, &[b'x'; 100])))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    p.half_close();
    tokio::spawn(async move {
        let mut acks = 0;
        while let Ok(Some(r)) = p.rx.message().await {
            if let Some(api::publisher_reply::Embed::Ack(_)) = r.embed {
                acks += 1;
            }
        }
        acks
    })
}

/// Drains a subscription until its error.
async fn error_of(s: &mut Sub) -> tonic::Status {
    loop {
        match bounded(s.rx.message()).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream ended without an error"),
            Err(e) => return e,
        }
    }
}

#[tokio::test]
async fn a_stuck_subscriber_does_not_hold_back_other_topics() {
    let h = start(ensign_server::ServerConfig {
        subscriber_buffer: 64,
        subscriber_max_lag: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let a = create_topic(&mut c, "a").await;
    let b = create_topic(&mut c, "b").await;
    // A subscriber of A that never reads, and a publisher filling it.
    let _stuck = small_window_subscriber(&h.endpoint(), &["a"]).await;
    let a_acks = publish_n(&mut c, &a, 50_000).await;
    // Meanwhile every event published to B is acked (before the fix: none of them).
    let b_acks = publish_n(&mut c, &b, 20_000).await;
    assert_eq!(bounded(b_acks).await.unwrap(), 20_000);
    assert!(
        !a_acks.is_finished(),
        "A's publisher waits for A's subscriber"
    );
    a_acks.abort();
}

#[tokio::test]
async fn a_subscriber_that_reads_too_slowly_is_evicted_logged_and_counted() {
    let (logs, _guard) = capture_logs();
    let h = start(ensign_server::ServerConfig {
        subscriber_buffer: 64,
        subscriber_max_lag: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let topic = create_topic(&mut c, "slow").await;
    let mut s = small_window_subscriber(&h.endpoint(), &["slow"]).await;
    let acks = publish_n(&mut c, &topic, 20_000).await;
    // It keeps reading, one event every 20 ms (a slow consumer, not a stopped one:
    // the old stall check never fired for it).
    let status = loop {
        match bounded(s.rx.message()).await {
            Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Ok(None) => panic!("stream ended without an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status.message().contains("fell behind"),
        "{}",
        status.message()
    );
    assert_eq!(
        bounded(acks).await.unwrap(),
        20_000,
        "its publisher is released"
    );
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("evicting a subscriber that fell behind"))
        .unwrap_or_else(|| panic!("eviction logged: {text}"));
    assert!(
        line.contains("WARN") && line.contains("ensign_server::fanout"),
        "{line}"
    );
    assert!(h
        .metrics_text()
        .contains("ensign_subscriber_evictions_total 1"));
}

#[tokio::test]
async fn slow_subscriber_pushes_back_without_loss() {
    let h = start(ensign_server::ServerConfig {
        subscriber_buffer: 256,
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let topic = create_topic(&mut c, "firehose").await;
    let mut s = try_subscribe(&mut c, subscription(&[])).await.unwrap();
    let mut p = publish(&mut c, &[]).await;
    let n = 20_000u64;
    let tx = p.tx.clone();
    let t = topic.clone();
    let sender = tokio::spawn(async move {
        for i in 0..n {
            tx.send(event_req(wrapper(&t, i, &i.to_be_bytes())))
                .await
                .unwrap();
        }
    });
    p.half_close();
    let acks = tokio::spawn(async move {
        let mut acks = 0u64;
        while let Some(r) = bounded(p.rx.message()).await.unwrap() {
            if let Some(api::publisher_reply::Embed::Ack(_)) = r.embed {
                acks += 1;
            }
        }
        acks
    });
    for i in 0..n {
        let e = s.event().await;
        let ev = api::Event::decode(e.event).unwrap();
        assert_eq!(
            ev.data[..],
            i.to_be_bytes(),
            "event {i} in order, none lost"
        );
        if i % 5000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(acks.await.unwrap(), n);
    sender.await.unwrap();
}

#[tokio::test]
async fn abandoned_subscriber_is_closed_not_waited_for_forever() {
    let h = start(ensign_server::ServerConfig {
        subscriber_buffer: 64,
        subscriber_max_lag: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let topic = create_topic(&mut c, "firehose").await;
    let mut s = small_window_subscriber(&h.endpoint(), &[]).await;
    let acks = publish_n(&mut c, &topic, 5_000).await;
    assert_eq!(
        bounded(acks).await.unwrap(),
        5_000,
        "publishers resume once the stalled subscriber is closed"
    );
    // What it had buffered is still delivered, then an explicit error, never a gap.
    let err = error_of(&mut s).await;
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(err.message().contains("fell behind"), "{}", err.message());
}
