//! Topics of the project: name rules, the table (by id, name and name hash), and the
//! per-stream snapshots that publish and subscribe streams resolve topic ids against.
//!
//! Concurrency: the table sits behind one `RwLock` in `ServerState`; it is written only
//! by topic RPCs (rare) and read when a stream opens. Each `TopicEntry` is shared through
//! an `Arc`; its metadata and its event index have their own locks, so the publish path
//! never takes the table lock.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use ensign_proto::api;
use ensign_proto::topic_hash::topic_name_hash;
use parking_lot::{Mutex, RwLock};
use ulid::Ulid;

use crate::event_index::TopicEvents;

/// Longest topic name in bytes (`MaxTopicNameLength`).
pub const MAX_TOPIC_NAME_LEN: usize = 512;

/// Checks a topic name against `^[a-zA-Z][a-zA-Z0-9._-]*$` and the length limit,
/// returning the real server's messages.
pub fn validate_topic_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("missing name field");
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err("topic name is too long");
    }
    let b = name.as_bytes();
    let ok = b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("topic name is invalid")
    }
}

/// A new topic id: a monotonic ULID, so that topics list in creation order even when
/// several are created within one millisecond (the real server uses `ulids.New`).
pub fn new_topic_id() -> Ulid {
    static GEN: Mutex<Option<ulid::Generator>> = Mutex::new(None);
    let mut g = GEN.lock();
    g.get_or_insert_with(ulid::Generator::new)
        .generate()
        .unwrap_or_else(|_| Ulid::new())
}

/// A topic id as the 16 raw bytes of its ULID. Hashes by its random low half.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct TopicKey(pub [u8; 16]);

impl TopicKey {
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(b).ok().map(TopicKey)
    }
    pub fn ulid(&self) -> Ulid {
        Ulid::from_bytes(self.0)
    }
}

impl Hash for TopicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // NOTE: the low 8 bytes of a ULID are random, so they are a hash already;
        // this keeps the per-event topic lookup at a few ns.
        let mut low = [0u8; 8];
        low.copy_from_slice(&self.0[8..]);
        state.write_u64(u64::from_le_bytes(low));
    }
}

/// Identity hasher for `TopicKey` maps.
#[derive(Default)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub type KeyMap<V> = HashMap<TopicKey, V, BuildHasherDefault<IdHasher>>;

/// One topic: its metadata and its events.
pub struct TopicEntry {
    pub key: TopicKey,
    pub meta: RwLock<api::Topic>,
    pub events: RwLock<TopicEvents>,
    /// Set (under the broker's append lock) once the topic is destroyed: later events
    /// for it are nacked instead of being stored where nobody can read them.
    pub deleted: AtomicBool,
}

impl TopicEntry {
    pub fn new(topic: api::Topic) -> Arc<Self> {
        let key = TopicKey::from_slice(&topic.id).expect("topic ids are 16 bytes");
        Arc::new(TopicEntry {
            key,
            meta: RwLock::new(topic),
            events: RwLock::new(TopicEvents::default()),
            deleted: AtomicBool::new(false),
        })
    }
    pub fn name(&self) -> String {
        self.meta.read().name.clone()
    }
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }
}

/// All topics of the project.
#[derive(Default)]
pub struct TopicTable {
    by_id: BTreeMap<Ulid, Arc<TopicEntry>>,
    by_name: HashMap<String, Ulid>,
    by_hash: BTreeMap<[u8; 16], Ulid>,
}

