//! The ack tracker: every admitted event from admission to its outcome.
//!
//! Slots live in a `VecDeque` indexed by sequence number minus `base`. The sequence is
//! embedded in the 16-byte `local_id` (bytes 8–15), so an ack finds its slot with a
//! subtraction and a bounds check, then confirms the whole id. Completed slots in the
//! middle (nacks can overtake acks) give up their frame at once and are popped when they
//! reach the front. Not thread-safe by itself: it lives inside the publisher's lock.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::counters::Counters;
use super::outcome::{Outcome, OutcomeSink};

/// A 16-byte topic id.
pub type TopicId = [u8; 16];

/// One admitted event.
pub struct Slot {
    pub local_id: [u8; 16],
    pub topic: TopicId,
    /// The encoded `PublisherRequest`; emptied once the event has its outcome.
    pub frame: Bytes,
    sink: Option<Arc<dyn OutcomeSink>>,
    index: u32,
    /// The stream generation this frame was last queued on.
    pub gen: u32,
    /// Already re-sent once after a `TOPIC_UNKNOWN` nack.
    pub unknown_retried: bool,
    /// When its batch was admitted (ack latency).
    admitted: Instant,
}

impl Slot {
    /// Whether the event has its outcome.
    pub fn done(&self) -> bool {
        self.sink.is_none()
    }
}

/// Sequence-indexed slots plus the in-flight window counters.
pub struct Tracker {
    base: u64,
    slots: VecDeque<Slot>,
    inflight_events: usize,
    inflight_bytes: usize,
    /// Statistics; updated here, where every outcome passes.
    pub counters: Counters,
    /// The admission time of the batch being pushed (one clock read per batch).
    pub admitted_at: Instant,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            base: 0,
            slots: VecDeque::new(),
            inflight_events: 0,
            inflight_bytes: 0,
            counters: Counters::default(),
            admitted_at: Instant::now(),
        }
    }
}

/// What `complete` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    /// The slot got its outcome now.
    Done,
    /// No such pending event (unknown id, or already completed).
    Unknown,
}

/// The sequence number embedded in a local id.
pub fn seq_of(local_id: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = local_id.get(8..16)?.try_into().ok()?;
    (local_id.len() == 16).then(|| u64::from_be_bytes(tail))
}

