//! Info: project and per-topic statistics (semantics §6.8) with exact counts. Each
//! topic keeps a cache and scans only the events stored since the last call, as the
//! real gatherer does every 75 s; the real counts lag, ours never do.
//!
//! Concurrency: runs on the blocking pool (disk reads, decoding). The topic's event
//! lock is held only to copy the index entries still to scan; the cache has its own
//! mutex, so two Info calls on one topic scan each event once.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use ensign_proto::api;
use ensign_proto::Timestamp;
use prost::Message;
use tonic::{Request, Status};

use crate::auth::Perm;
use crate::broker::timestamp_now;
use crate::state::{ServerState, NOT_AUTHORIZED};
use crate::storage::Storage;
use crate::topics::{TopicEntry, TopicKey};

#[derive(Default, Clone, Copy)]
struct Counts {
    events: u64,
    duplicates: u64,
    bytes: u64,
}

/// A topic's statistics as of its `scanned` first events.
#[derive(Default)]
pub struct InfoCache {
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

pub async fn info(
    state: Arc<ServerState>,
    req: Request<api::InfoRequest>,
) -> Result<api::ProjectInfo, Status> {
    let claims = state.authenticate(req.metadata())?;
    if !(claims.has(Perm::TopicsRead) && claims.has(Perm::MetricsRead)) {
        return Err(Status::permission_denied(NOT_AUTHORIZED));
    }
    state.project_of(&claims)?;
    let mut filter = Vec::new();
    for id in &req.get_ref().topics {
        let key = TopicKey::from_slice(id).ok_or_else(|| {
            Status::invalid_argument("could not parse topic id in info request filter")
        })?;
        filter.push(key);
    }
    let topics: Vec<Arc<TopicEntry>> = {
        let table = state.topics.read();
        table
            .all()
            .filter(|t| filter.is_empty() || filter.contains(&t.key))
            .cloned()
            .collect()
    };
    let run = move || {
        let project = Bytes::copy_from_slice(&state.project_id.to_bytes());
        let mut out = api::ProjectInfo {
            project_id: project.clone(),
            ..Default::default()
        };
        for t in &topics {
            let mut cache = t.info.lock();
            cache.update(&state.storage, t);
            let info = cache.topic_info(t, &project);
            out.num_topics += 1;
            out.num_readonly_topics += u64::from(t.meta.read().readonly);
            out.events += info.events;
            out.duplicates += info.duplicates;
            out.data_size_bytes += info.data_size_bytes;
            out.topics.push(info);
        }
        out
    };
    tokio::task::spawn_blocking(run)
        .await
        .map_err(|_| Status::internal("unable to process project info request"))
}
