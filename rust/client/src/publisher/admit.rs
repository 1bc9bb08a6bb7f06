//! Admission: encoding a batch and registering it in the ack tracker, as much as the
//! in-flight window allows (`try_publish`) or all-or-nothing (`try_publish_whole`, for
//! `on_full="error"`).
//!
//! Concurrency: runs on the caller's thread. The window is read under the publisher lock,
//! the frames are encoded outside it, then the lock is taken once more to check the
//! room again (concurrent publishers may have taken some) and push the slots; the
//! stream's writer is woken after the lock is released.

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;

use super::driver::Command;
use super::outcome::{Outcome, OutcomeSink, CODE_MAX_EVENT_SIZE};
use super::state::Phase;
use super::{encode, now_ms, Admit, EventFields, Publisher, Shared, TopicId};
use crate::error::{Error, Result};

impl Publisher {
    /// How many of `n` events of `len_hint` bytes each the window would admit now.
    pub fn room_for(&self, n: usize, len_hint: usize) -> usize {
        let st = self.shared.state.lock();
        let (events, bytes) = Shared::room(&st, &self.shared.cfg);
        n.min(events).min((bytes / len_hint.max(1)).max(1))
    }

    /// Admits as many `events` as the window allows, returning at once. Event `i` reports
    /// its outcome to `sink` as index `first_index + i`.
    pub fn try_publish(
        &self,
        topic: &TopicId,
        events: &[EventFields<'_>],
        sink: &Arc<dyn OutcomeSink>,
        first_index: u32,
    ) -> Result<Admit> {
        self.admit_some(topic, events, sink, first_index, false)
    }

    /// Like [`Publisher::try_publish`], but admits all of `events` or none of them
    /// (`Accepted(0)`: the window has no room for the whole batch now), for callers that
    /// fail rather than wait when the window is full.
    pub fn try_publish_whole(
        &self,
        topic: &TopicId,
        events: &[EventFields<'_>],
        sink: &Arc<dyn OutcomeSink>,
        first_index: u32,
    ) -> Result<Admit> {
        self.admit_some(topic, events, sink, first_index, true)
    }

    fn admit_some(
        &self,
        topic: &TopicId,
        events: &[EventFields<'_>],
        sink: &Arc<dyn OutcomeSink>,
        first_index: u32,
        whole: bool,
    ) -> Result<Admit> {
        let (fit, start) = {
            let st = self.shared.state.lock();
            if st.phase == Phase::Closed {
                return Err(Error::Closed);
            }
            if !st.topics.contains(topic) {
                return Ok(Admit::UnknownTopic);
            }
            let (room_events, room_bytes) = Shared::room(&st, &self.shared.cfg);
            (
                events.len().min(room_events),
                (room_bytes, st.tracker.inflight_events() == 0),
            )
        };
        if fit == 0 || (whole && fit < events.len()) {
            return Ok(Admit::Accepted(0));
        }
        // Encode outside the lock; the reader keeps applying acks meanwhile.
        let (room_bytes, empty) = start;
        let mut buf = BytesMut::new();
        let mut lens = Vec::with_capacity(fit);
        for ev in &events[..fit] {
            let elen = encode::event_len(ev);
            let len = encode::frame_len(elen);
            if buf.capacity() == 0 {
                // NOTE: sized for the batch from its first event (batches are mostly alike)
                // instead of growing by doubling, which copied the frames written so far
                // again at each step.
                buf.reserve(len.saturating_mul(fit).min(room_bytes).max(len));
            }
            if len > self.shared.cfg.max_message_bytes {
                // Refused below, without taking room: 0 marks "not encoded".
                lens.push(0);
                continue;
            }
            if buf.len() + len > room_bytes && !(empty && lens.iter().all(|l| *l == 0)) {
                if whole {
                    return Ok(Admit::Accepted(0));
                }
                break;
            }
            lens.push(encode::write_frame_sized(&mut buf, topic, ev, elen));
        }
        let admitted = self.admit(topic, events, buf, &lens, sink, first_index, whole)?;
        Ok(Admit::Accepted(admitted))
    }

    #[allow(clippy::too_many_arguments)]
    fn admit(
        &self,
        topic: &TopicId,
        events: &[EventFields<'_>],
        mut buf: BytesMut,
        lens: &[usize],
        sink: &Arc<dyn OutcomeSink>,
        first_index: u32,
        whole: bool,
    ) -> Result<usize> {
        let ms = now_ms().to_be_bytes();
        let admitted = Instant::now();
        let mut st = self.shared.state.lock();
        st.tracker.admitted_at = admitted;
        if st.phase == Phase::Closed {
            return Err(Error::Closed);
        }
        // Concurrent publishers may have taken some room since we looked.
        let (room_events, room_bytes) = Shared::room(&st, &self.shared.cfg);
        let empty = st.tracker.inflight_events() == 0;
        let mut n = 0;
        let mut bytes = 0;
        for len in lens {
            if n == room_events || (bytes + len > room_bytes && !(empty && bytes == 0)) {
                break;
            }
            n += 1;
            bytes += len;
        }
        if whole && n < lens.len() {
            // Concurrent publishers took the room meanwhile: nothing of this batch goes.
            return Ok(0);
        }
        let gen = st.outbox.gen;
        let mut seq = st.tracker.next_seq();
        for (i, len) in lens[..n].iter().enumerate() {
            if *len == 0 {
                // NOTE: a message over the server's limit would not be nacked: it would
                // abort the whole stream (semantics.md §9 row 14), and re-sending it after
                // the reconnect would abort the next one. Refuse it here, visibly.
                let id = ulid::Ulid::new().to_bytes();
                let size = encode::frame_len(encode::event_len(&events[i]));
                st.tracker.counters.published += 1;
                st.tracker.counters.nacked += 1;
                let error = format!(
                    "the event is {size} bytes encoded, above the {} bytes an Ensign server accepts in one message; it was not sent",
                    self.shared.cfg.max_message_bytes
                );
                sink.outcome(
                    first_index + i as u32,
                    &id,
                    Outcome::Nacked {
                        code: CODE_MAX_EVENT_SIZE,
                        error: &error,
                    },
                );
                continue;
            }
            let mut id = [0u8; 16];
            id[..6].copy_from_slice(&ms[2..]);
            id[6..8].copy_from_slice(&self.shared.id_tag);
            id[8..].copy_from_slice(&seq.to_be_bytes());
            let mut frame = buf.split_to(*len);
            frame[len - 16..].copy_from_slice(&id);
            let frame = frame.freeze();
            st.tracker.push(
                id,
                *topic,
                frame.clone(),
                sink.clone(),
                first_index + i as u32,
                gen,
            );
            st.outbox.frames.push_back((seq, frame));
            seq += 1;
        }
        let start = st.phase == Phase::Idle && n > 0;
        if start {
            st.phase = Phase::Active;
        }
        let waker = st.outbox.take_waker();
        drop(st);
        if let Some(w) = waker {
            w.wake();
        }
        if start {
            let _ = self.shared.cmds.send(Command::Start { reply: None });
        }
        Ok(n)
    }
}
