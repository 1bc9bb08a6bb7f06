//! Subscriptions against the local server: live delivery by name, id and name hash,
//! received fields, backpressure without loss, reconnects, errors that end a
//! subscription, undeliverable payloads (K9), cancel on close, and many concurrent
//! subscriptions on one client. Every wait is bounded.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ensign_client::subscriber::{Pop, Received};
use ensign_client::{Client, Error, SubscribeOptions, Subscription, TopicId};
use ensign_proto::api::{self, publisher_request, PublisherRequest};
use prost::Message;

fn opts(topics: &[&str]) -> SubscribeOptions {
    SubscribeOptions {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

/// Receives exactly `n` events (bounded by WAIT).
async fn take(sub: &Subscription, n: usize) -> Vec<Received> {
    let mut got = Vec::with_capacity(n);
    tokio::time::timeout(WAIT, async {
        while got.len() < n {
            let batch = sub.next_batch(n - got.len()).await.expect("events");
            assert!(!batch.is_empty(), "the subscription ended early");
            got.extend(batch);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} events arrived", got.len()));
    got
}

async fn publish_n(c: &Client, topic: &TopicId, n: usize, size: usize) {
    let name = ulid::Ulid::from_bytes(*topic).to_string();
    c.publisher()
        .resolve(&name)
        .await
        .expect("the publisher knows the topic");
    let payloads = Payloads::new(n, size);
    let (count, sink) = counter();
    publish_all(c.publisher(), topic, &payloads.fields(), &sink).await;
    tokio::time::timeout(WAIT, count.wait_for(n as u64))
        .await
        .expect("acked");
    assert_eq!(count.acked(), n as u64);
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_resumes_the_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let durable = |port: u16| {
        ensign_server::start(ensign_server::ServerConfig {
            port,
            data_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        })
    };
    let srv = durable(0).await.unwrap();
    let port = srv.local_addr().port();
    let c = client_with(&srv.endpoint(), |cfg| {
        cfg.reconnect_tick = Duration::from_millis(50)
    });
    let id: TopicId = c.create_topic("t").await.unwrap().id[..]
        .try_into()
        .unwrap();
    let sub = c.subscribe(opts(&["t"])).unwrap();
    tokio::time::timeout(WAIT, sub.ready())
        .await
        .unwrap()
        .unwrap();
    publish_n(&c, &id, 10, 10).await;
    take(&sub, 10).await;

    srv.shutdown().await;
    // A stream opened while the old server was shutting down may have completed its
    // handshake there; one completed from now on is with the new server.
    let seen = sub.connections();
    let srv = durable(port).await.unwrap();
    tokio::time::timeout(WAIT, sub.wait_connected(seen + 1))
        .await
        .unwrap()
        .unwrap();
    publish_n(&c, &id, 20, 10).await;
    let got = take(&sub, 20).await;
    assert_eq!(&got[0].data[..], &Payloads::new(1, 10).data[0][..]);
    let mut out = Vec::new();
    assert_eq!(sub.pop(10, &mut out).unwrap(), Pop::Empty, "nothing more");
    srv.shutdown().await;
}

#[tokio::test]
async fn the_reconnect_timeout_ends_the_subscription() {
    let srv = server().await;
    let c = client_with(&srv.endpoint(), |cfg| {
        cfg.reconnect_tick = Duration::from_millis(20);
        cfg.reconnect_timeout = Duration::from_millis(300);
    });
    c.create_topic("t").await.unwrap();
    let sub = c.subscribe(opts(&["t"])).unwrap();
    tokio::time::timeout(WAIT, sub.ready())
        .await
        .unwrap()
        .unwrap();
    srv.shutdown().await;
    let err = tokio::time::timeout(WAIT, sub.next_batch(10))
        .await
        .expect("ends in time")
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout(m) if m.contains("reconnect timeout")),
        "{err}"
    );
}

/// Publishes raw wrappers (bypassing the SDK's encoder) and half-closes.
async fn publish_raw(c: &Client, topic: &TopicId, payloads: Vec<Vec<u8>>) {
    let mut raw = c.transport().ensign().unwrap();
    let mut reqs = vec![PublisherRequest {
        embed: Some(publisher_request::Embed::OpenStream(Default::default())),
    }];
    for (i, p) in payloads.into_iter().enumerate() {
        reqs.push(PublisherRequest {
            embed: Some(publisher_request::Embed::Event(api::EventWrapper {
                topic_id: topic.to_vec().into(),
                local_id: ulid::Ulid::from_parts(i as u64, 1)
                    .to_bytes()
                    .to_vec()
                    .into(),
                event: p.into(),
                ..Default::default()
            })),
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
async fn closing_cancels_the_stream_on_the_server() {
    // A subscription the server still knew about (a half-closed one, say) would stop
    // reading once its 16-event buffer and the 4 MiB HTTP/2 window are full, the
    // server's 64-event queue would fill, and every publisher would pause: 8 MB of
    // events all acked shows that closing (or dropping) really ended the streams.
    let srv = ensign_server::start(ensign_server::ServerConfig {
        subscriber_buffer: 64,
        ..Default::default()
    })
    .await
    .unwrap();
    let c = client(&srv.endpoint());
    let id: TopicId = c.create_topic("t").await.unwrap().id[..]
        .try_into()
        .unwrap();
    let small = || SubscribeOptions {
        buffer_events: 16,
        ..opts(&["t"])
    };
    let closed = c.subscribe(small()).unwrap();
    let dropped = c.subscribe(small()).unwrap();
    tokio::time::timeout(WAIT, closed.ready())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(WAIT, dropped.ready())
        .await
        .unwrap()
        .unwrap();
    closed.ack(b"0123456789");
    tokio::time::timeout(WAIT, closed.close()).await.unwrap();
    drop(dropped);
    publish_n(&c, &id, 2_000, 4096).await;
    let mut out = Vec::new();
    assert_eq!(closed.pop(10, &mut out).unwrap(), Pop::Ended);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_client_ends_its_subscriptions() {
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
    publish_n(&c, &id, 5, 10).await;
    take(&sub, 5).await;
    tokio::time::timeout(WAIT, c.close(WAIT))
        .await
        .unwrap()
        .unwrap();
    let rest = tokio::time::timeout(WAIT, sub.next_batch(100))
        .await
        .expect("ends")
        .unwrap();
    assert!(rest.is_empty(), "a clean end, not an error");
    assert!(matches!(c.subscribe(opts(&["t"])), Err(Error::Closed)));
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

#[tokio::test]
async fn a_pending_wait_does_not_keep_the_stream_open() {
    let srv = server().await;
    let c = client(&srv.endpoint());
    c.create_topic("t").await.unwrap();
    let sub = c.subscribe(opts(&["t"])).unwrap();
    tokio::time::timeout(WAIT, sub.ready())
        .await
        .unwrap()
        .unwrap();
    let waiter = sub.detached();
    let pending = tokio::spawn(async move {
        waiter.wait().await;
        waiter.is_finished()
    });
    drop(sub);
    let finished = tokio::time::timeout(WAIT, pending)
        .await
        .expect("the wait ends");
    assert!(
        finished.unwrap(),
        "dropping the last owner closed the subscription"
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_are_checked_once_not_retried() {
    use ensign_client::{ClientConfig, Credentials, Secret};
    use ensign_server::{ApiKeySpec, AuthConfig, ServerConfig};
    let srv = ensign_server::start(ServerConfig {
        auth: Some(AuthConfig {
            client_id: Some("admin".into()),
            client_secret: Some("admin-secret".into()),
            extra_keys: vec![ApiKeySpec {
                client_id: "publisher-only".into(),
                client_secret: "pub-secret".into(),
                permissions: vec!["publisher".into()],
            }],
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let authed = |id: &str, secret: &str| {
        let mut cfg = ClientConfig::local(srv.endpoint());
        cfg.credentials = Some(Credentials {
            auth_url: srv.auth_url().unwrap(),
            client_id: id.into(),
            client_secret: Secret::new(secret),
        });
        Client::new(cfg).unwrap()
    };
    let admin = authed("admin", "admin-secret");
    let id: TopicId = admin.create_topic("t").await.unwrap().id[..]
        .try_into()
        .unwrap();
    let sub = admin.subscribe(opts(&["t"])).unwrap();
    tokio::time::timeout(WAIT, sub.ready())
        .await
        .unwrap()
        .unwrap();
    publish_n(&admin, &id, 3, 10).await;
    assert_eq!(take(&sub, 3).await.len(), 3);
    let q = api::Query {
        query: "SELECT * FROM t".into(),
        ..Default::default()
    };
    let rows = admin.query(q.clone()).await.unwrap();
    let mut n = 0;
    loop {
        let page = tokio::time::timeout(WAIT, rows.next_batch(10))
            .await
            .unwrap()
            .unwrap();
        if page.is_empty() {
            break;
        }
        n += page.len();
    }
    assert_eq!(n, 3);

    // The default reconnect timeout is 5 minutes: the error must come at once.
    let publisher = authed("publisher-only", "pub-secret");
    let denied = publisher.subscribe(opts(&["t"])).unwrap();
    let err = tokio::time::timeout(WAIT, denied.ready())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::PermissionDenied), "{err}");
    let err = publisher.query(q).await.unwrap_err();
    assert_eq!(err.code(), Some(tonic::Code::PermissionDenied), "{err}");
    srv.shutdown().await;
}
