//! Replaying one record into the recovered state, in log order.
//!
//! * Events join their topic; a topic destroyed later drops them with it.
//! * A topic create (re)creates the topic, also with an id destroyed before.
//! * A topic put updates the topic it was written for: one whose `created` time is the
//!   same. A late put for a destroyed topic (a deduplication pass that finished after
//!   the delete) is ignored, also when the id was reused since.
//! * When damage took a topic's create record, its events and later puts must not be
//!   lost with it: a put then stands in for the create, and events without any topic
//!   record are kept in a new topic named `recovered-<id>` (reported).
//!
//! Concurrency: pure functions over the state being rebuilt.

use std::collections::HashMap;

use ensign_proto::api::{self, TopicState};
use ensign_proto::rlid::Rlid;
use prost::Message;

use super::record::{self, PublishId, EVENT_PREFIX};
use super::replay::{stored, Recovered, RecoveredTopic};
use crate::idempotence::ResendKey;
use crate::topics::TopicKey;

/// Why a record that passed its checksum was not applied.
pub enum Refused {
    /// A kind this version does not know.
    Unknown(u8),
    /// A payload that does not parse.
    Malformed(String),
}

fn key(payload: &[u8]) -> Result<TopicKey, Refused> {
    payload
        .get(..16)
        .and_then(TopicKey::from_slice)
        .ok_or_else(|| Refused::Malformed("short topic id".into()))
}

fn new_topic(topic: api::Topic) -> RecoveredTopic {
    RecoveredTopic {
        topic,
        events: Vec::new(),
        duplicates: HashMap::new(),
    }
}

/// Applies one record. `offset` is the file offset of its payload.
pub fn record(out: &mut Recovered, kind: u8, payload: &[u8], offset: u64) -> Result<(), Refused> {
    match kind {
        record::KIND_EVENT => {
            if payload.len() < EVENT_PREFIX {
                return Err(Refused::Malformed("short event record".into()));
            }
            let topic = key(payload)?;
            let rlid = Rlid::from_slice(&payload[16..26]).expect("10 bytes");
            let id = PublishId {
                scope: u64::from_le_bytes(payload[26..34].try_into().unwrap()),
                local_id: payload[34..50].try_into().unwrap(),
            };
            out.events += 1;
            if out.max_rlid.is_none_or(|m| rlid > m) {
                out.max_rlid = Some(rlid);
            }
            if let Some(k) = ResendKey::new(&id, &topic) {
                out.resend.push_back(k);
                if out.resend.len() > out.resend_keys {
                    out.resend.pop_front();
                }
            }
            let ev = stored(
                rlid,
                offset + EVENT_PREFIX as u64,
                payload.len() - EVENT_PREFIX,
            );
            if let Some(t) = out.topics.get_mut(&topic) {
                t.events.push(ev);
            } else if !out.destroyed.contains(&topic) {
                out.orphans.entry(topic).or_default().push(ev);
            }
        }
        record::KIND_TOPIC_CREATE | record::KIND_TOPIC_PUT => {
            let topic =
                api::Topic::decode(payload).map_err(|e| Refused::Malformed(e.to_string()))?;
            let k = TopicKey::from_slice(&topic.id)
                .ok_or_else(|| Refused::Malformed("topic without a 16-byte id".into()))?;
            if kind == record::KIND_TOPIC_CREATE {
                out.destroyed.remove(&k);
                out.orphans.remove(&k);
                out.topics.insert(k, new_topic(topic));
                return Ok(());
            }
            match out.topics.get_mut(&k) {
                Some(t) if t.topic.created == topic.created => t.topic = topic,
                // A late update of an earlier topic with this id.
                Some(_) => {}
                None if out.destroyed.contains(&k) => {}
                None => {
                    // Its create record was lost: this put is the best copy left.
                    let mut t = new_topic(topic);
                    t.events = out.orphans.remove(&k).unwrap_or_default();
                    out.report.actions.push(format!(
                        "topic {} was restored from an update record (its create record \
                         was damaged)",
                        k.ulid()
                    ));
                    out.topics.insert(k, t);
                }
            }
        }
        record::KIND_TOPIC_DELETE => {
            let k = key(payload)?;
            out.topics.remove(&k);
            out.orphans.remove(&k);
            out.destroyed.insert(k);
        }
        record::KIND_DUPLICATES => {
            let k = key(payload)?;
            let pairs = &payload[16..];
            if !pairs.len().is_multiple_of(20) {
                return Err(Refused::Malformed("bad duplicates record".into()));
            }
            if let Some(t) = out.topics.get_mut(&k) {
                t.duplicates = pairs
                    .chunks_exact(20)
                    .map(|c| {
                        (
                            Rlid::from_slice(&c[..10]).expect("10 bytes"),
                            Rlid::from_slice(&c[10..]).expect("10 bytes"),
                        )
                    })
                    .collect();
            }
        }
        other => return Err(Refused::Unknown(other)),
    }
    Ok(())
}

/// Keeps events whose topic records were all lost in topics named `recovered-<id>`.
pub fn adopt_orphans(out: &mut Recovered) {
    for (k, events) in std::mem::take(&mut out.orphans) {
        let name = format!("recovered-{}", k.ulid());
        out.report.actions.push(format!(
            "{} events of topic {} whose create record was damaged are kept in a new \
             topic named {name}",
            events.len(),
            k.ulid()
        ));
        // The id's own time, so the topic looks the same at every start.
        let ms = k.ulid().timestamp_ms();
        let now = ensign_proto::Timestamp {
            seconds: (ms / 1000) as i64,
            nanos: ((ms % 1000) * 1_000_000) as i32,
        };
        let topic = api::Topic {
            id: k.0.to_vec().into(),
            name,
            status: TopicState::Ready as i32,
            created: Some(now),
            modified: Some(now),
            ..Default::default()
        };
        let mut t = new_topic(topic);
        t.events = events;
        out.topics.insert(k, t);
    }
}
