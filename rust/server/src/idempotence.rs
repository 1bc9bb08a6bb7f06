//! Idempotent publishing: the server recognises an event it already stored when its
//! publisher sends it again (after a reconnect the SDKs re-send every event without an
//! ack, including those the server stored but could not ack before the connection
//! dropped) and acks the copy without storing it twice.
//!
//! An event is identified by its publisher's *scope* — a hash of the token's subject
//! (the API key) and `OpenStream.client_id`, which pyensign and this SDK keep for the
//! whole life of a client — plus its topic and its 16-byte `local_id`, which both SDKs
//! make unique per client. Events without a 16-byte, non-zero `local_id` are always
//! stored. go-ensign sends a new `client_id` on every stream, so its re-sends are not
//! recognised (stored again, as by the real server).
//!
//! The window is bounded: the last `ServerConfig::resend_window` events (default
//! `DEFAULT_WINDOW`). A copy that arrives after more events than that were published is
//! stored again. Entries cost ~64 bytes each (hash table and FIFO), ~17 MiB when full at
//! the default. The window is rebuilt from the log when a durable server restarts (each
//! event record keeps its scope and local id), so re-sends after a restart are caught.
//!
//! A copy can arrive while the first one is still on its way to disk. The copy's answer
//! then waits for its own batch, which the log writer makes durable after the first
//! one's (queue order), and it is acked only if the first one's write succeeded: a write
//! that failed is recorded here (`mark_failed`), its copies are nacked, and a later copy
//! is stored as new.
//!
//! Concurrency: one mutex, taken once per committed batch by the broker (under its
//! append lock, so check-and-insert is atomic with RLID assignment) and by the log
//! writer when a write fails.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};

use parking_lot::{Mutex, MutexGuard};

use crate::storage::record::PublishId;
use crate::topics::TopicKey;

/// Default size of the window, in events.
// NOTE: 262,144 covers 32 SDK clients re-sending a full default in-flight window (8,192)
// each, for ~17 MiB; raise it for more concurrent publishers.
pub const DEFAULT_WINDOW: usize = 262_144;

/// A publisher scope: FNV-1a (stable across versions, so it can be kept on disk) of the
/// publisher id and client id.
pub fn publisher_scope(publisher_id: &str, client_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in publisher_id.bytes().chain([0xff]).chain(client_id.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What identifies an event across re-sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResendKey {
    scope: u64,
    local_id: u128,
}

impl ResendKey {
    /// `None` for events that cannot be recognised (no local id).
    pub fn new(id: &PublishId, topic: &TopicKey) -> Option<Self> {
        if id.is_none() {
            return None;
        }
        let topic_low = u64::from_le_bytes(topic.0[8..].try_into().unwrap());
        Some(ResendKey {
            scope: id.scope ^ topic_low.rotate_left(29),
            local_id: u128::from_le_bytes(id.local_id),
        })
    }
}

impl std::hash::Hash for ResendKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.scope);
        state.write_u128(self.local_id);
    }
}

/// A keyed multiply-fold hasher for `ResendKey` (random keys per process): a few ns
/// instead of SipHash's ~20 on the publish path, and local ids chosen by a client still
/// cannot be made to collide without knowing the keys.
#[derive(Clone, Copy)]
struct KeyedState([u64; 3]);

struct KeyedHasher {
    keys: [u64; 3],
    h: u64,
}

fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for KeyedHasher {
    fn finish(&self) -> u64 {
        self.h
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.h = fold_mul(self.h ^ v ^ self.keys[0], self.keys[1]);
    }
    fn write_u128(&mut self, v: u128) {
        let m = fold_mul((v as u64) ^ self.keys[1], ((v >> 64) as u64) ^ self.keys[2]);
        self.write_u64(m);
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher {
            keys: self.0,
            h: self.0[2],
        }
    }
}

/// The recent events, by key, with the commit sequence number of their batch.
pub struct Window {
    map: HashMap<ResendKey, u64, KeyedState>,
    order: VecDeque<ResendKey>,
    limit: usize,
    /// Inclusive ranges of commit sequence numbers whose write failed.
    failed: Vec<(u64, u64)>,
    /// Re-sent events recognised so far.
    recognised: u64,
}

impl Window {
    fn failed(&self, seq: u64) -> bool {
        self.failed.iter().any(|&(a, b)| a <= seq && seq <= b)
    }

    /// The commit sequence number of the first copy when `key` was published before
    /// (and its write did not fail); otherwise records it under `seq` and returns `None`.
    pub fn check(&mut self, key: ResendKey, seq: u64) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        match self.map.get(&key).copied() {
            Some(first) if !self.failed(first) => {
                self.recognised += 1;
                return Some(first);
            }
            // Stored anew; it keeps its place in the FIFO.
            Some(_) => {
                self.map.insert(key, seq);
            }
            None => {
                self.map.insert(key, seq);
                self.order.push_back(key);
                if self.order.len() > self.limit {
                    if let Some(old) = self.order.pop_front() {
                        self.map.remove(&old);
                    }
                }
            }
        }
        None
    }
}

