//! The per-topic event index that every read goes through: where each stored event's
//! encoded `EventWrapper` lives (in memory, or at a position of the log file) and the
//! duplicate marks of the topic's dedup policy. `storage` fills it; topics own one each.
//!
//! Concurrency: `TopicEvents` sits behind the topic's own `RwLock` (see `topics`);
//! appends happen in RLID order, readers copy a range of entries and release the lock
//! before any I/O.

use std::collections::HashMap;

use bytes::Bytes;
use ensign_proto::rlid::Rlid;

/// Where the encoded `EventWrapper` of a stored event lives.
#[derive(Clone, Debug)]
pub enum Body {
    Mem(Bytes),
    Disk { offset: u64, len: u32 },
}

impl Body {
    pub fn len(&self) -> usize {
        match self {
            Body::Mem(b) => b.len(),
            Body::Disk { len, .. } => *len as usize,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One stored event in the topic index.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    pub rlid: Rlid,
    pub body: Body,
}

/// A topic's events in RLID order, and the duplicate marks of its dedup policy.
#[derive(Default)]
pub struct TopicEvents {
    pub events: Vec<StoredEvent>,
    /// duplicate RLID → original RLID, set by a deduplication rehash.
    pub duplicates: HashMap<Rlid, Rlid>,
    /// Bumped whenever `duplicates` is replaced, so cached statistics know to recount.
    pub dup_generation: u64,
}

impl TopicEvents {
    /// Index of the event with this RLID (events are sorted by RLID).
    pub fn position(&self, rlid: &Rlid) -> Option<usize> {
        self.events.binary_search_by(|e| e.rlid.cmp(rlid)).ok()
    }
    pub fn replace_duplicates(&mut self, marks: HashMap<Rlid, Rlid>) {
        self.duplicates = marks;
        self.dup_generation += 1;
    }
}
