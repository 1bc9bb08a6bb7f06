//! Start/shutdown, Status, and bad start arguments.

mod common;

use common::*;
use ensign_proto::api::{self, service_state};
use ensign_server::{ServerConfig, ServerError};

#[tokio::test]
async fn status_and_clean_shutdown_frees_the_port() {
    let (h, mut c) = memory_server().await;
    let endpoint = h.endpoint();
    assert!(endpoint.starts_with("127.0.0.1:"), "{endpoint}");
    assert_ne!(h.local_addr().port(), 0);
    assert!(h.auth_url().is_none() && h.client_id().is_none() && h.client_secret().is_none());
    let s = c
        .status(api::HealthCheck::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.status, service_state::Status::Healthy as i32);
    assert!(s.version.starts_with("0.12.9"), "{}", s.version);
    let (nb, na) = (s.not_before.unwrap(), s.not_after.unwrap());
    assert_eq!(na.seconds - nb.seconds, 3540);
    let port = h.local_addr().port();
    bounded(h.shutdown()).await;
    // Nothing is left listening: the same port can be bound again at once.
    let again = start(ServerConfig {
        port,
        ..Default::default()
    })
    .await;
    assert_eq!(again.local_addr().port(), port);
    bounded(again.shutdown()).await;
}

#[tokio::test]
async fn port_in_use_is_a_clear_error() {
    let (h, _c) = memory_server().await;
    let err = ensign_server::start(ServerConfig {
        port: h.local_addr().port(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ServerError::Bind { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("could not listen on 127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn bad_host_is_a_clear_error() {
    let err = ensign_server::start(ServerConfig {
        host: "no such host.invalid".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert!(err.is_invalid_argument(), "{err:?}");
}

#[tokio::test]
async fn shutdown_ends_open_streams() {
    let (h, mut c) = memory_server().await;
    let topic = create_topic(&mut c, "orders").await;
    let mut p = publish(&mut c, &[]).await;
    p.send(wrapper(&topic, 1, b"x")).await;
    assert!(matches!(
        p.next().await,
        api::publisher_reply::Embed::Ack(_)
    ));
    bounded(h.shutdown()).await;
    let err = bounded(p.rx.message()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
}
