//! Subscribe: handshake, live delivery by name, id or hash, RLIDs, acks/nacks accepted,
//! half-close keeps delivering. Slow subscribers: `backpressure.rs`.

mod common;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, subscribe_request};
use ensign_proto::rlid::Rlid;
use ensign_proto::topic_hash::topic_name_hash_str;
use prost::Message;
use tokio::sync::mpsc;
use tonic::Code;
use ulid::Ulid;

#[tokio::test]
async fn handshake_errors() {
    let (_h, mut c) = memory_server().await;
    let err = try_subscribe(&mut c, subscription(&[]))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (err.code(), err.message()),
        (Code::FailedPrecondition, "no topics available")
    );
    create_topic(&mut c, "orders").await;
    let ack = api::SubscribeRequest {
        embed: Some(subscribe_request::Embed::Ack(api::Ack::default())),
    };
    let err = try_subscribe(&mut c, ack).await.err().unwrap();
    assert_eq!(err.message(), "must send subscription to initialize stream");
    let err = try_subscribe(&mut c, subscription(&["nope"]))
        .await
        .err()
        .unwrap();
    assert_eq!(
        (err.code(), err.message()),
        (Code::FailedPrecondition, "no topics available")
    );
}

#[tokio::test]
async fn live_delivery_on_chosen_topics() {
    let (_h, mut c) = memory_server().await;
    let a = create_topic(&mut c, "alpha").await;
    let b = create_topic(&mut c, "beta").await;
    let g = create_topic(&mut c, "gamma").await;
    let b_id = Ulid::from_bytes(b[..].try_into().unwrap()).to_string();
    let mut s = try_subscribe(&mut c, subscription(&["alpha", &b_id]))
        .await
        .unwrap();
    assert_eq!(s.ready.client_id, "sub-client");
    assert_eq!(s.ready.topics.len(), 2);
    let mut by_hash = try_subscribe(&mut c, subscription(&[&topic_name_hash_str("gamma")]))
        .await
        .unwrap();

    let mut p = publish(&mut c, &[]).await;
    for (i, t) in [&a, &g, &b, &a].into_iter().enumerate() {
        p.send(wrapper(t, i as u64, format!("e{i}").as_bytes()))
            .await;
    }
    p.half_close();
    let mut last: Option<Rlid> = None;
    for (want_topic, want_data) in [(&a, "e0"), (&b, "e2"), (&a, "e3")] {
        let e = s.event().await;
        assert_eq!(&e.topic_id, want_topic);
        let rlid = Rlid::from_slice(&e.id).expect("10-byte RLID");
        assert!(last.is_none_or(|l| rlid > l), "increasing ids");
        last = Some(rlid);
        assert!(e.local_id.is_empty());
        assert!(e.committed.is_some());
        let pb = e.publisher.unwrap();
        assert_eq!(pb.client_id, "test-client");
        assert!(pb.ipaddr.starts_with("127.0.0.1:"));
        let ev = api::Event::decode(e.event).unwrap();
        assert_eq!(ev.data, Bytes::from(want_data));
    }
    let e = by_hash.event().await;
    assert_eq!(e.topic_id, g);
    // Acks and nacks are accepted (and only counted).
    s.tx.send(api::SubscribeRequest {
        embed: Some(subscribe_request::Embed::Ack(api::Ack {
            id: Bytes::from(vec![0; 10]),
            committed: None,
        })),
    })
    .await
    .unwrap();
    s.tx.send(api::SubscribeRequest {
        embed: Some(subscribe_request::Embed::Nack(api::Nack {
            id: Bytes::from(vec![0; 10]),
            code: 100,
            error: String::new(),
        })),
    })
    .await
    .unwrap();
    // A half-closed subscription keeps delivering (semantics §5).
    s.tx = mpsc::channel(1).0;
    let p = publish(&mut c, &[]).await;
    p.send(wrapper(&a, 9, b"after half-close")).await;
    let e = s.event().await;
    assert_eq!(
        api::Event::decode(e.event).unwrap().data,
        Bytes::from_static(b"after half-close")
    );
}
