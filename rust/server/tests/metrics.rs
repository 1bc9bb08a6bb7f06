//! What operators see: the Prometheus endpoint (the real Ensign server's names and
//! labels, gRPC series from the layer in front of the service, refused calls included,
//! our own series) and the server's log events (startup, refusals, stop; no secrets).

mod common;

use common::*;
use ensign_proto::api;
use ensign_server::{AuthConfig, ServerConfig, ServerHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GET `url` over HTTP/1.1; returns (status, body).
async fn get(url: &str) -> (u16, String) {
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    bounded(s.read_to_string(&mut resp)).await.unwrap();
    let code = resp[9..12].parse().unwrap();
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (code, body.to_string())
}

async fn scrape(h: &ServerHandle) -> String {
    let (code, body) = get(&h.metrics_url().expect("metrics served")).await;
    assert_eq!(code, 200);
    body
}

/// The sum of every sample of `name` whose labels contain all of `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            let base = series.split('{').next().unwrap();
            base == name && labels.iter().all(|want| series.contains(want))
        })
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum()
}

fn with_metrics(config: ServerConfig) -> ServerConfig {
    ServerConfig {
        metrics_addr: Some("127.0.0.1:0".into()),
        ..config
    }
}

#[tokio::test]
async fn publish_1000_events_then_scrape() {
    let h = start(with_metrics(ServerConfig::default())).await;
    assert!(h.metrics_url().unwrap().ends_with("/metrics"));
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let mut p = publish(&mut c, &[]).await;
    for i in 0..1000 {
        p.send(wrapper(&t, i, b"x")).await;
    }
    for _ in 0..1000 {
        assert!(matches!(
            p.next().await,
            api::publisher_reply::Embed::Ack(_)
        ));
    }
    let open = scrape(&h).await;
    assert_eq!(
        value(&open, "ensign_events", &["node=\"unk\"", "region=\"unk\""]),
        1000.0
    );
    assert_eq!(value(&open, "ensign_online_publishers", &[]), 1.0);
    let publish = [
        "method=\"Publish\"",
        "service=\"ensign.v1beta1.Ensign\"",
        "type=\"stream\"",
    ];
    assert_eq!(value(&open, "grpc_server_started_total", &publish), 1.0);
    assert_eq!(value(&open, "grpc_server_handled_total", &publish), 0.0);

    p.half_close();
    assert!(matches!(
        p.next().await,
        api::publisher_reply::Embed::CloseStream(_)
    ));
    assert!(bounded(p.rx.message()).await.unwrap().is_none());
    let closed = scrape(&h).await;
    assert_eq!(value(&closed, "ensign_online_publishers", &[]), 0.0);
    let ok = [publish.as_slice(), &["code=\"OK\""]].concat();
    assert_eq!(value(&closed, "grpc_server_handled_total", &ok), 1.0);
    assert_eq!(
        value(&closed, "grpc_server_handler_duration_count", &publish),
        1.0
    );
    // OpenStream + 1000 events in; StreamReady + 1000 acks + CloseStream out.
    assert_eq!(
        value(&closed, "grpc_server_stream_messages_recv", &publish),
        1001.0
    );
    assert_eq!(
        value(&closed, "grpc_server_stream_messages_sent", &publish),
        1002.0
    );
    // EnSQL's one request is counted by the metrics layer's body (`grpc::body`).
    assert_eq!(
        query(&mut c, "SELECT * FROM t", false).await.unwrap().len(),
        1000
    );
    let closed = scrape(&h).await;
    let ensql = ["method=\"EnSQL\""];
    assert_eq!(
        value(&closed, "grpc_server_stream_messages_recv", &ensql),
        1.0
    );
    let create = ["method=\"CreateTopic\"", "type=\"unary\"", "code=\"OK\""];
    assert_eq!(value(&closed, "grpc_server_handled_total", &create), 1.0);
    // Every code is there from the start, as the real server pre-registers them.
    assert!(closed.contains("code=\"DataLoss\",method=\"Info\""));
    assert_eq!(
        value(&closed, "ensign_subscriber_evictions_total", &[]),
        0.0
    );
    assert_eq!(value(&closed, "ensign_storage_errors_total", &[]), 0.0);
    let (code, body) = get(&h.metrics_url().unwrap().replace("/metrics", "/healthz")).await;
    assert_eq!((code, body.as_str()), (200, "ok"));
}

