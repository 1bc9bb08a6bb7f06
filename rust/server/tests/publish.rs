//! Publish: handshake, acks, nacks in the real order and codes, CloseStream only after
//! the client half-closes, backpressure without loss.

mod common;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, nack::Code, publisher_reply::Embed};
use ensign_proto::topic_hash::topic_name_hash_str;
use tonic::Code as Status;
use ulid::Ulid;

#[tokio::test]
async fn no_topics_is_failed_precondition() {
    let (_h, mut c) = memory_server().await;
    let err = try_publish(&mut c, Some(open_req(&[])))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Status::FailedPrecondition);
    assert_eq!(err.message(), "no topics available");
}

#[tokio::test]
async fn first_message_must_be_open_stream() {
    let (_h, mut c) = memory_server().await;
    let topic = create_topic(&mut c, "orders").await;
    let err = try_publish(&mut c, Some(event_req(wrapper(&topic, 1, b"x"))))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Status::FailedPrecondition);
    assert_eq!(
        err.message(),
        "an open stream message must be sent immediately after opening the stream"
    );
}

#[tokio::test]
async fn acks_echo_local_ids_then_close_stream() {
    let (_h, mut c) = memory_server().await;
    let a = create_topic(&mut c, "orders").await;
    let b = create_topic(&mut c, "payments").await;
    let mut p = publish(&mut c, &[]).await;
    assert_eq!(p.ready.client_id, "test-client");
    assert_eq!(p.ready.topics.len(), 2);
    assert_eq!(p.ready.topics["orders"], a);
    assert_eq!(p.ready.topics["payments"], b);
    for i in 0..100u64 {
        let t = if i % 2 == 0 { &a } else { &b };
        p.send(wrapper(t, i, format!("event {i}").as_bytes())).await;
    }
    p.half_close();
    for i in 0..100u64 {
        match p.next().await {
            Embed::Ack(ack) => {
                assert_eq!(ack.id, local_id(i));
                assert!(ack.committed.unwrap().seconds > 1_600_000_000);
            }
            other => panic!("expected ack {i}, got {other:?}"),
        }
    }
    match p.next().await {
        Embed::CloseStream(c) => {
            assert_eq!((c.events, c.topics, c.acks, c.nacks), (100, 2, 100, 0));
        }
        other => panic!("expected close stream, got {other:?}"),
    }
    assert!(bounded(p.rx.message()).await.unwrap().is_none(), "then OK");
}

#[tokio::test]
async fn validation_nacks_keep_the_stream_alive() {
    let (_h, mut c) = memory_server().await;
    let topic = create_topic(&mut c, "orders").await;
    let mut p = publish(&mut c, &[]).await;
    // Created after the stream opened: not in its snapshot (semantics §4.1).
    let late = create_topic(&mut c, "late").await;
    let mut no_topic = wrapper(&topic, 1, b"x");
    no_topic.topic_id = Bytes::new();
    let mut short = wrapper(&topic, 2, b"x");
    short.topic_id = Bytes::from_static(b"short");
    let mut huge = wrapper(&topic, 5, b"");
    huge.event = Bytes::from(vec![7u8; 5_243_001]);
    let mut at_limit = wrapper(&topic, 6, b"");
    at_limit.event = Bytes::from(vec![7u8; 5_243_000]);
    let unknown = wrapper(&Bytes::copy_from_slice(&Ulid::new().to_bytes()), 3, b"x");
    for w in [
        no_topic,
        short,
        unknown,
        wrapper(&late, 4, b"x"),
        huge,
        at_limit,
        wrapper(&topic, 7, b"ok"),
    ] {
        p.send(w).await;
    }
    let expect = [
        (1, Code::TopicUnknown, "no topic id specified"),
        (2, Code::TopicUnknown, "invalid topic id"),
        (3, Code::TopicUnknown, "topic unknown or unhandled"),
        (4, Code::TopicUnknown, "topic unknown or unhandled"),
        (
            5,
            Code::MaxEventSizeExceeded,
            "maximum event size has been exceeded",
        ),
    ];
    for (id, code, msg) in expect {
        match p.next().await {
            Embed::Nack(n) => {
                assert_eq!(n.id, local_id(id));
                assert_eq!(n.code, code as i32);
                assert_eq!(n.error, msg);
            }
            other => panic!("expected nack {id}, got {other:?}"),
        }
    }
    for id in [6, 7] {
        match p.next().await {
            Embed::Ack(a) => assert_eq!(a.id, local_id(id)),
            other => panic!("expected ack {id}, got {other:?}"),
        }
    }
    p.half_close();
    match p.next().await {
        Embed::CloseStream(c) => assert_eq!((c.events, c.topics, c.acks, c.nacks), (2, 1, 2, 5)),
        other => panic!("expected close stream, got {other:?}"),
    }
}

