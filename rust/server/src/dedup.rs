//! Deduplication policies (semantics §6.7): normalization and validation as the real
//! server does them, and the retroactive rehash that marks later copies of an event as
//! duplicates of the first. New events are never hashed at publish time (as in the
//! real server); EnSQL skips marked events unless `include_duplicates` is set.
//!
//! Concurrency: the rehash runs on the blocking pool. It copies the topic's index under
//! the read lock, reads and hashes without locks, writes the marks to the log and waits
//! until they are durable, and only then replaces them under the write lock (readers
//! never see marks that a crash could take back) and sets the topic back to READY. If
//! the marks cannot be stored the topic stays PENDING and is rehashed at the next start.

use std::collections::HashMap;
use std::sync::Arc;

use ensign_proto::api::{self, deduplication::OffsetPosition, deduplication::Strategy, TopicState};
use ensign_proto::rlid::Rlid;
use prost::Message;

use crate::broker::save_topic;
use crate::storage::{self, record, Storage};
use crate::topics::TopicEntry;

/// `Deduplication.Normalize`: unknown strategy → NONE, unknown offset → EARLIEST, keys
/// and fields kept (sorted, unique) only for the strategies that use them.
pub fn normalize(d: Option<api::Deduplication>) -> api::Deduplication {
    let mut d = d.unwrap_or_default();
    if d.offset == OffsetPosition::OffsetUnknown as i32 {
        d.offset = OffsetPosition::OffsetEarliest as i32;
    }
    let strategy = Strategy::try_from(d.strategy).unwrap_or(Strategy::Unknown);
    if strategy == Strategy::Unknown {
        d.strategy = Strategy::None as i32;
    }
    let unique_sort = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    match strategy {
        Strategy::KeyGrouped | Strategy::UniqueKey => {
            d.keys = unique_sort(std::mem::take(&mut d.keys));
            d.fields.clear();
        }
        Strategy::UniqueField => {
            d.fields = unique_sort(std::mem::take(&mut d.fields));
            d.keys.clear();
        }
        _ => {
            d.keys.clear();
            d.fields.clear();
        }
    }
    d
}

/// `Deduplication.Validate`, with the real messages.
pub fn validate(d: &api::Deduplication) -> Result<(), &'static str> {
    const NO_KEYS: &str = "no keys specified for key based hashing";
    const NO_FIELDS: &str = "no fields specified for field based hashing";
    const KEYS: &str = "do not specify keys for this policy";
    const FIELDS: &str = "do not specify fields for this policy";
    let (keys, fields) = (!d.keys.is_empty(), !d.fields.is_empty());
    match Strategy::try_from(d.strategy).unwrap_or(Strategy::Unknown) {
        Strategy::KeyGrouped | Strategy::UniqueKey if !keys => Err(NO_KEYS),
        Strategy::KeyGrouped | Strategy::UniqueKey if fields => Err(FIELDS),
        Strategy::KeyGrouped | Strategy::UniqueKey => Ok(()),
        Strategy::UniqueField if !fields => Err(NO_FIELDS),
        Strategy::UniqueField if keys => Err(KEYS),
        Strategy::UniqueField => Ok(()),
        _ if keys => Err(KEYS),
        _ if fields => Err(FIELDS),
        _ => Ok(()),
    }
}

