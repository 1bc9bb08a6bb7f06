//! The publisher: one bidirectional Publish stream per client, carrying every topic.
//!
//! `try_publish` encodes a batch on the caller's thread, admits as much of it as the
//! in-flight window allows under one short lock, and returns at once; the stream task
//! writes the frames, a reader task resolves acks and nacks, and the driver reopens the
//! stream when it breaks (re-sending whatever was not acknowledged) or when a topic
//! newer than the stream's snapshot is published to. See `docs/architecture.md`.

pub mod counters;
mod driver;
pub mod encode;
pub mod outcome;
mod state;
mod stream;
pub mod tracker;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::error::{Error, Result};
use crate::transport::Transport;
pub use counters::PublishStats;
pub use driver::clone_error;
use driver::Command;
pub use encode::{encode_type, EventFields};
pub use outcome::{
    Counter, Outcome, OutcomeSink, CODE_MAX_EVENT_SIZE, CODE_TIMEOUT, CODE_UNPROCESSED,
};
use state::{Phase, State};
pub use stream::DEFAULT_OPEN_TIMEOUT;
pub use tracker::TopicId;

/// Tuning of a publisher (taken from [`crate::ClientConfig`]).
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    pub endpoint: String,
    pub client_id: String,
    pub max_inflight_events: usize,
    pub max_inflight_bytes: usize,
    pub reconnect_tick: Duration,
    pub reconnect_timeout: Duration,
    pub open_timeout: Duration,
    /// Largest encoded `PublisherRequest` sent; larger events are nacked
    /// `MAX_EVENT_SIZE_EXCEEDED` by the client.
    pub max_message_bytes: usize,
}

/// What `try_publish` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// The first `n` events were admitted (all of them, unless the window is full).
    Accepted(usize),
    /// The current stream does not accept this topic: call [`Publisher::resolve`].
    UnknownTopic,
}

pub(crate) struct Shared {
    cfg: PublisherConfig,
    transport: Transport,
    state: Mutex<State>,
    room: Notify,
    cmds: mpsc::UnboundedSender<Command>,
    id_tag: [u8; 2],
}

impl Shared {
    fn wake_writer(&self) {
        let w = self.state.lock().outbox.take_waker();
        if let Some(w) = w {
            w.wake();
        }
    }

    fn notify_room(&self) {
        self.room.notify_waiters();
    }

    /// Room left in the window, in events and bytes.
    fn room(st: &State, cfg: &PublisherConfig) -> (usize, usize) {
        (
            cfg.max_inflight_events
                .saturating_sub(st.tracker.inflight_events()),
            cfg.max_inflight_bytes
                .saturating_sub(st.tracker.inflight_bytes()),
        )
    }
}

/// A handle on the client's publish stream. Cheap to clone; when the last clone is
/// dropped without `close()`, the stream is closed in the background.
#[derive(Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
    _guard: Arc<DropGuard>,
}

struct DropGuard(mpsc::UnboundedSender<Command>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        let (tx, _rx) = oneshot::channel();
        let deadline = Instant::now() + Duration::from_secs(5);
        let _ = self.0.send(Command::Close {
            deadline,
            reply: tx,
        });
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("endpoint", &self.shared.cfg.endpoint)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Publisher {
    /// Creates the publisher; its driver starts now, the stream on first use. Must run
    /// inside a tokio runtime.
    pub fn new(transport: Transport, cfg: PublisherConfig) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            cfg,
            transport,
            state: Mutex::new(State::new()),
            room: Notify::new(),
            cmds: tx,
            id_tag: rand::random(),
        });
        tokio::spawn(driver::run(shared.clone(), rx));
        let guard = Arc::new(DropGuard(shared.cmds.clone()));
        Publisher {
            shared,
            _guard: guard,
        }
    }

    /// Opens the stream if needed and resolves a topic name, ULID string or name hash to
    /// its id. Topics created after the stream opened are found by opening a new stream.
    pub async fn resolve(&self, topic: &str) -> Result<TopicId> {
        self.command(|reply| Command::Start { reply: Some(reply) })
            .await?;
        let gen = {
            let st = self.shared.state.lock();
            if let Some(id) = st.topics.lookup(topic) {
                return Ok(id);
            }
            st.outbox.gen
        };
        self.command(|reply| Command::Rotate {
            for_gen: gen,
            reply: Some(reply),
        })
        .await?;
        self.shared
            .state
            .lock()
            .topics
            .lookup(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_string()))
    }

    /// The current stream's topics (name, id).
    pub fn topics(&self) -> Vec<(String, TopicId)> {
        self.shared
            .state
            .lock()
            .topics
            .names()
            .map(|(n, id)| (n.to_string(), *id))
            .collect()
    }

    async fn command(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<()>>) -> Command,
    ) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.shared.cmds.send(make(tx)).map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

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
            let len = encode::frame_len(encode::event_len(ev));
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
            lens.push(encode::write_frame(&mut buf, topic, ev));
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

    /// Waits until the window has room again (a quarter of it, so that callers admit
    /// whole batches rather than trickles).
    pub async fn wait_for_room(&self) -> Result<()> {
        let cfg = &self.shared.cfg;
        loop {
            let notified = self.shared.room.notified();
            {
                let st = self.shared.state.lock();
                if st.phase == Phase::Closed {
                    return Err(Error::Closed);
                }
                let (events, bytes) = Shared::room(&st, cfg);
                if events >= (cfg.max_inflight_events / 4).max(1)
                    && bytes >= cfg.max_inflight_bytes / 4
                    || st.tracker.inflight_events() == 0
                {
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Waits until every event admitted before this call has its outcome.
    pub async fn flush(&self) -> Result<()> {
        let rx = {
            let mut st = self.shared.state.lock();
            let target = st.tracker.next_seq();
            if st.tracker.low_watermark() >= target {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            st.flushers.push((target, tx));
            rx
        };
        rx.await.map_err(|_| Error::Closed)
    }

    /// Events admitted and still without an outcome.
    pub fn pending(&self) -> usize {
        self.shared.state.lock().tracker.inflight_events()
    }

    /// A snapshot of the statistics (one short lock; nothing is counted per event
    /// beyond a few adds under the lock that admission and acks take anyway).
    pub fn stats(&self) -> PublishStats {
        let st = self.shared.state.lock();
        let t = &st.tracker;
        t.counters.snapshot(t.inflight_events(), t.inflight_bytes())
    }

    /// Flushes (up to `timeout`), half-closes the stream, waits for the server to finish
    /// it, and fails whatever is still pending with `UNPROCESSED`. Idempotent.
    pub async fn close(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        if self.shared.state.lock().phase == Phase::Closed {
            return Ok(());
        }
        let flushed = tokio::time::timeout_at(deadline.into(), self.flush()).await;
        // Leave the server a moment to end the stream even when the flush used it all.
        let grace = deadline.max(Instant::now() + Duration::from_millis(500));
        let (tx, rx) = oneshot::channel();
        if self
            .shared
            .cmds
            .send(Command::Close {
                deadline: grace,
                reply: tx,
            })
            .is_ok()
        {
            let _ = rx.await;
        }
        match flushed {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout(
                "timed out waiting for acks before closing".into(),
            )),
        }
    }
}
