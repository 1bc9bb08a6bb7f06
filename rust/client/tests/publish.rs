//! The publisher against the local server: every event ends in exactly one outcome,
//! topics newer than the stream are found, the window pushes back, flush and close.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ensign_client::publisher::{OutcomeSink, CODE_UNPROCESSED};
use ensign_client::Error;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_acked_exactly_once() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    c.create_topic("orders").await.unwrap();
    let p = c.publisher();
    let topic = p.resolve("orders").await.unwrap();
    let payloads = Payloads::new(20_000, 100);
    let rec = Arc::new(Recorder::default());
    let sink: Arc<dyn OutcomeSink> = rec.clone();
    publish_all(p, &topic, &payloads.fields(), &sink).await;
    tokio::time::timeout(WAIT, p.flush())
        .await
        .unwrap()
        .unwrap();
    let mut seen = rec.0.lock().clone();
    seen.sort();
    assert_eq!(seen.len(), 20_000);
    for (i, (idx, acked, _)) in seen.iter().enumerate() {
        assert_eq!(*idx as usize, i);
        assert!(acked);
    }
    assert_eq!(p.pending(), 0);
    p.close(WAIT).await.unwrap();
    srv.shutdown().await;
}

#[tokio::test]
async fn topics_are_resolved_by_name_id_and_hash() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    let t = c.create_topic("testing.topics.topica").await.unwrap();
    let p = c.publisher();
    let by_name = p.resolve("testing.topics.topica").await.unwrap();
    assert_eq!(&by_name[..], &t.id[..]);
    let ulid = ulid::Ulid::from_bytes(by_name).to_string();
    assert_eq!(p.resolve(&ulid).await.unwrap(), by_name);
    assert_eq!(p.resolve("IdTcxHgZmlLM8oBj_YytLw").await.unwrap(), by_name);
    match p.resolve("nope").await {
        Err(Error::UnknownTopic(t)) => assert_eq!(t, "nope"),
        other => panic!("expected UnknownTopic, got {other:?}"),
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn a_topic_created_after_the_stream_opened_is_published_to() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    c.create_topic("first").await.unwrap();
    let p = c.publisher();
    p.resolve("first").await.unwrap();
    // The stream's snapshot predates this topic (the real server would nack it).
    let later = c.create_topic("later").await.unwrap();
    let id: [u8; 16] = later.id[..].try_into().unwrap();
    let payloads = Payloads::new(10, 10);
    let (count, sink) = counter();
    assert_eq!(
        p.try_publish(&id, &payloads.fields(), &sink, 0).unwrap(),
        ensign_client::Admit::UnknownTopic
    );
    assert_eq!(
        p.resolve(&ulid::Ulid::from_bytes(id).to_string())
            .await
            .unwrap(),
        id
    );
    publish_all(p, &id, &payloads.fields(), &sink).await;
    tokio::time::timeout(WAIT, count.wait_for(10))
        .await
        .unwrap();
    assert_eq!(count.acked(), 10);
    srv.shutdown().await;
}

#[tokio::test]
async fn the_window_makes_publishers_wait() {
    let srv = server().await;
    let c = client_with(&srv.endpoint(), |cfg| cfg.max_inflight_events = 64);
    c.create_topic("t").await.unwrap();
    let p = c.publisher();
    let topic = p.resolve("t").await.unwrap();
    let payloads = Payloads::new(1000, 10);
    let (count, sink) = counter();
    match p.try_publish(&topic, &payloads.fields(), &sink, 0).unwrap() {
        ensign_client::Admit::Accepted(n) => assert_eq!(n, 64),
        other => panic!("{other:?}"),
    }
    assert!(p.pending() <= 64);
    publish_all(p, &topic, &payloads.fields()[64..], &sink).await;
    tokio::time::timeout(WAIT, count.wait_for(1000))
        .await
        .unwrap();
    assert_eq!(count.acked(), 1000);
    srv.shutdown().await;
}

#[tokio::test]
async fn close_flushes_then_refuses_new_events() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    c.create_topic("t").await.unwrap();
    let p = c.publisher();
    let topic = p.resolve("t").await.unwrap();
    let payloads = Payloads::new(500, 10);
    let (count, sink) = counter();
    publish_all(p, &topic, &payloads.fields(), &sink).await;
    p.close(WAIT).await.unwrap();
    assert_eq!(count.acked(), 500);
    assert!(matches!(
        p.try_publish(&topic, &payloads.fields(), &sink, 0),
        Err(Error::Closed)
    ));
    srv.shutdown().await;
}

#[tokio::test]
async fn closing_while_the_server_is_gone_fails_pending_events() {
    let srv = server().await;
    let endpoint = srv.endpoint();
    let c = client_with(&endpoint, |cfg| {
        cfg.reconnect_tick = Duration::from_millis(20)
    });
    c.create_topic("t").await.unwrap();
    let p = c.publisher();
    let topic = p.resolve("t").await.unwrap();
    srv.shutdown().await;
    let payloads = Payloads::new(100, 10);
    let rec = Arc::new(Recorder::default());
    let sink: Arc<dyn OutcomeSink> = rec.clone();
    publish_all(p, &topic, &payloads.fields(), &sink).await;
    let _ = p.close(Duration::from_millis(200)).await;
    let seen = rec.0.lock().clone();
    assert_eq!(seen.len(), 100);
    assert!(seen
        .iter()
        .all(|(_, acked, code)| !acked && *code == CODE_UNPROCESSED));
}

#[tokio::test]
async fn an_event_too_large_for_the_server_is_nacked_not_sent() {
    let srv = server().await;
    let c = client_with(&srv.endpoint(), |cfg| cfg.max_message_bytes = 1000);
    c.create_topic("t").await.unwrap();
    let p = c.publisher();
    let topic = p.resolve("t").await.unwrap();
    let (small, big) = (vec![1u8; 10], vec![2u8; 5000]);
    let fields: Vec<ensign_client::EventFields<'_>> = [&small, &big, &small]
        .into_iter()
        .map(|data| ensign_client::EventFields {
            data,
            ..Default::default()
        })
        .collect();
    let rec = Arc::new(Recorder::default());
    let sink: Arc<dyn OutcomeSink> = rec.clone();
    publish_all(p, &topic, &fields, &sink).await;
    tokio::time::timeout(WAIT, p.flush())
        .await
        .unwrap()
        .unwrap();
    let mut seen = rec.0.lock().clone();
    seen.sort();
    let too_large = ensign_client::publisher::CODE_MAX_EVENT_SIZE;
    assert_eq!(
        seen,
        vec![(0, true, 0), (1, false, too_large), (2, true, 0)]
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn a_closed_client_drops_its_channel() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    c.create_topic("t").await.unwrap();
    c.close(WAIT).await.unwrap();
    assert!(matches!(c.status().await, Err(Error::Closed)));
    assert!(matches!(c.create_topic("u").await, Err(Error::Closed)));
    srv.shutdown().await;
}
