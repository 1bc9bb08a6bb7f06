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
//! A re-send arrives on a *later* stream of the same scope, so the per-event cost is kept
//! off the common path: each publish stream appends its events' keys to its own ring
//! (the last `ServerConfig::resend_window` events, default `DEFAULT_WINDOW`; sequential
//! memory, no hashing). Only when a stream ends, or its client opens another stream
//! while it is still open, are its keys moved into the hash index; streams whose scope
//! has keys there look each of their events up. While an old stream of a client is
//! still open next to its new one, both write their keys through to the index, so a
//! copy committed on either one is found whichever comes first. The index keeps the most recent
//! `INDEX_STREAMS` × window keys of all scopes (~17 MiB at the default) and is rebuilt
//! from the log when a durable server restarts (each event record keeps its scope and
//! local id). A copy that arrives after its first copy left the ring and the index is
//! stored again.
//!
//! A copy can arrive while the first one is still on its way to disk. The copy's answer
//! then waits for its own batch, which the log writer makes durable after the first
//! one's (queue order), and it is acked only if the first one's write succeeded: a write
//! that failed is recorded here (`mark_failed`), its copies are nacked, and a later copy
//! is stored as new.
//!
//! Concurrency: one mutex, taken once per committed batch by the broker (under its
//! append lock, so check-and-record is atomic with RLID assignment), when a stream opens
//! or ends, and by the log writer when a write fails.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

use crate::storage::record::PublishId;
use crate::topics::TopicKey;

/// Default ring of each publish stream, in events.
// NOTE: 16,384 is twice this SDK's default in-flight window (8,192): every event a
// client can be waiting an ack for; 512 KiB per open stream.
pub const DEFAULT_WINDOW: usize = 16_384;
/// The index holds this many streams' worth of keys (262,144 at the default window).
pub const INDEX_STREAMS: usize = 16;

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
    topic: u64,
    local_id: u128,
}

impl ResendKey {
    /// `None` for events that cannot be recognised (no local id).
    pub fn new(id: &PublishId, topic: &TopicKey) -> Option<Self> {
        if id.is_none() {
            return None;
        }
        Some(ResendKey {
            scope: id.scope,
            topic: u64::from_le_bytes(topic.0[8..].try_into().unwrap()),
            local_id: u128::from_le_bytes(id.local_id),
        })
    }
}

impl std::hash::Hash for ResendKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.scope ^ self.topic.rotate_left(29));
        state.write_u128(self.local_id);
    }
}

/// A keyed multiply-fold hasher for `ResendKey` (random keys per process): a few ns
/// instead of SipHash's ~20, and local ids chosen by a client still cannot be made to
/// collide without knowing the keys.
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

/// The keys of one open stream, most recent last, with their commit numbers.
struct Ring {
    scope: u64,
    keys: VecDeque<(ResendKey, u64)>,
    /// Its client opened another stream: its keys go straight to the index.
    superseded: bool,
}

/// Everything behind the lock.
pub struct Window {
    rings: Vec<Option<Ring>>,
    ring_cap: usize,
    index: HashMap<ResendKey, u64, KeyedState>,
    order: VecDeque<ResendKey>,
    index_cap: usize,
    /// Keys in the index per scope: streams of these scopes look their events up.
    scopes: HashMap<u64, usize>,
    /// Open superseded streams per scope: while there are any, every stream of the
    /// scope writes its keys through to the index (the old one may still commit a copy
    /// of what the new one sent).
    contended: HashMap<u64, usize>,
    /// Inclusive ranges of commit sequence numbers whose write failed.
    failed: Vec<(u64, u64)>,
    /// Re-sent events recognised so far.
    recognised: u64,
}

/// A stream's place in the window; `None` once recognition is off.
#[derive(Clone, Copy, Debug)]
pub struct StreamId(Option<usize>);

impl Window {
    fn failed(&self, seq: u64) -> bool {
        self.failed.iter().any(|&(a, b)| a <= seq && seq <= b)
    }

    fn index_insert(&mut self, key: ResendKey, seq: u64) {
        if self.index_cap == 0 {
            return;
        }
        if self.index.insert(key, seq).is_some() {
            return; // stored anew after a failed write: keeps its place in the FIFO
        }
        self.order.push_back(key);
        *self.scopes.entry(key.scope).or_insert(0) += 1;
        if self.order.len() > self.index_cap {
            if let Some(old) = self.order.pop_front() {
                self.index.remove(&old);
                if let Some(n) = self.scopes.get_mut(&old.scope) {
                    *n -= 1;
                    if *n == 0 {
                        self.scopes.remove(&old.scope);
                    }
                }
            }
        }
    }

