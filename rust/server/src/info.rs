//! Project and per-topic statistics (semantics §6.8) with exact counts. Each topic has
//! a cache that scans only the events stored since the last call, as the real gatherer
//! does every 75 s; the real counts lag, ours never do.
//!
//! Concurrency: `project_info` does disk reads and decoding, so callers run it on the
//! blocking pool. The gatherer's map is locked only to find a topic's cache; each cache
//! has its own mutex, so two calls on one topic scan each event once, and the topic's
//! event lock is held only to copy the index entries still to scan.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use ensign_proto::api;
use ensign_proto::Timestamp;
use parking_lot::Mutex;
use prost::Message;
use ulid::Ulid;

use crate::broker::timestamp_now;
use crate::storage::Storage;
use crate::topics::{KeyMap, TopicEntry};

#[derive(Default, Clone, Copy)]
struct Counts {
    events: u64,
    duplicates: u64,
    bytes: u64,
}

/// A topic's statistics as of its `scanned` first events.
#[derive(Default)]
struct InfoCache {
    scanned: usize,
    dup_generation: u64,
    last: Option<Bytes>,
    total: Counts,
    /// (encoded Type, mimetype) → counts.
    types: BTreeMap<(Vec<u8>, i32), Counts>,
    modified: Option<Timestamp>,
}

