//! Helpers shared by the integration tests: servers on 127.0.0.1:0, raw tonic clients,
//! events, and publish/subscribe stream plumbing.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use ensign_proto::api::{
    self, ensign_client::EnsignClient, publisher_reply, publisher_request, subscribe_reply,
    subscribe_request,
};
use ensign_server::{ServerConfig, ServerHandle};
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

pub type Client = EnsignClient<Channel>;

/// Every await in a test is bounded by this.
pub const WAIT: Duration = Duration::from_secs(20);

pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f).await.expect("timed out")
}

pub async fn start(config: ServerConfig) -> ServerHandle {
    ensign_server::start(config).await.expect("server starts")
}

pub async fn memory_server() -> (ServerHandle, Client) {
    let h = start(ServerConfig::default()).await;
    let c = connect(&h.endpoint()).await;
    (h, c)
}

pub async fn connect(endpoint: &str) -> Client {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .unwrap()
        .connect()
        .await
        .expect("connects");
    EnsignClient::new(ch)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20)
}

pub async fn create_topic(c: &mut Client, name: &str) -> Bytes {
    let t = c
        .create_topic(api::Topic {
            name: name.to_string(),
            ..Default::default()
        })
        .await
        .expect("topic created")
        .into_inner();
    assert_eq!(t.id.len(), 16);
    t.id
}

pub fn local_id(i: u64) -> Bytes {
    let mut b = [0u8; 16];
    b[8..].copy_from_slice(&i.to_be_bytes());
    Bytes::copy_from_slice(&b)
}

pub fn event_bytes(data: &[u8]) -> Bytes {
    api::Event {
        data: Bytes::copy_from_slice(data),
        mimetype: 1,
        r#type: Some(api::Type {
            name: "Note".into(),
            major_version: 1,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
    .into()
}

pub fn wrapper(topic: &Bytes, i: u64, data: &[u8]) -> api::EventWrapper {
    api::EventWrapper {
        topic_id: topic.clone(),
        local_id: local_id(i),
        event: event_bytes(data),
        ..Default::default()
    }
}

pub fn event_req(w: api::EventWrapper) -> api::PublisherRequest {
    api::PublisherRequest {
        embed: Some(publisher_request::Embed::Event(Box::new(w))),
    }
}

pub fn open_req(topics: &[&str]) -> api::PublisherRequest {
    api::PublisherRequest {
        embed: Some(publisher_request::Embed::OpenStream(api::OpenStream {
            client_id: "test-client".into(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
        })),
    }
}

/// An open publish stream.
pub struct Pub {
    pub tx: mpsc::Sender<api::PublisherRequest>,
    pub rx: Streaming<api::PublisherReply>,
    pub ready: api::StreamReady,
}

impl Pub {
    /// Drops this handle's sender: the request side ends once no clone is left.
    pub fn half_close(&mut self) {
        let (closed, _) = mpsc::channel(1);
        self.tx = closed;
    }
    pub async fn send(&self, w: api::EventWrapper) {
        self.tx.send(event_req(w)).await.expect("stream open");
    }
    pub async fn next(&mut self) -> publisher_reply::Embed {
        bounded(self.rx.message())
            .await
            .expect("no stream error")
            .expect("a reply")
            .embed
            .expect("embed set")
    }
}

/// Opens a publish stream, sends `first`, returns the stream or the call's error.
pub async fn try_publish(
    c: &mut Client,
    first: Option<api::PublisherRequest>,
) -> Result<Pub, tonic::Status> {
    let (tx, rx) = mpsc::channel(1024);
    if let Some(first) = first {
        tx.send(first).await.unwrap();
    }
    let mut rx = bounded(c.publish(ReceiverStream::new(rx)))
        .await?
        .into_inner();
    let ready = match bounded(rx.message()).await?.and_then(|r| r.embed) {
        Some(publisher_reply::Embed::Ready(r)) => r,
        other => panic!("expected StreamReady, got {other:?}"),
    };
    Ok(Pub { tx, rx, ready })
}

pub async fn publish(c: &mut Client, topics: &[&str]) -> Pub {
    try_publish(c, Some(open_req(topics)))
        .await
        .expect("publish stream opens")
}

/// An open subscribe stream.
pub struct Sub {
    pub tx: mpsc::Sender<api::SubscribeRequest>,
    pub rx: Streaming<api::SubscribeReply>,
    pub ready: api::StreamReady,
}

pub fn subscription(topics: &[&str]) -> api::SubscribeRequest {
    api::SubscribeRequest {
        embed: Some(subscribe_request::Embed::Subscription(api::Subscription {
            client_id: "sub-client".into(),
            topics: topics.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })),
    }
}

pub async fn try_subscribe(
    c: &mut Client,
    first: api::SubscribeRequest,
) -> Result<Sub, tonic::Status> {
    let (tx, rx) = mpsc::channel(64);
    tx.send(first).await.unwrap();
    let mut rx = bounded(c.subscribe(ReceiverStream::new(rx)))
        .await?
        .into_inner();
    match bounded(rx.message()).await?.and_then(|r| r.embed) {
        Some(subscribe_reply::Embed::Ready(ready)) => Ok(Sub { tx, rx, ready }),
        other => panic!("expected ready, got {other:?}"),
    }
}

impl Sub {
    pub async fn event(&mut self) -> api::EventWrapper {
        match bounded(self.rx.message())
            .await
            .unwrap()
            .unwrap()
            .embed
            .unwrap()
        {
            subscribe_reply::Embed::Event(e) => e,
            other => panic!("expected event, got {other:?}"),
        }
    }
}

/// Publishes every event on one stream and checks that each is acked.
pub async fn publish_all(c: &mut Client, events: Vec<api::EventWrapper>) {
    let n = events.len();
    let mut p = publish(c, &[]).await;
    for w in events {
        p.send(w).await;
    }
    p.half_close();
    for _ in 0..n {
        assert!(matches!(
            p.next().await,
            api::publisher_reply::Embed::Ack(_)
        ));
    }
}

/// Runs an EnSQL query to its end.
pub async fn query(
    c: &mut Client,
    q: &str,
    dups: bool,
) -> Result<Vec<api::EventWrapper>, tonic::Status> {
    let mut s = c
        .en_sql(api::Query {
            query: q.into(),
            include_duplicates: dups,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(e) = bounded(s.message()).await? {
        out.push(e);
    }
    Ok(out)
}

/// The payload of a stored event.
pub fn data(e: &api::EventWrapper) -> Bytes {
    api::Event::decode(e.event.clone()).unwrap().data
}

/// What the server logs during a test (a test-local subscriber: nothing global). The
/// server's tasks must run on the test's thread (`#[tokio::test]`'s default runtime).
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log event (DEBUG and up) until the guard is dropped.
pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    // NOTE: while a single dispatcher is registered, tracing computes a new callsite's
    // interest from the default of whichever thread hits it first: a parallel test
    // thread (no subscriber) would switch the event off for everyone. A second live
    // dispatcher makes every callsite consult each thread's own default instead.
    static SECOND: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND.get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let logs = Captured::default();
    let sink = logs.clone();
    let guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish(),
    );
    (logs, guard)
}
