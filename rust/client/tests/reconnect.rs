//! Reconnects: a server that comes back within the timeout gets every unacked event
//! again (all end acked); one that stays away makes every event fail with TIMEOUT.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use ensign_client::publisher::CODE_TIMEOUT;

use common::Recorder;

async fn durable_server(dir: &std::path::Path, port: u16) -> ensign_server::ServerHandle {
    ensign_server::start(ensign_server::ServerConfig {
        port,
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .await
    .expect("server starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = durable_server(dir.path(), 0).await;
    let port = srv.local_addr().port();
    let c = client_with(&srv.endpoint(), |cfg| {
        cfg.reconnect_tick = Duration::from_millis(50)
    });
    c.create_topic("t").await.unwrap();
    let p = c.publisher().clone();
    let topic = p.resolve("t").await.unwrap();
    let payloads = Payloads::new(30_000, 100);
    let fields = payloads.fields();
    let (count, sink) = counter();

    // Publish the first third, restart the server, publish the rest during the outage.
    publish_all(&p, &topic, &fields[..10_000], &sink).await;
    srv.shutdown().await;
    let path = dir.path().to_path_buf();
    let restarted = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        durable_server(&path, port).await
    });
    publish_from(&p, &topic, &fields, 10_000, &sink).await;
    let srv = restarted.await.unwrap();
    tokio::time::timeout(WAIT, count.wait_for(30_000))
        .await
        .expect("every event has an outcome");
    assert_eq!(count.acked(), 30_000, "every event acked after the restart");
    assert_eq!(count.nacked(), 0);
    srv.shutdown().await;
}

#[tokio::test]
async fn events_fail_with_timeout_when_the_server_stays_away() {
    let srv = server().await;
    let c = client_with(&srv.endpoint(), |cfg| {
        cfg.reconnect_tick = Duration::from_millis(20);
        cfg.reconnect_timeout = Duration::from_millis(300);
    });
    c.create_topic("t").await.unwrap();
    let p = c.publisher();
    let topic = p.resolve("t").await.unwrap();
    srv.shutdown().await;
    let payloads = Payloads::new(200, 10);
    let rec = Arc::new(Recorder::default());
    let sink: Arc<dyn ensign_client::OutcomeSink> = rec.clone();
    publish_all(p, &topic, &payloads.fields(), &sink).await;
    tokio::time::timeout(WAIT, p.flush())
        .await
        .expect("all fail in time")
        .unwrap();
    let seen = rec.0.lock().clone();
    assert_eq!(seen.len(), 200);
    assert!(seen
        .iter()
        .all(|(_, acked, code)| !acked && *code == CODE_TIMEOUT));
}

#[tokio::test]
async fn resolving_against_an_unreachable_server_times_out_with_a_typed_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client_with(&format!("127.0.0.1:{port}"), |cfg| {
        cfg.reconnect_tick = Duration::from_millis(20);
        cfg.reconnect_timeout = Duration::from_millis(200);
    });
    let r = tokio::time::timeout(WAIT, c.publisher().resolve("t"))
        .await
        .expect("bounded");
    assert!(matches!(r, Err(ensign_client::Error::Timeout(_))), "{r:?}");
}