/// What two events must share to be duplicates under a policy; `None` when the event
/// takes no part (e.g. UNIQUE_FIELD on data that is not a JSON object).
fn signature(policy: &api::Deduplication, event: &api::Event) -> Option<Vec<u8>> {
    let mut sig = Vec::with_capacity(event.data.len() + 64);
    let mut put = |b: &[u8]| {
        sig.extend_from_slice(&(b.len() as u64).to_le_bytes());
        sig.extend_from_slice(b);
    };
    let meta = |k: &str| event.metadata.get(k).map_or("", String::as_str).to_string();
    match Strategy::try_from(policy.strategy).unwrap_or(Strategy::None) {
        Strategy::Strict => {
            put(&event.data);
            let mut kv: Vec<_> = event.metadata.iter().collect();
            kv.sort();
            for (k, v) in kv {
                put(k.as_bytes());
                put(v.as_bytes());
            }
            put(&event.mimetype.to_le_bytes());
            put(&event.r#type.clone().unwrap_or_default().encode_to_vec());
        }
        Strategy::Datagram => put(&event.data),
        Strategy::KeyGrouped => {
            for k in &policy.keys {
                put(meta(k).as_bytes());
            }
            put(&event.data);
        }
        Strategy::UniqueKey => {
            for k in &policy.keys {
                put(meta(k).as_bytes());
            }
        }
        // Not implemented by the real server (its topic stays PENDING forever); here:
        // top-level fields of a JSON object payload.
        Strategy::UniqueField => {
            let v: serde_json::Value = serde_json::from_slice(&event.data).ok()?;
            let obj = v.as_object()?;
            for f in &policy.fields {
                put(obj
                    .get(f)
                    .map(|x| x.to_string())
                    .unwrap_or_default()
                    .as_bytes());
            }
        }
        Strategy::None | Strategy::Unknown => return None,
    }
    Some(sig)
}

/// Marks every later copy of an event as a duplicate of the first one.
fn rehash(
    storage: &Storage,
    topic: &TopicEntry,
    policy: &api::Deduplication,
) -> HashMap<Rlid, Rlid> {
    let events = topic.events.read().events.clone();
    let mut first: HashMap<Vec<u8>, Rlid> = HashMap::new();
    let mut marks = HashMap::new();
    for stored in events {
        let Ok(bytes) = storage.read(&stored.body) else {
            continue;
        };
        let Ok(wrapper) = api::EventWrapper::decode(bytes) else {
            continue;
        };
        let Ok(event) = api::Event::decode(wrapper.event) else {
            continue;
        };
        let Some(sig) = signature(policy, &event) else {
            continue;
        };
        match first.get(&sig) {
            Some(orig) => {
                marks.insert(stored.rlid, *orig);
            }
            None => {
                first.insert(sig, stored.rlid);
            }
        }
    }
    marks
}

/// Runs the rehash of a topic now PENDING, then makes it READY again.
pub fn spawn_rehash(storage: Arc<Storage>, topic: Arc<TopicEntry>) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        let policy = topic.meta.read().deduplication.clone().unwrap_or_default();
        let marks = rehash(&storage, &topic, &policy);
        if topic.is_deleted() {
            return;
        }
        let mut pairs: Vec<(Rlid, Rlid)> = marks.iter().map(|(d, o)| (*d, *o)).collect();
        pairs.sort();
        let rt = tokio::runtime::Handle::current();
        let logged = storage.submit_meta(record::duplicates(&topic.key, &pairs));
        if let Err(e) = rt.block_on(storage::wait(logged)) {
            tracing::error!(
                error = %e,
                topic = %topic.key.ulid(),
                "could not save deduplication marks; the topic stays PENDING"
            );
            return;
        }
        topic.events.write().replace_duplicates(marks);
        let ready = save_topic(&storage, &topic, |t| t.status = TopicState::Ready as i32);
        if let Err(e) = rt.block_on(storage::wait(ready)) {
            tracing::error!(error = %e, "could not save a topic's READY state");
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use bytes::Bytes;

    use super::*;
    use crate::fanout::Fanout;
    use crate::idempotence::PublishedIndex;
    use crate::storage::datadir::DirOptions;
    use crate::storage::fs::FsHandle;
    use crate::storage::simfs::{CrashMode, SimFs};
    use crate::storage::{Body, DiskLog, DiskOptions, StoredEvent};

    fn open(sim: &SimFs) -> (Arc<Storage>, crate::storage::replay::Recovered) {
        let opts = DiskOptions {
            dir: DirOptions {
                fs: FsHandle(Arc::new(sim.clone())),
                ..Default::default()
            },
            ..Default::default()
        };
        let (log, _, rec) = DiskLog::open(
            Path::new("/d"),
            Arc::new(Fanout::new(
                16,
                std::time::Duration::from_secs(60),
                prometheus::IntCounter::new("e", "e").unwrap(),
            )),
            Arc::new(PublishedIndex::new(16)),
            &opts,
        )
        .unwrap();
        (Arc::new(Storage::Disk(log)), rec)
    }

    fn topic_with_copies() -> Arc<TopicEntry> {
        let topic = TopicEntry::new(api::Topic {
            id: Bytes::from_static(&[5; 16]),
            name: "t".into(),
            status: TopicState::Pending as i32,
            deduplication: Some(api::Deduplication {
                strategy: Strategy::Datagram as i32,
                ..Default::default()
            }),
            ..Default::default()
        });
        for (i, data) in ["a", "b", "a"].iter().enumerate() {
            let event = api::Event {
                data: Bytes::from_static(data.as_bytes()),
                ..Default::default()
            };
            let w = api::EventWrapper {
                event: event.encode_to_vec().into(),
                ..Default::default()
            };
            topic.events.write().events.push(StoredEvent {
                rlid: Rlid::new(1, i as u32 + 1),
                body: Body::Mem(w.encode_to_vec().into()),
            });
        }
        topic
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn marks_are_visible_only_once_durable() {
        let sim = SimFs::new();
        let (storage, _) = open(&sim);
        let topic = topic_with_copies();
        let created = storage.submit_meta(record::topic_create(&topic.meta.read()));
        storage::wait(created).await.unwrap();
        sim.set_fail_sync(true);
        spawn_rehash(storage.clone(), topic.clone()).await.unwrap();
        assert!(
            topic.events.read().duplicates.is_empty(),
            "marks not stored"
        );
        assert_eq!(topic.meta.read().status, TopicState::Pending as i32);
        sim.set_fail_sync(false);
        // The log refuses writes until its first retry is due (50 ms): try until then.
        let mut tries = 0;
        while topic.events.read().duplicates.is_empty() {
            tries += 1;
            assert!(tries < 100_000, "the log never took the marks");
            spawn_rehash(storage.clone(), topic.clone()).await.unwrap();
        }
        let marks = topic.events.read().duplicates.clone();
        assert_eq!(marks.get(&Rlid::new(1, 3)), Some(&Rlid::new(1, 1)));
        assert_eq!(topic.meta.read().status, TopicState::Ready as i32);
        // What readers saw is what a restart after a power cut finds.
        let after = sim.crash(CrashMode::DropUnsynced);
        storage.close();
        let (_, rec) = open(&after);
        let replayed = &rec.topics[&topic.key];
        assert_eq!(replayed.duplicates, marks);
        assert_eq!(replayed.topic.status, TopicState::Ready as i32);
    }
}