impl InfoCache {
    fn update(&mut self, storage: &Storage, topic: &TopicEntry) {
        let (todo, dups) = {
            let ev = topic.events.read();
            if ev.dup_generation != self.dup_generation {
                *self = InfoCache {
                    dup_generation: ev.dup_generation,
                    ..InfoCache::default()
                };
            }
            let todo = ev.events[self.scanned.min(ev.events.len())..].to_vec();
            let dups: Vec<bool> = todo
                .iter()
                .map(|e| ev.duplicates.contains_key(&e.rlid))
                .collect();
            (todo, dups)
        };
        if todo.is_empty() {
            return;
        }
        for (stored, dup) in todo.iter().zip(dups) {
            let len = stored.body.len() as u64;
            let (ty, mime) = storage
                .read(&stored.body)
                .ok()
                .and_then(|b| api::EventWrapper::decode(b).ok())
                .and_then(|w| api::Event::decode(w.event).ok())
                .map(|e| (e.r#type, e.mimetype))
                .unwrap_or_default();
            let ty = ty.unwrap_or_else(|| api::Type {
                name: "Unspecified".into(),
                ..Default::default()
            });
            for c in [
                &mut self.total,
                self.types.entry((ty.encode_to_vec(), mime)).or_default(),
            ] {
                c.events += 1;
                c.duplicates += u64::from(dup);
                c.bytes += len;
            }
        }
        self.scanned += todo.len();
        self.last = todo
            .last()
            .map(|e| Bytes::copy_from_slice(e.rlid.as_bytes()));
        self.modified = Some(timestamp_now());
    }

    fn topic_info(&self, topic: &TopicEntry, project: &Bytes) -> api::TopicInfo {
        api::TopicInfo {
            topic_id: Bytes::copy_from_slice(&topic.key.0),
            project_id: project.clone(),
            event_offset_id: self.last.clone().unwrap_or_default(),
            events: self.total.events,
            duplicates: self.total.duplicates,
            data_size_bytes: self.total.bytes,
            types: self
                .types
                .iter()
                .map(|((ty, mime), c)| api::EventTypeInfo {
                    r#type: api::Type::decode(&ty[..]).ok(),
                    mimetype: *mime,
                    events: c.events,
                    duplicates: c.duplicates,
                    data_size_bytes: c.bytes,
                    modified: self.modified,
                })
                .collect(),
            modified: self.modified,
        }
    }
}

/// One cache per live topic. A cache belongs to one `TopicEntry` (not just its id), so
/// a topic created again with the id of a destroyed one starts from zero.
type CacheSlot = (Weak<TopicEntry>, Arc<Mutex<InfoCache>>);

/// The statistics of a project's topics, kept up to date incrementally.
#[derive(Default)]
pub struct InfoGatherer {
    caches: Mutex<KeyMap<CacheSlot>>,
}

impl InfoGatherer {
    fn cache_of(&self, topic: &Arc<TopicEntry>) -> Arc<Mutex<InfoCache>> {
        let mut caches = self.caches.lock();
        match caches.get(&topic.key) {
            Some((entry, cache)) if std::ptr::eq(entry.as_ptr(), Arc::as_ptr(topic)) => {
                cache.clone()
            }
            _ => {
                let cache = Arc::new(Mutex::new(InfoCache::default()));
                caches.insert(topic.key, (Arc::downgrade(topic), cache.clone()));
                cache
            }
        }
    }

    /// `ProjectInfo` over `topics` (scans what was stored since the last call).
    pub fn project_info(
        &self,
        storage: &Storage,
        project_id: Ulid,
        topics: &[Arc<TopicEntry>],
    ) -> api::ProjectInfo {
        // Destroyed topics: their caches go.
        self.caches.lock().retain(|_, (t, _)| t.strong_count() > 0);
        let project = Bytes::copy_from_slice(&project_id.to_bytes());
        let mut out = api::ProjectInfo {
            project_id: project.clone(),
            ..Default::default()
        };
        for t in topics {
            let cache = self.cache_of(t);
            let mut cache = cache.lock();
            cache.update(storage, t);
            let info = cache.topic_info(t, &project);
            out.num_topics += 1;
            out.num_readonly_topics += u64::from(t.meta.read().readonly);
            out.events += info.events;
            out.duplicates += info.duplicates;
            out.data_size_bytes += info.data_size_bytes;
            out.topics.push(info);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_index::{Body, StoredEvent};
    use ensign_proto::rlid::Rlid;

    fn topic(name: &str) -> Arc<TopicEntry> {
        TopicEntry::new(api::Topic {
            id: Bytes::copy_from_slice(&Ulid::new().to_bytes()),
            name: name.into(),
            ..Default::default()
        })
    }

    fn store(t: &TopicEntry, seq: u32, type_name: &str) {
        let event = api::Event {
            data: Bytes::from_static(b"x"),
            mimetype: 2,
            r#type: Some(api::Type {
                name: type_name.into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let w = api::EventWrapper {
            event: event.encode_to_vec().into(),
            ..Default::default()
        };
        t.events.write().events.push(StoredEvent {
            rlid: Rlid::new(1, seq),
            body: Body::Mem(w.encode_to_vec().into()),
        });
    }

    #[test]
    fn counts_new_events_only_and_by_type() {
        let gatherer = InfoGatherer::default();
        let t = topic("a");
        store(&t, 1, "A");
        store(&t, 2, "B");
        let project = Ulid::new();
        let info = gatherer.project_info(&Storage::Memory, project, std::slice::from_ref(&t));
        assert_eq!((info.num_topics, info.events), (1, 2));
        assert_eq!(info.topics[0].types.len(), 2);
        store(&t, 3, "A");
        let mut marks = std::collections::HashMap::new();
        marks.insert(Rlid::new(1, 3), Rlid::new(1, 1));
        t.events.write().replace_duplicates(marks);
        let info = gatherer.project_info(&Storage::Memory, project, std::slice::from_ref(&t));
        assert_eq!((info.events, info.duplicates), (3, 1));
        assert_eq!(
            info.topics[0].event_offset_id[..],
            Rlid::new(1, 3).as_bytes()[..]
        );
    }

    #[test]
    fn a_topic_recreated_with_the_same_id_starts_from_zero() {
        let gatherer = InfoGatherer::default();
        let t = topic("a");
        store(&t, 1, "A");
        let project = Ulid::new();
        assert_eq!(
            gatherer
                .project_info(&Storage::Memory, project, std::slice::from_ref(&t))
                .events,
            1
        );
        let again = TopicEntry::new(t.meta.read().clone());
        drop(t);
        let info = gatherer.project_info(&Storage::Memory, project, &[again]);
        assert_eq!(info.events, 0);
    }
}
