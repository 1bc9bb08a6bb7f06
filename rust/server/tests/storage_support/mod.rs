//! Helpers of the storage tests: servers on a simulated disk, events that carry their
//! own number, and reading a topic back with EnSQL.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ensign_proto::api;
use ensign_server::storage::fs::FsHandle;
use ensign_server::storage::simfs::SimFs;
use ensign_server::ServerConfig;
use prost::Message;

use crate::common::*;

/// Where the simulated data directory lives (on the simulated disk only).
pub const SIM_DIR: &str = "/data";

/// A durable server on a simulated disk, replaying in small chunks so that records
/// cross chunk boundaries, and retrying failed writes quickly.
pub fn sim_config(sim: &SimFs) -> ServerConfig {
    ServerConfig {
        data_dir: Some(SIM_DIR.into()),
        storage_fs: FsHandle(Arc::new(sim.clone())),
        replay_chunk: 64 * 1024,
        storage_retry_max: Duration::from_millis(100),
        ..Default::default()
    }
}

/// An event whose data starts with its number (big-endian), padded to `size` bytes.
pub fn numbered(topic: &Bytes, id: u64, size: usize) -> api::EventWrapper {
    let mut data = vec![(id % 251) as u8; size.max(8)];
    data[..8].copy_from_slice(&id.to_be_bytes());
    wrapper(topic, id, &data)
}

/// The number an event was published with.
pub fn number(e: &api::EventWrapper) -> u64 {
    let data = api::Event::decode(e.event.clone()).unwrap().data;
    u64::from_be_bytes(data[..8].try_into().unwrap())
}

/// Every stored event of a topic, in order.
pub async fn read_topic(c: &mut Client, topic: &str, dups: bool) -> Vec<api::EventWrapper> {
    let mut s = bounded(c.en_sql(api::Query {
        query: format!("SELECT * FROM {topic}"),
        include_duplicates: dups,
        ..Default::default()
    }))
    .await
    .expect("query runs")
    .into_inner();
    let mut out = Vec::new();
    while let Some(e) = bounded(s.message()).await.expect("query streams") {
        out.push(e);
    }
    out
}

/// Publishes events one stream, returning each one's outcome (true: ack), in order.
pub async fn publish_outcomes(c: &mut Client, events: Vec<api::EventWrapper>) -> Vec<bool> {
    let n = events.len();
    let mut p = publish(c, &[]).await;
    let tx = p.tx.clone();
    let sender = tokio::spawn(async move {
        for w in events {
            if tx.send(event_req(w)).await.is_err() {
                return;
            }
        }
    });
    p.half_close();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match p.next().await {
            api::publisher_reply::Embed::Ack(_) => out.push(true),
            api::publisher_reply::Embed::Nack(_) => out.push(false),
            other => panic!("unexpected reply {other:?}"),
        }
    }
    sender.await.unwrap();
    out
}