impl TopicTable {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
    pub fn get(&self, id: &Ulid) -> Option<&Arc<TopicEntry>> {
        self.by_id.get(id)
    }
    pub fn get_by_name(&self, name: &str) -> Option<&Arc<TopicEntry>> {
        self.by_name.get(name).and_then(|id| self.by_id.get(id))
    }
    pub fn contains_name(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }
    pub fn insert(&mut self, entry: Arc<TopicEntry>) {
        let id = entry.key.ulid();
        let name = entry.name();
        self.by_hash.insert(topic_name_hash(&name), id);
        self.by_name.insert(name, id);
        self.by_id.insert(id, entry);
    }
    pub fn remove(&mut self, id: &Ulid) -> Option<Arc<TopicEntry>> {
        let entry = self.by_id.remove(id)?;
        let name = entry.name();
        self.by_name.remove(&name);
        self.by_hash.remove(&topic_name_hash(&name));
        Some(entry)
    }
    /// Topics in id (creation) order, starting after `after`.
    pub fn iter_from(
        &self,
        after: Option<Ulid>,
    ) -> impl Iterator<Item = (&Ulid, &Arc<TopicEntry>)> + '_ {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.by_id.range((start, Unbounded))
    }
    /// Topics in name-hash order, starting after `after`.
    pub fn iter_hashes_from(
        &self,
        after: Option<[u8; 16]>,
    ) -> impl Iterator<Item = (&[u8; 16], &Ulid)> + '_ {
        use std::ops::Bound::{Excluded, Unbounded};
        let start = after.map_or(Unbounded, Excluded);
        self.by_hash.range((start, Unbounded))
    }
    pub fn all(&self) -> impl Iterator<Item = &Arc<TopicEntry>> + '_ {
        self.by_id.values()
    }

    /// Resolves a stream's topic string: an exact name, a ULID string, or a base64url
    /// name hash (semantics §2.5).
    pub fn lookup(&self, s: &str) -> Option<&Arc<TopicEntry>> {
        if let Some(e) = self.get_by_name(s) {
            return Some(e);
        }
        if let Ok(id) = Ulid::from_string(s) {
            if let Some(e) = self.by_id.get(&id) {
                return Some(e);
            }
        }
        let hash = URL_SAFE_NO_PAD.decode(s).ok()?;
        let hash: [u8; 16] = hash.try_into().ok()?;
        self.by_hash.get(&hash).and_then(|id| self.by_id.get(id))
    }

    /// The topics a stream may use: all of them, or those matching `filter` (unknown
    /// entries are dropped silently). `None` when nothing is left.
    pub fn snapshot(&self, filter: &[String]) -> Option<TopicSnapshot> {
        let mut snap = TopicSnapshot::default();
        if filter.is_empty() {
            for e in self.by_id.values() {
                snap.add(e);
            }
        } else {
            for s in filter {
                if let Some(e) = self.lookup(s) {
                    snap.add(e);
                }
            }
        }
        (!snap.by_key.is_empty()).then_some(snap)
    }
}

/// The topics a stream saw when it opened (semantics §4.1: later topics are unknown to
/// it until it reopens).
#[derive(Default)]
pub struct TopicSnapshot {
    pub by_key: KeyMap<Arc<TopicEntry>>,
    /// `StreamReady.topics`: name → 16-byte id.
    pub names: HashMap<String, Bytes>,
}

impl TopicSnapshot {
    fn add(&mut self, e: &Arc<TopicEntry>) {
        self.names
            .insert(e.name(), Bytes::copy_from_slice(&e.key.0));
        self.by_key.insert(e.key, e.clone());
    }
    pub fn get(&self, key: &TopicKey) -> Option<&Arc<TopicEntry>> {
        self.by_key.get(key)
    }
    pub fn contains(&self, key: &TopicKey) -> bool {
        self.by_key.contains_key(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_topic_name("orders").is_ok());
        assert!(validate_topic_name("a.b-c_d9").is_ok());
        assert_eq!(validate_topic_name(""), Err("missing name field"));
        assert_eq!(validate_topic_name("9lives"), Err("topic name is invalid"));
        assert_eq!(validate_topic_name("a b"), Err("topic name is invalid"));
        assert_eq!(
            validate_topic_name(&"a".repeat(513)),
            Err("topic name is too long")
        );
        assert!(validate_topic_name(&"a".repeat(512)).is_ok());
    }
}
