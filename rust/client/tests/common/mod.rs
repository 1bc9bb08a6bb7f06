//! Helpers shared by the client's integration tests: a local server on 127.0.0.1:0 and
//! event builders. Every wait is bounded.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use ensign_client::publisher::{encode_type, Counter};
use ensign_client::{Client, ClientConfig, EventFields, Outcome, OutcomeSink, Publisher, TopicId};
use ensign_server::{ServerConfig, ServerHandle};
use parking_lot::Mutex;

/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(30);

pub async fn server() -> ServerHandle {
    ensign_server::start(ServerConfig::default())
        .await
        .expect("server starts")
}

pub async fn server_on(port: u16) -> ServerHandle {
    ensign_server::start(ServerConfig {
        port,
        ..Default::default()
    })
    .await
    .expect("server starts")
}

pub fn client(endpoint: &str) -> Client {
    Client::new(ClientConfig::local(endpoint)).expect("client builds")
}

pub fn client_with(endpoint: &str, f: impl FnOnce(&mut ClientConfig)) -> Client {
    let mut cfg = ClientConfig::local(endpoint);
    f(&mut cfg);
    Client::new(cfg).expect("client builds")
}

pub struct Payloads {
    pub data: Vec<Vec<u8>>,
    pub ty: Vec<u8>,
}

impl Payloads {
    pub fn new(n: usize, size: usize) -> Self {
        Payloads {
            data: (0..n).map(|i| format!("{i:0size$}").into_bytes()).collect(),
            ty: encode_type("Test", 1, 0, 0),
        }
    }

    pub fn fields(&self) -> Vec<EventFields<'_>> {
        self.data
            .iter()
            .map(|d| EventFields {
                data: d,
                mimetype: 50,
                type_pb: &self.ty,
                meta: &[],
                created: (1_700_000_000, 5),
            })
            .collect()
    }
}

/// Publishes everything, waiting for room whenever the window is full.
pub async fn publish_all(
    p: &Publisher,
    topic: &TopicId,
    fields: &[EventFields<'_>],
    sink: &Arc<dyn OutcomeSink>,
) {
    publish_from(p, topic, fields, 0, sink).await
}

/// Publishes `fields[start..]` (event `i` reports as index `i`), waiting for room
/// whenever the window is full.
pub async fn publish_from(
    p: &Publisher,
    topic: &TopicId,
    fields: &[EventFields<'_>],
    start: usize,
    sink: &Arc<dyn OutcomeSink>,
) {
    let mut done = start;
    while done < fields.len() {
        match p
            .try_publish(topic, &fields[done..], sink, done as u32)
            .expect("publish")
        {
            ensign_client::Admit::Accepted(n) => done += n,
            ensign_client::Admit::UnknownTopic => panic!("topic unknown to the stream"),
        }
        if done < fields.len() {
            tokio::time::timeout(WAIT, p.wait_for_room())
                .await
                .expect("room in time")
                .expect("room");
        }
    }
}

pub fn counter() -> (Arc<Counter>, Arc<dyn OutcomeSink>) {
    let c = Arc::new(Counter::default());
    let s: Arc<dyn OutcomeSink> = c.clone();
    (c, s)
}

/// Records every outcome per index, to check "exactly once".
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(u32, bool, i32)>>);

impl OutcomeSink for Recorder {
    fn outcome(&self, index: u32, _id: &[u8; 16], o: Outcome<'_>) {
        let code = match o {
            Outcome::Acked { .. } => 0,
            Outcome::Nacked { code, .. } => code,
        };
        self.0.lock().push((index, o.is_ack(), code));
    }
}