/// The window behind its lock.
pub struct PublishedIndex {
    inner: Mutex<Window>,
}

impl PublishedIndex {
    pub fn new(limit: usize) -> Self {
        let keys = [rand::random(), rand::random::<u64>() | 1, rand::random()];
        PublishedIndex {
            inner: Mutex::new(Window {
                map: HashMap::with_hasher(KeyedState(keys)),
                order: VecDeque::new(),
                limit,
                failed: Vec::new(),
                recognised: 0,
            }),
        }
    }

    /// Fills the window with the events found in the log, oldest first (sequence 0:
    /// durable).
    pub fn restore(&self, keys: impl IntoIterator<Item = ResendKey>) {
        let mut w = self.inner.lock();
        for k in keys {
            w.check(k, 0);
        }
    }

    /// The window, for the checks of one batch.
    pub fn lock(&self) -> MutexGuard<'_, Window> {
        self.inner.lock()
    }

    /// Records that the batches with these commit sequence numbers were not stored.
    pub fn mark_failed(&self, seqs: impl IntoIterator<Item = u64>) {
        let mut w = self.inner.lock();
        for s in seqs {
            match w.failed.last_mut() {
                Some((_, end)) if *end + 1 == s || *end == s => *end = s,
                _ => w.failed.push((s, s)),
            }
        }
        // Ranges older than every entry can no longer match; keep the list short.
        if w.failed.len() > 64 {
            let oldest = w.order.front().and_then(|k| w.map.get(k)).copied();
            if let Some(oldest) = oldest {
                w.failed.retain(|&(_, end)| end >= oldest);
            }
        }
    }

    /// Whether the batch with this commit sequence number failed to be stored.
    pub fn failed(&self, seq: u64) -> bool {
        self.inner.lock().failed(seq)
    }

    /// Re-sent events recognised (acked without being stored again) since start.
    pub fn recognised(&self) -> u64 {
        self.inner.lock().recognised
    }

    /// Events in the window.
    pub fn len(&self) -> usize {
        self.inner.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: u64, n: u8) -> ResendKey {
        let mut local_id = [0u8; 16];
        local_id[15] = n;
        local_id[0] = 1;
        ResendKey::new(&PublishId { scope, local_id }, &TopicKey([3; 16])).unwrap()
    }

    #[test]
    fn recognises_copies_within_the_window_only() {
        let idx = PublishedIndex::new(3);
        let mut w = idx.lock();
        assert_eq!(w.check(key(1, 1), 10), None);
        assert_eq!(w.check(key(1, 1), 11), Some(10));
        assert_eq!(w.check(key(2, 1), 11), None, "another publisher");
        w.check(key(1, 2), 12);
        w.check(key(1, 3), 13);
        // key(1, 1) was evicted by the fourth entry.
        assert_eq!(w.check(key(1, 1), 14), None);
        assert_eq!(w.check(key(1, 3), 15), Some(13));
        drop(w);
        assert_eq!(idx.len(), 3);
        assert_eq!(idx.recognised(), 2);
    }

    #[test]
    fn a_failed_first_copy_makes_the_next_one_new() {
        let idx = PublishedIndex::new(10);
        assert_eq!(idx.lock().check(key(1, 1), 5), None);
        idx.mark_failed([5, 6]);
        assert!(idx.failed(5) && idx.failed(6) && !idx.failed(7) && !idx.failed(4));
        assert_eq!(idx.lock().check(key(1, 1), 8), None, "stored anew");
        assert_eq!(idx.lock().check(key(1, 1), 9), Some(8));
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn events_without_a_local_id_are_never_recognised() {
        let none = PublishId::default();
        assert!(ResendKey::new(&none, &TopicKey([1; 16])).is_none());
        let idx = PublishedIndex::new(0);
        assert_eq!(idx.lock().check(key(1, 1), 1), None);
        assert_eq!(idx.lock().check(key(1, 1), 2), None, "window 0: off");
    }

    #[test]
    fn scopes_are_stable_and_distinct() {
        assert_eq!(publisher_scope("a", "b"), publisher_scope("a", "b"));
        assert_ne!(publisher_scope("a", "b"), publisher_scope("ab", ""));
        assert_ne!(publisher_scope("", "x"), publisher_scope("x", ""));
        // FNV-1a of the empty publisher and client ids (kept on disk: must not change).
        assert_eq!(publisher_scope("", ""), 0xaf64_724c_8602_eb6e);
    }
}
