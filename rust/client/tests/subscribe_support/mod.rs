//! Helpers of the subscription tests: options, bounded receiving, publishing and
//! waiting for the acks.

#![allow(dead_code)]

use ensign_client::subscriber::Received;
use ensign_client::{Client, SubscribeOptions, Subscription, TopicId};

use crate::common::*;

pub fn opts(topics: &[&str]) -> SubscribeOptions {
    SubscribeOptions {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

/// Receives exactly `n` events (bounded by WAIT).
pub async fn take(sub: &Subscription, n: usize) -> Vec<Received> {
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

pub async fn publish_n(c: &Client, topic: &TopicId, n: usize, size: usize) {
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