    /// Moves a ring's keys into the index.
    fn flush(&mut self, ring: usize) {
        let keys = match self.rings[ring].as_mut() {
            Some(r) => std::mem::take(&mut r.keys),
            None => return,
        };
        for (k, seq) in keys {
            self.index_insert(k, seq);
        }
    }

    /// Whether events of this stream must be looked up (their scope has indexed keys).
    pub fn must_check(&self, stream: StreamId) -> bool {
        match stream.0.and_then(|i| self.rings[i].as_ref()) {
            Some(r) => !self.scopes.is_empty() && self.scopes.contains_key(&r.scope),
            None => false,
        }
    }

    fn contended(&self, scope: u64) -> bool {
        !self.contended.is_empty() && self.contended.contains_key(&scope)
    }

    /// The commit sequence number of the first copy if `key` was stored before (and
    /// its write did not fail).
    pub fn lookup(&mut self, key: &ResendKey) -> Option<u64> {
        let first = *self.index.get(key)?;
        if self.failed(first) {
            return None;
        }
        self.recognised += 1;
        Some(first)
    }

    /// Records a stored event of `stream`.
    pub fn record(&mut self, stream: StreamId, key: ResendKey, seq: u64) {
        let Some(i) = stream.0 else { return };
        let Some(ring) = self.rings[i].as_ref() else {
            return;
        };
        if ring.superseded || self.contended(ring.scope) {
            self.index_insert(key, seq);
            return;
        }
        let ring = self.rings[i].as_mut().expect("checked");
        ring.keys.push_back((key, seq));
        if ring.keys.len() > self.ring_cap {
            ring.keys.pop_front();
        }
    }
}

/// The window behind its lock.
pub struct PublishedIndex {
    inner: Mutex<Window>,
}

impl PublishedIndex {
    /// `window`: events remembered per stream (0: recognition off).
    pub fn new(window: usize) -> Self {
        let keys = [rand::random(), rand::random::<u64>() | 1, rand::random()];
        PublishedIndex {
            inner: Mutex::new(Window {
                rings: Vec::new(),
                ring_cap: window,
                index: HashMap::with_hasher(KeyedState(keys)),
                order: VecDeque::new(),
                index_cap: window.saturating_mul(INDEX_STREAMS),
                scopes: HashMap::new(),
                contended: HashMap::new(),
                failed: Vec::new(),
                recognised: 0,
            }),
        }
    }

    /// Keys the index holds at most.
    pub fn index_capacity(window: usize) -> usize {
        window.saturating_mul(INDEX_STREAMS)
    }

    /// Fills the index with the events found in the log, oldest first (commit number
    /// 0: durable).
    pub fn restore(&self, keys: impl IntoIterator<Item = ResendKey>) {
        let mut w = self.inner.lock();
        for k in keys {
            w.index_insert(k, 0);
        }
    }

    /// Registers a new publish stream of `scope`. Other open streams of the scope are
    /// superseded: the client may be re-sending their events on this one.
    pub fn open_stream(self: &Arc<Self>, scope: u64) -> StreamGuard {
        let mut w = self.inner.lock();
        if w.ring_cap == 0 {
            return StreamGuard {
                index: self.clone(),
                id: StreamId(None),
            };
        }
        let older: Vec<usize> = (0..w.rings.len())
            .filter(|&i| matches!(&w.rings[i], Some(r) if r.scope == scope && !r.superseded))
            .collect();
        for i in older {
            w.flush(i);
            if let Some(r) = w.rings[i].as_mut() {
                r.superseded = true;
            }
            *w.contended.entry(scope).or_insert(0) += 1;
        }
        let ring = Ring {
            scope,
            keys: VecDeque::new(),
            superseded: false,
        };
        let i = match w.rings.iter().position(Option::is_none) {
            Some(i) => {
                w.rings[i] = Some(ring);
                i
            }
            None => {
                w.rings.push(Some(ring));
                w.rings.len() - 1
            }
        };
        StreamGuard {
            index: self.clone(),
            id: StreamId(Some(i)),
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
        // Ranges older than every indexed key can no longer match; keep the list short.
        if w.failed.len() > 64 {
            let oldest = w.order.front().and_then(|k| w.index.get(k)).copied();
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

    /// Keys in the index (of ended or superseded streams, and restored from the log).
    pub fn indexed(&self) -> usize {
        self.inner.lock().order.len()
    }
}

/// A publish stream's registration: its keys move to the index when it is dropped.
pub struct StreamGuard {
    index: Arc<PublishedIndex>,
    pub id: StreamId,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if let StreamId(Some(i)) = self.id {
            let mut w = self.index.inner.lock();
            w.flush(i);
            if let Some(r) = w.rings[i].take() {
                if r.superseded {
                    if let Some(n) = w.contended.get_mut(&r.scope) {
                        *n -= 1;
                        if *n == 0 {
                            w.contended.remove(&r.scope);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "idempotence_tests.rs"]
mod tests;