#[tokio::test]
async fn second_open_stream_aborts() {
    let (_h, mut c) = memory_server().await;
    let topic = create_topic(&mut c, "orders").await;
    let mut p = publish(&mut c, &[]).await;
    p.send(wrapper(&topic, 1, b"x")).await;
    p.tx.send(open_req(&[])).await.unwrap();
    assert!(
        matches!(p.next().await, Embed::Ack(_)),
        "events before the error are answered"
    );
    let err = bounded(p.rx.message()).await.unwrap_err();
    assert_eq!(err.code(), Status::Aborted);
    assert_eq!(err.message(), "cannot send multiple open stream messages");
}

#[tokio::test]
async fn open_stream_topics_filter_by_name_id_or_hash() {
    let (_h, mut c) = memory_server().await;
    let a = create_topic(&mut c, "alpha").await;
    let b = create_topic(&mut c, "beta").await;
    let _g = create_topic(&mut c, "gamma").await;
    let b_id = Ulid::from_bytes(b[..].try_into().unwrap()).to_string();
    let hash = topic_name_hash_str("gamma");
    let p = publish(&mut c, &["alpha", &b_id, &hash, "missing"]).await;
    assert_eq!(p.ready.topics.len(), 3);
    assert_eq!(p.ready.topics["alpha"], a);
    let err = try_publish(&mut c, Some(open_req(&["missing"])))
        .await
        .err()
        .unwrap();
    assert_eq!(err.code(), Status::FailedPrecondition);
    assert_eq!(err.message(), "no topics available");
}

#[tokio::test]
async fn many_events_without_reading_acks_are_all_acked() {
    let (_h, mut c) = memory_server().await;
    let topic = create_topic(&mut c, "firehose").await;
    let mut p = publish(&mut c, &[]).await;
    let n = 60_000u64;
    // The sender runs ahead; the server stops reading while acks are not read, and
    // everything is acknowledged once they are.
    let tx = p.tx.clone();
    let t = topic.clone();
    let sender = tokio::spawn(async move {
        for i in 0..n {
            tx.send(event_req(wrapper(&t, i, &[b'x'; 100])))
                .await
                .unwrap();
        }
    });
    p.half_close();
    let mut acks = 0;
    loop {
        match p.next().await {
            Embed::Ack(a) => {
                assert_eq!(a.id, local_id(acks));
                acks += 1;
            }
            Embed::CloseStream(c) => {
                assert_eq!(c.acks, n);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(acks, n);
    sender.await.unwrap();
}

#[tokio::test]
async fn client_cancel_before_handshake_is_clean() {
    let (_h, mut c) = memory_server().await;
    create_topic(&mut c, "orders").await;
    let (tx, rx) = tokio::sync::mpsc::channel::<api::PublisherRequest>(1);
    drop(tx);
    let mut s = bounded(c.publish(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .await
        .unwrap()
        .into_inner();
    assert!(bounded(s.message()).await.unwrap().is_none());
}
