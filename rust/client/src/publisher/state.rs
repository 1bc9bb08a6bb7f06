//! The publisher's shared state, guarded by one `parking_lot::Mutex`: the ack tracker,
//! the outbox of frames waiting for the current stream, the current stream's topic map,
//! and the flush waiters. Held only for short, non-blocking critical sections (admitting
//! a batch, applying a batch of replies, swapping streams).

use std::collections::{HashMap, HashSet, VecDeque};
use std::task::Waker;

use bytes::Bytes;
use ensign_proto::topic_hash::topic_name_hash;
use tokio::sync::oneshot;

use super::tracker::{TopicId, Tracker};

/// Whether a stream is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No stream and none being opened; the next publish starts one.
    Idle,
    /// A stream is up, being opened, or about to be retried.
    Active,
    /// `close()` ran; publishing fails.
    Closed,
}

/// Frames waiting to be written on the stream of generation `gen`.
pub struct Outbox {
    pub gen: u32,
    /// `StreamReady` arrived, frames may flow.
    pub ready: bool,
    /// Half-close once the frames are written (closing).
    pub ending: bool,
    pub frames: VecDeque<(u64, Bytes)>,
    pub waker: Option<Waker>,
}

impl Outbox {
    pub fn new(gen: u32) -> Self {
        Outbox {
            gen,
            ready: false,
            ending: false,
            frames: VecDeque::new(),
            waker: None,
        }
    }

    /// Takes the writer's waker, to be woken once the lock is released.
    pub fn take_waker(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

/// The topics that the current stream accepts, from its `StreamReady`.
#[derive(Default)]
pub struct TopicMap {
    by_name: HashMap<String, TopicId>,
    by_hash: HashMap<[u8; 16], TopicId>,
    ids: HashSet<TopicId>,
}

impl TopicMap {
    /// Builds the map from `StreamReady.topics` (name → 16-byte id); bad ids are skipped.
    pub fn from_ready(topics: &HashMap<String, Bytes>) -> Self {
        let mut m = TopicMap::default();
        for (name, id) in topics {
            let Ok(id) = <TopicId>::try_from(&id[..]) else {
                tracing::warn!("server sent a topic id of {} bytes for {name:?}", id.len());
                continue;
            };
            m.by_name.insert(name.clone(), id);
            m.by_hash.insert(topic_name_hash(name), id);
            m.ids.insert(id);
        }
        m
    }

    /// Whether the stream accepts this topic id.
    pub fn contains(&self, id: &TopicId) -> bool {
        self.ids.contains(id)
    }

    /// Resolves a name, a ULID string or a base64url name hash.
    pub fn lookup(&self, topic: &str) -> Option<TopicId> {
        if let Some(id) = self.by_name.get(topic) {
            return Some(*id);
        }
        if let Ok(u) = ulid::Ulid::from_string(topic) {
            let id = u.to_bytes();
            return self.ids.contains(&id).then_some(id);
        }
        use base64::Engine;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(topic)
            .ok()?;
        let hash = <[u8; 16]>::try_from(&raw[..]).ok()?;
        self.by_hash.get(&hash).copied()
    }

    /// Every (name, id) pair.
    pub fn names(&self) -> impl Iterator<Item = (&str, &TopicId)> {
        self.by_name.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Everything behind the publisher's lock.
pub struct State {
    pub phase: Phase,
    pub tracker: Tracker,
    pub outbox: Outbox,
    pub topics: TopicMap,
    /// (sequence, waiter): wake when every event before the sequence has its outcome.
    pub flushers: Vec<(u64, oneshot::Sender<()>)>,
}

impl State {
    pub fn new() -> Self {
        State {
            phase: Phase::Idle,
            tracker: Tracker::default(),
            outbox: Outbox::new(0),
            topics: TopicMap::default(),
            flushers: Vec::new(),
        }
    }

    /// Wakes the flushers whose events all have outcomes now.
    pub fn wake_flushers(&mut self) {
        if self.flushers.is_empty() {
            return;
        }
        let low = self.tracker.low_watermark();
        let mut i = 0;
        while i < self.flushers.len() {
            if self.flushers[i].0 <= low {
                let (_, tx) = self.flushers.swap_remove(i);
                let _ = tx.send(());
            } else {
                i += 1;
            }
        }
    }

    /// Replaces the current outbox's frames with every pending event, oldest first
    /// (after a broken stream: whatever was sent on it may be lost).
    pub fn requeue_all(&mut self) -> usize {
        let gen = self.outbox.gen;
        let mut frames = VecDeque::new();
        for (seq, slot) in self.tracker.pending_mut() {
            slot.gen = gen;
            frames.push_back((seq, slot.frame.clone()));
        }
        let n = frames.len();
        self.outbox.frames = frames;
        n
    }

    /// Appends the pending events last queued on generation `from` (a stream that has
    /// ended) to the current outbox.
    pub fn requeue_gen(&mut self, from: u32) -> usize {
        let gen = self.outbox.gen;
        let mut n = 0;
        for (seq, slot) in self.tracker.pending_mut() {
            if slot.gen == from {
                slot.gen = gen;
                self.outbox.frames.push_back((seq, slot.frame.clone()));
                n += 1;
            }
        }
        n
    }

    /// Starts a new outbox for generation `gen`, carrying over the frames the previous
    /// stream never wrote. Returns the old outbox's waker so its stream can end.
    pub fn new_outbox(&mut self, gen: u32) -> Option<Waker> {
        let mut old = std::mem::replace(&mut self.outbox, Outbox::new(gen));
        for (seq, _) in &old.frames {
            if let Some(slot) = self.tracker.slot_mut(*seq) {
                slot.gen = gen;
            }
        }
        // Frames of events that got their outcome meanwhile are simply dropped later.
        self.outbox.frames = std::mem::take(&mut old.frames);
        old.take_waker()
    }
}
