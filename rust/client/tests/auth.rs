//! Token authentication against the local server's Quarterdeck endpoints: logins, bad
//! credentials, missing permissions, and tokens refreshed in the background so that
//! RPCs keep working across expiries.

mod common;

use std::time::Duration;

use common::*;
use ensign_client::{Client, ClientConfig, Credentials, Error, Secret};
use ensign_server::{ApiKeySpec, AuthConfig, ServerConfig, ServerHandle};

async fn auth_server(access_ttl: Duration) -> ServerHandle {
    ensign_server::start(ServerConfig {
        auth: Some(AuthConfig {
            client_id: Some("pub-sub-admin".into()),
            client_secret: Some("s3cret-value".into()),
            extra_keys: vec![ApiKeySpec {
                client_id: "publisher-only".into(),
                client_secret: "another-s3cret".into(),
                permissions: vec!["publisher".into()],
            }],
            access_ttl,
            refresh_ttl: access_ttl * 2,
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .expect("server starts")
}

fn authed(srv: &ServerHandle, id: &str, secret: &str) -> Client {
    let mut cfg = ClientConfig::local(srv.endpoint());
    cfg.credentials = Some(Credentials {
        auth_url: srv.auth_url().expect("auth url"),
        client_id: id.into(),
        client_secret: Secret::new(secret),
    });
    Client::new(cfg).expect("client")
}

#[tokio::test]
async fn authenticated_clients_publish_and_manage_topics() {
    let srv = auth_server(Duration::from_secs(3600)).await;
    let c = authed(&srv, "pub-sub-admin", "s3cret-value");
    c.create_topic("secured").await.unwrap();
    let p = c.publisher();
    let topic = p.resolve("secured").await.unwrap();
    let payloads = Payloads::new(100, 10);
    let (count, sink) = counter();
    publish_all(p, &topic, &payloads.fields(), &sink).await;
    tokio::time::timeout(WAIT, count.wait_for(100))
        .await
        .unwrap();
    assert_eq!(count.acked(), 100);
    srv.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_and_missing_permissions_are_typed_errors() {
    let srv = auth_server(Duration::from_secs(3600)).await;
    let wrong = authed(&srv, "pub-sub-admin", "not-the-secret");
    match wrong.create_topic("x").await {
        Err(Error::AuthRefused(msg)) => {
            assert!(msg.contains("403"), "{msg}");
            assert!(!msg.contains("not-the-secret"), "secret leaked: {msg}");
        }
        other => panic!("expected an auth error, got {other:?}"),
    }
    let limited = authed(&srv, "publisher-only", "another-s3cret");
    match limited.create_topic("x").await {
        Err(e) => assert_eq!(e.code(), Some(tonic::Code::PermissionDenied), "{e}"),
        Ok(_) => panic!("a publisher-only key created a topic"),
    }
    // Status needs no permission.
    assert_eq!(limited.status().await.unwrap().status, 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    // NOTE: the server does not accept a token even a second past `exp`, so RPCs across
    // several lifetimes only succeed if the client renews in time.
    // A 4 s lifetime: the client renews at half-life, 2 s before expiry, which leaves
    // room for a loaded machine (with 2 s, exp's one-second granularity left as little
    // as a few ms, and a refresh delayed by load failed the test once).
    let srv = auth_server(Duration::from_secs(4)).await;
    let c = authed(&srv, "pub-sub-admin", "s3cret-value");
    c.create_topic("refreshing").await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        c.status().await.unwrap();
        c.all_topics().await.unwrap();
    }
    srv.shutdown().await;
}

#[tokio::test]
async fn refused_credentials_fail_pending_events_at_once() {
    let srv = auth_server(Duration::from_secs(3600)).await;
    let admin = authed(&srv, "pub-sub-admin", "s3cret-value");
    admin.create_topic("t").await.unwrap();
    let wrong = authed(&srv, "pub-sub-admin", "wrong");
    // Resolving the topic needs the stream, which needs a token: refused, not retried
    // for the whole reconnect timeout (5 minutes by default).
    let r = tokio::time::timeout(WAIT, wrong.publisher().resolve("t"))
        .await
        .expect("no retry loop");
    assert!(matches!(r, Err(Error::AuthRefused(_))), "{r:?}");
    srv.shutdown().await;
}