impl Tracker {
    /// The sequence number the next admitted event gets.
    pub fn next_seq(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    /// Events admitted but without an outcome.
    pub fn inflight_events(&self) -> usize {
        self.inflight_events
    }

    /// Encoded bytes admitted but without an outcome.
    pub fn inflight_bytes(&self) -> usize {
        self.inflight_bytes
    }

    /// Every event before this sequence number has its outcome.
    pub fn low_watermark(&self) -> u64 {
        self.base
    }

    /// Records a new event at `next_seq()`.
    pub fn push(
        &mut self,
        local_id: [u8; 16],
        topic: TopicId,
        frame: Bytes,
        sink: Arc<dyn OutcomeSink>,
        index: u32,
        gen: u32,
    ) {
        let admitted = self.admitted_at;
        self.counters.published += 1;
        self.inflight_events += 1;
        self.inflight_bytes += frame.len();
        self.slots.push_back(Slot {
            local_id,
            topic,
            frame,
            sink: Some(sink),
            index,
            gen,
            unknown_retried: false,
            admitted,
        });
    }

    /// The pending slot for `local_id`, if any.
    pub fn get_mut(&mut self, local_id: &[u8]) -> Option<&mut Slot> {
        let seq = seq_of(local_id)?;
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        let slot = self.slots.get_mut(i)?;
        (slot.local_id[..] == *local_id && !slot.done()).then_some(slot)
    }

    /// Gives the event its outcome, once.
    pub fn complete(&mut self, local_id: &[u8], outcome: Outcome<'_>) -> Completion {
        let Some(slot) = self.get_mut(local_id) else {
            return Completion::Unknown;
        };
        let sink = slot.sink.take().expect("pending slot has a sink");
        let bytes = slot.frame.len();
        slot.frame = Bytes::new();
        sink.outcome(slot.index, &slot.local_id, outcome);
        match outcome {
            Outcome::Acked { .. } => {
                let admitted = slot.admitted;
                self.counters.ack(admitted);
            }
            Outcome::Nacked { .. } => self.counters.nacked += 1,
        }
        self.inflight_events -= 1;
        self.inflight_bytes -= bytes;
        self.pop_done();
        Completion::Done
    }

    /// Gives every pending event (optionally only those queued on `gen`) an outcome.
    pub fn fail_pending(&mut self, only_gen: Option<u32>, outcome: Outcome<'_>) -> usize {
        let mut n = 0;
        for slot in self.slots.iter_mut() {
            if slot.done() || only_gen.is_some_and(|g| g != slot.gen) {
                continue;
            }
            let sink = slot.sink.take().expect("pending slot has a sink");
            self.inflight_bytes -= slot.frame.len();
            slot.frame = Bytes::new();
            sink.outcome(slot.index, &slot.local_id, outcome);
            n += 1;
        }
        self.inflight_events -= n;
        self.counters.nacked += n as u64;
        self.pop_done();
        n
    }

    /// The pending slots, oldest first.
    pub fn pending_mut(&mut self) -> impl Iterator<Item = (u64, &mut Slot)> {
        let base = self.base;
        self.slots
            .iter_mut()
            .enumerate()
            .filter(|(_, s)| !s.done())
            .map(move |(i, s)| (base + i as u64, s))
    }

    /// The pending slot with sequence number `seq`.
    pub fn slot_mut(&mut self, seq: u64) -> Option<&mut Slot> {
        let i = usize::try_from(seq.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(i).filter(|s| !s.done())
    }

    fn pop_done(&mut self) {
        while self.slots.front().is_some_and(Slot::done) {
            self.slots.pop_front();
            self.base += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::outcome::Counter;
    use super::*;

    fn id(seq: u64) -> [u8; 16] {
        let mut b = [0xaa; 16];
        b[8..].copy_from_slice(&seq.to_be_bytes());
        b
    }

    const ACK: Outcome<'static> = Outcome::Acked {
        seconds: 1,
        nanos: 2,
    };

    #[test]
    fn out_of_order_outcomes_each_happen_once() {
        let sink = Arc::new(Counter::default());
        let mut t = Tracker::default();
        for s in 0..4 {
            t.push(
                id(s),
                [0; 16],
                Bytes::from_static(b"abc"),
                sink.clone(),
                s as u32,
                1,
            );
        }
        assert_eq!((t.inflight_events(), t.inflight_bytes()), (4, 12));
        assert_eq!(
            t.complete(
                &id(2),
                Outcome::Nacked {
                    code: 2,
                    error: "x"
                }
            ),
            Completion::Done
        );
        assert_eq!(t.low_watermark(), 0);
        assert_eq!(t.complete(&id(2), ACK), Completion::Unknown);
        assert_eq!(t.complete(&id(0), ACK), Completion::Done);
        assert_eq!(t.low_watermark(), 1);
        assert_eq!(t.complete(&id(1), ACK), Completion::Done);
        assert_eq!(t.low_watermark(), 3);
        assert_eq!(t.inflight_events(), 1);
        // A forged id with the right sequence but other bytes is not accepted.
        let mut forged = id(3);
        forged[0] = 0;
        assert_eq!(t.complete(&forged, ACK), Completion::Unknown);
        assert_eq!(t.complete(&id(9), ACK), Completion::Unknown);
        assert_eq!(t.complete(b"short", ACK), Completion::Unknown);
        assert_eq!(
            t.fail_pending(
                None,
                Outcome::Nacked {
                    code: 100,
                    error: "closed"
                }
            ),
            1
        );
        assert_eq!((sink.acked(), sink.nacked()), (2, 2));
        assert_eq!(
            (t.inflight_events(), t.inflight_bytes(), t.next_seq()),
            (0, 0, 4)
        );
    }

    #[test]
    fn failing_one_generation_leaves_the_others() {
        let sink = Arc::new(Counter::default());
        let mut t = Tracker::default();
        t.push(id(0), [0; 16], Bytes::from_static(b"a"), sink.clone(), 0, 1);
        t.push(id(1), [0; 16], Bytes::from_static(b"b"), sink.clone(), 1, 2);
        assert_eq!(
            t.fail_pending(
                Some(2),
                Outcome::Nacked {
                    code: 101,
                    error: "t"
                }
            ),
            1
        );
        assert_eq!(t.pending_mut().map(|(s, _)| s).collect::<Vec<_>>(), vec![0]);
    }
}
