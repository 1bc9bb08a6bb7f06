//! Subscribe: handshake, live delivery by name, id or hash, RLIDs, acks/nacks accepted,
//! half-close keeps delivering, slow subscribers push back instead of losing events.

mod common;

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, subscribe_reply::Embed, subscribe_request};
use ensign_proto::rlid::Rlid;
use ensign_proto::topic_hash::topic_name_hash_str;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Streaming};
use ulid::Ulid;

struct Sub {
    tx: mpsc::Sender<api::SubscribeRequest>,
    rx: Streaming<api::SubscribeReply>,
    ready: api::StreamReady,
}

fn subscription(topics: &[&str]) -> api::SubscribeRequest {
    api::SubscribeRequest {
        embed: Some(subscribe_request::Embed::Subscription(api::Subscription {
            client_id: "sub-client".into(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })),
    }
}

async fn try_subscribe(c: &mut Client, first: api::SubscribeRequest) -> Result<Sub, tonic::Status> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(first).await.unwrap();
    let mut rx = bounded(c.subscribe(ReceiverStream::new(rx)))
        .await?
        .into_inner();
    match bounded(rx.message()).await?.and_then(|r| r.embed) {
        Some(Embed::Ready(ready)) => Ok(Sub { tx, rx, ready }),
        other => panic!("expected ready, got {other:?}"),
    }
}

impl Sub {
    async fn event(&mut self) -> api::EventWrapper {
        match bounded(self.rx.message())
            .await
            .unwrap()
            .unwrap()
            .embed
            .unwrap()
        {
            Embed::Event(e) => e,
            other => panic!("expected event, got {other:?}"),
        }
    }
}

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
        subscriber_stall_timeout: std::time::Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let topic = create_topic(&mut c, "firehose").await;
    // A subscriber on its own connection with a small HTTP/2 window that never reads.
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{}", h.endpoint()))
        .unwrap()
        .initial_stream_window_size(Some(65_535))
        .connect()
        .await
        .unwrap();
    let mut sc = api::ensign_client::EnsignClient::new(ch);
    let mut s = try_subscribe(&mut sc, subscription(&[])).await.unwrap();
    let mut p = publish(&mut c, &[]).await;
    let n = 5_000u64;
    let tx = p.tx.clone();
    let sender = tokio::spawn(async move {
        for i in 0..n {
            tx.send(event_req(wrapper(&topic, i, &[b'x'; 100])))
                .await
                .unwrap();
        }
    });
    p.half_close();
    let mut acks = 0;
    while let Some(r) = bounded(p.rx.message()).await.unwrap() {
        if let Some(api::publisher_reply::Embed::Ack(_)) = r.embed {
            acks += 1;
        }
    }
    assert_eq!(
        acks, n,
        "publishers resume once the stalled subscriber is closed"
    );
    sender.await.unwrap();
    // What it had buffered is still delivered, then an explicit error, never a gap.
    let err = loop {
        match bounded(s.rx.message()).await {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream ended without an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), Code::ResourceExhausted);
}
