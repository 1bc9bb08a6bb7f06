//! The life of a subscription against the local server: reconnects that resume it,
//! the reconnect timeout and permission errors that end it, closing (and dropping)
//! that cancel the stream on the server, closing the client, and waits that must not
//! keep a dropped subscription open. Every wait is bounded.

mod common;
mod subscribe_support;

use std::time::Duration;

use common::*;
use ensign_client::subscriber::Pop;
use ensign_client::{Client, Error, SubscribeOptions, TopicId};
use ensign_proto::api;
use subscribe_support::*;

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
