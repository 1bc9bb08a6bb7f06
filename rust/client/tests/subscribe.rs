//! Subscriptions against the local server: live delivery by name, id and name hash,
//! received fields, unknown topics, backpressure without loss, undeliverable payloads
//! (K9), and many concurrent subscriptions on one client. Reconnects, closing and
//! permissions are in `subscribe_lifecycle.rs`. Every wait is bounded.

mod common;
mod subscribe_support;

use std::sync::Arc;

use common::*;
use ensign_client::subscriber::Pop;
use ensign_client::{Client, Error, SubscribeOptions, Subscription, TopicId};
use ensign_proto::api::{self, publisher_request, PublisherRequest};
use prost::Message;
use subscribe_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_events_arrive_by_name_id_and_hash() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    let topic = c.create_topic("orders").await.unwrap();
    let id: TopicId = topic.id[..].try_into().unwrap();
    let ulid = ulid::Ulid::from_bytes(id).to_string();
    let hash = ensign_proto::topic_hash::topic_name_hash_str("orders");
    for name in ["orders", ulid.as_str(), hash.as_str()] {
        let sub = c.subscribe(opts(&[name])).unwrap();
        let topics = tokio::time::timeout(WAIT, sub.ready())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(topics.as_slice(), &[("orders".to_string(), id)], "{name}");
        publish_n(&c, &id, 50, 20).await;
        let got = take(&sub, 50).await;
        let payloads = Payloads::new(50, 20);
        for (r, want) in got.iter().zip(&payloads.data) {
            assert_eq!(&r.data[..], &want[..], "in order, unchanged");
            assert_eq!(r.id.len(), 10, "an RLID");
            assert_eq!(&r.topic_id[..], &id);
            assert!(r.committed_ns().is_some_and(|ns| ns > 0));
            assert_eq!(r.mimetype, 50);
            assert_eq!(r.type_name(), "Test");
            assert_eq!(r.type_version, (1, 0, 0));
            assert_eq!(r.created_ns(), 1_700_000_000_000_000_005);
        }
        assert!(got.windows(2).all(|w| w[0].id < w[1].id), "RLIDs increase");
        sub.ack(&got[0].id);
        sub.nack(&got[1].id, 103);
        sub.close().await;
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn unknown_topics_end_the_subscription() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    c.create_topic("known").await.unwrap();
    let sub = c.subscribe(opts(&["nope", "nada"])).unwrap();
    let err = tokio::time::timeout(WAIT, sub.ready())
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTopic(t) if t == "nope, nada"),
        "{err}"
    );
    let err = sub.next_batch(10).await.unwrap_err();
    assert!(matches!(err, Error::UnknownTopic(_)), "sticky: {err}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_loses_nothing() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    let id: TopicId = c.create_topic("t").await.unwrap().id[..]
        .try_into()
        .unwrap();
    let sub = c
        .subscribe(SubscribeOptions {
            buffer_events: 16,
            ..opts(&["t"])
        })
        .unwrap();
    tokio::time::timeout(WAIT, sub.ready())
        .await
        .unwrap()
        .unwrap();
    let n = 5_000;
    let publisher = {
        let c = c.clone();
        tokio::spawn(async move { publish_n(&c, &id, n, 100).await })
    };
    // Consume a few at a time, letting the runtime run in between: the buffer (16)
    // is far smaller than what is published.
    let mut got = Vec::new();
    tokio::time::timeout(WAIT, async {
        while got.len() < n {
            let mut out = Vec::new();
            match sub.pop(3, &mut out).unwrap() {
                Pop::Events(k) => assert!(k <= 3),
                Pop::Empty => sub.wait().await,
                Pop::Ended => panic!("ended"),
            }
            got.extend(out);
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every event arrives");
    let payloads = Payloads::new(n, 100);
    assert!(got
        .iter()
        .zip(&payloads.data)
        .all(|(r, d)| r.data[..] == d[..]));
    publisher.await.unwrap();
    srv.shutdown().await;
}

/// Publishes raw wrappers (bypassing the SDK's encoder) and half-closes.
async fn publish_raw(c: &Client, topic: &TopicId, payloads: Vec<Vec<u8>>) {
    let mut raw = c.transport().ensign().unwrap();
    let mut reqs = vec![PublisherRequest {
        embed: Some(publisher_request::Embed::OpenStream(Default::default())),
    }];
    for (i, p) in payloads.into_iter().enumerate() {
        reqs.push(PublisherRequest {
            embed: Some(publisher_request::Embed::Event(Box::new(
                api::EventWrapper {
                    topic_id: topic.to_vec().into(),
                    local_id: ulid::Ulid::from_parts(i as u64, 1)
                        .to_bytes()
                        .to_vec()
                        .into(),
                    event: p.into(),
                    ..Default::default()
                },
            ))),
        });
    }
    let mut replies = raw
        .publish(tokio_stream::iter(reqs))
        .await
        .unwrap()
        .into_inner();
    while let Some(r) = tokio::time::timeout(WAIT, replies.message())
        .await
        .unwrap()
        .unwrap()
    {
        drop(r);
    }
}

#[tokio::test]
async fn empty_payloads_arrive_and_garbled_ones_are_skipped() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    let id: TopicId = c.create_topic("t").await.unwrap().id[..]
        .try_into()
        .unwrap();
    let sub = c.subscribe(opts(&["t"])).unwrap();
    tokio::time::timeout(WAIT, sub.ready())
        .await
        .unwrap()
        .unwrap();
    let good = api::Event {
        data: b"after".to_vec().into(),
        ..Default::default()
    };
    let empty_data = api::Event {
        mimetype: 1,
        ..Default::default()
    };
    publish_raw(
        &c,
        &id,
        vec![
            Vec::new(),
            b"\xff\xff\xff".to_vec(),
            empty_data.encode_to_vec(),
            good.encode_to_vec(),
        ],
    )
    .await;
    let got = take(&sub, 3).await;
    assert!(got[0].data.is_empty(), "empty event bytes: delivered");
    assert!(got[1].data.is_empty() && got[1].mimetype == 1);
    assert_eq!(&got[2].data[..], b"after", "the stream goes on");
    assert_eq!(sub.skipped(), 1);
    let warnings = sub.take_warnings();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("not a valid Event"), "{warnings:?}");
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_subscriptions_and_publishers_share_one_client() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    let a: TopicId = c.create_topic("a").await.unwrap().id[..]
        .try_into()
        .unwrap();
    let b: TopicId = c.create_topic("b").await.unwrap().id[..]
        .try_into()
        .unwrap();
    // More than pyensign's 10 concurrent streams (K3).
    let subs: Vec<Subscription> = (0..40)
        .map(|i| {
            c.subscribe(opts(if i % 2 == 0 { &["a"] } else { &["a", "b"] }))
                .unwrap()
        })
        .collect();
    for s in &subs {
        tokio::time::timeout(WAIT, s.ready())
            .await
            .unwrap()
            .unwrap();
    }
    let pubs: Vec<_> = [a, b]
        .into_iter()
        .map(|t| {
            let c = c.clone();
            tokio::spawn(async move { publish_n(&c, &t, 500, 50).await })
        })
        .collect();
    let subs = Arc::new(subs);
    let mut readers = Vec::new();
    for i in 0..subs.len() {
        let subs = subs.clone();
        readers.push(tokio::spawn(async move {
            let want = if i % 2 == 0 { 500 } else { 1000 };
            take(&subs[i], want).await.len()
        }));
    }
    for p in pubs {
        p.await.unwrap();
    }
    for r in readers {
        r.await.unwrap();
    }
    srv.shutdown().await;
}