#[tokio::test]
async fn refused_calls_nacks_and_subscribers_are_counted() {
    let h = start(with_metrics(ServerConfig {
        auth: Some(AuthConfig::default()),
        ..Default::default()
    }))
    .await;
    let mut c = connect(&h.endpoint()).await;
    let err = c.list_topics(api::PageInfo::default()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    c.status(api::HealthCheck::default()).await.unwrap();
    let text = scrape(&h).await;
    let refused = ["method=\"ListTopics\"", "code=\"Unauthenticated\""];
    assert_eq!(value(&text, "grpc_server_handled_total", &refused), 1.0);
    let status = ["method=\"Status\"", "code=\"OK\""];
    assert_eq!(value(&text, "grpc_server_handled_total", &status), 1.0);
    h.shutdown().await;

    let h = start(with_metrics(ServerConfig::default())).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let s = try_subscribe(&mut c, subscription(&[])).await.unwrap();
    let mut p = publish(&mut c, &[]).await;
    let mut unknown = wrapper(&t, 1, b"x");
    unknown.topic_id = bytes::Bytes::copy_from_slice(&ulid::Ulid::new().to_bytes());
    p.send(unknown).await;
    assert!(matches!(
        p.next().await,
        api::publisher_reply::Embed::Nack(_)
    ));
    let text = scrape(&h).await;
    assert_eq!(value(&text, "ensign_online_subscribers", &[]), 1.0);
    assert_eq!(
        value(
            &text,
            "ensign_events_nacked_total",
            &["code=\"TOPIC_UNKNOWN\""]
        ),
        1.0
    );
    assert_eq!(value(&text, "ensign_events", &[]), 0.0);
    // The services count what Publish and Subscribe receive (`grpc::recv`): exact once
    // the stream has nothing more buffered.
    let recv = |method: &str| format!("method=\"{method}\"");
    let publish_in = value(
        &text,
        "grpc_server_stream_messages_recv",
        &[&recv("Publish")],
    );
    assert_eq!(publish_in, 2.0, "OpenStream + one event");
    let sub_in = value(
        &text,
        "grpc_server_stream_messages_recv",
        &[&recv("Subscribe")],
    );
    assert_eq!(sub_in, 1.0, "the Subscription");
    let ack = api::SubscribeRequest {
        embed: Some(api::subscribe_request::Embed::Ack(api::Ack::default())),
    };
    s.tx.send(ack).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = scrape(&h).await;
        if value(
            &text,
            "grpc_server_stream_messages_recv",
            &[&recv("Subscribe")],
        ) == 2.0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ack was not counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(s);
}

#[tokio::test]
async fn startup_refusals_and_stop_are_logged_without_secrets() {
    let (logs, _guard) = capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let h = start(ServerConfig {
        data_dir: Some(dir.path().to_path_buf()),
        auth: Some(AuthConfig {
            client_secret: Some("s3cr3t-never-logged".into()),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await;
    let mut c = connect(&h.endpoint()).await;
    let mut req = tonic::Request::new(api::PageInfo::default());
    req.metadata_mut().insert(
        "authorization",
        "Bearer forged.token.value".parse().unwrap(),
    );
    assert!(c.list_topics(req).await.is_err());
    h.shutdown().await;
    let text = logs.text();
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} logged: {text}"))
            .to_string()
    };
    let up = line("Ensign server listening");
    assert!(
        up.contains("INFO") && up.contains("ensign_server::startup"),
        "{up}"
    );
    assert!(
        up.contains("storage=\"disk\"") && up.contains("auth=true"),
        "{up}"
    );
    let refused = line("call refused");
    assert!(refused.contains("ensign_server::grpc::auth") && refused.contains("ListTopics"));
    assert!(refused.contains("invalid credentials"), "{refused}");
    assert!(line("Ensign server stopped").contains("INFO"));
    assert!(!text.contains("s3cr3t-never-logged") && !text.contains("forged.token"));
}
