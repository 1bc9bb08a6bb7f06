//! The publisher: one bidirectional Publish stream per client, carrying every topic.
//!
//! `try_publish` encodes a batch on the caller's thread, admits as much of it as the
//! in-flight window allows under one short lock, and returns at once; the stream task
//! writes the frames, a reader task resolves acks and nacks, and the driver reopens the
//! stream when it breaks (re-sending whatever was not acknowledged) or when a topic
//! newer than the stream's snapshot is published to. See `docs/architecture.md`.

mod admit;
pub mod counters;
mod driver;
pub mod encode;
pub mod outcome;
pub mod reply;
mod state;
mod stream;
pub mod tracker;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
