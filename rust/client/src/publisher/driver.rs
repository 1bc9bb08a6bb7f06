//! The publish stream's driver: one task per publisher that decides when streams open,
//! reopen and close. It reacts to commands only — connection attempts and readers run
//! as their own tasks and report back — so a close or a rotation is never stuck behind
//! a reconnect back-off.
//!
//! Reconnects: when the live stream breaks, the first attempt starts at once, later ones
//! every `reconnect_tick`, until `reconnect_timeout` has passed since the outage began;
//! then every pending event fails with `TIMEOUT` and the publisher goes idle (the next
//! publish starts again). A successful reconnect re-sends every pending event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

use super::outcome::{Outcome, CODE_TIMEOUT, CODE_UNPROCESSED};
use super::state::{Phase, TopicMap};
use super::stream::{self, Opened};
use super::Shared;
use crate::error::{Error, Result};

/// What the driver is asked to do, or told.
pub enum Command {
    /// Make sure a stream is up; reply once it is (or cannot be).
    Start {
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// Replace the live stream `for_gen` with a fresh one (new topic snapshot).
    Rotate {
        for_gen: u32,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// A connection attempt finished.
    Connected {
        gen: u32,
        result: Result<Box<Opened>>,
    },
    /// Time for the next connection attempt.
    Retry,
    /// A reader saw its stream end.
    ReaderDone { gen: u32, result: Result<()> },
    /// Half-close, wait for the server to finish (until `deadline`), then stop.
    Close {
        deadline: Instant,
        reply: oneshot::Sender<()>,
    },
    /// The close deadline passed.
    CloseDeadline,
}

struct Driver {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Command>,
    next_gen: u32,
    live: Option<u32>,
    connecting: Option<u32>,
    retry_scheduled: bool,
    outage_since: Option<Instant>,
    /// The live stream broke: the next stream that opens is a reconnect.
    resuming: bool,
    waiting: Vec<oneshot::Sender<Result<()>>>,
    readers: HashMap<u32, AbortHandle>,
    closing: Option<oneshot::Sender<()>>,
}

/// Runs the driver until the publisher is closed.
pub async fn run(shared: Arc<Shared>, rx: mpsc::UnboundedReceiver<Command>) {
    let mut d = Driver {
        shared,
        rx,
        next_gen: 1,
        live: None,
        connecting: None,
        retry_scheduled: false,
        outage_since: None,
        resuming: false,
        waiting: Vec::new(),
        readers: HashMap::new(),
        closing: None,
    };
    while let Some(cmd) = d.rx.recv().await {
        if d.handle(cmd) {
            break;
        }
    }
    for (_, r) in d.readers.drain() {
        r.abort();
    }
}

impl Driver {
    /// Returns true when the driver is done.
    fn handle(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Start { reply } => {
                if self.closing.is_some() {
                    reply_to(reply, Err(Error::Closed));
                } else if self.live.is_some() {
                    reply_to(reply, Ok(()));
                } else {
                    self.waiting.extend(reply);
                    self.connect_if_idle();
                }
            }
            Command::Rotate { for_gen, reply } => {
                if self.closing.is_some() {
                    reply_to(reply, Err(Error::Closed));
                } else if self.live.is_none() || self.live == Some(for_gen) {
                    self.waiting.extend(reply);
                    self.connect_if_idle();
                } else {
                    // A newer stream already exists: its snapshot is as fresh as any.
                    reply_to(reply, Ok(()));
                }
            }
            Command::Connected { gen, result } => return self.connected(gen, result),
            Command::Retry => {
                self.retry_scheduled = false;
                self.connect_if_idle();
            }
            Command::ReaderDone { gen, result } => return self.reader_done(gen, result),
            Command::Close { deadline, reply } => {
                self.closing = Some(reply);
                if self.live.is_none() {
                    return self.finish_close();
                }
                self.shared.state.lock().outbox.ending = true;
                self.shared.wake_writer();
                let tx = self.shared.cmds.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(deadline.into()).await;
                    let _ = tx.send(Command::CloseDeadline);
                });
            }
            Command::CloseDeadline => {
                if self.closing.is_some() {
                    return self.finish_close();
                }
            }
        }
        false
    }

    fn connect_if_idle(&mut self) {
        if self.connecting.is_some() || self.retry_scheduled {
            return;
        }
        let gen = self.next_gen;
        self.next_gen += 1;
        self.connecting = Some(gen);
        // A rotation: the live stream half-closes and drains in the background; what it
        // leaves unanswered is re-queued when its reader ends.
        let rotating = self.live.take().is_some();
        {
            let mut st = self.shared.state.lock();
            st.phase = Phase::Active;
            let old = st.new_outbox(gen);
            if !rotating {
                // No stream is live: send everything pending again.
                st.requeue_all();
            }
            drop(st);
            if let Some(w) = old {
                w.wake();
            }
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let result = stream::open(&shared, gen).await.map(Box::new);
            let _ = shared.cmds.send(Command::Connected { gen, result });
        });
    }

    fn connected(&mut self, gen: u32, result: Result<Box<Opened>>) -> bool {
        if self.connecting != Some(gen) {
            return false;
        }
        self.connecting = None;
        match result {
            Ok(opened) => {
                let Opened { replies, ready } = *opened;
                {
                    let mut st = self.shared.state.lock();
                    if std::mem::take(&mut self.resuming) {
                        st.tracker.counters.reconnects += 1;
                        let outage = self.outage_since.map(|s| s.elapsed()).unwrap_or_default();
                        tracing::info!(
                            "publish stream resumed after {outage:.1?}; re-sending {} event(s) without an ack",
                            st.outbox.frames.len()
                        );
                    }
                    st.topics = TopicMap::from_ready(&ready.topics);
                    st.outbox.ready = true;
                    if self.closing.is_some() {
                        st.outbox.ending = true;
                    }
                }
                self.shared.wake_writer();
                let handle = tokio::spawn(stream::read(self.shared.clone(), gen, replies));
                self.readers.insert(gen, handle.abort_handle());
                self.live = Some(gen);
                self.outage_since = None;
                for w in self.waiting.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                let first = self.outage_since.is_none();
                let since = *self.outage_since.get_or_insert_with(Instant::now);
                let cfg = &self.shared.cfg;
                if self.closing.is_some() {
                    return self.finish_close();
                }
                if e.is_transient() && since.elapsed() < cfg.reconnect_timeout {
                    // One WARNING per outage; the retries that follow are DEBUG.
                    if first {
                        tracing::warn!(
                            "publish stream not available ({e}); retrying every {:?} for up to {:?}",
                            cfg.reconnect_tick,
                            cfg.reconnect_timeout
                        );
                    } else {
                        tracing::debug!("publish stream still not available ({e}); retrying");
                    }
                    self.schedule_retry();
                } else {
                    self.give_up(e);
                }
            }
        }
        false
    }

    fn reader_done(&mut self, gen: u32, result: Result<()>) -> bool {
        self.readers.remove(&gen);
        if self.live != Some(gen) {
            // A rotated-out stream finished draining: whatever it left unanswered goes
            // to the current stream (or waits for the next one).
            let mut st = self.shared.state.lock();
            if st.outbox.gen != gen {
                st.requeue_gen(gen);
            }
            drop(st);
            self.shared.wake_writer();
            if self.closing.is_some() && self.live.is_none() && self.connecting.is_none() {
                return self.finish_close();
            }
            return false;
        }
        self.live = None;
        if self.closing.is_some() {
            return self.finish_close();
        }
        let pending = self.shared.state.lock().tracker.inflight_events();
        match &result {
            Ok(()) => tracing::warn!(
                "the server ended the publish stream; reconnecting ({pending} event(s) without an ack will be re-sent)"
            ),
            Err(e) => tracing::warn!(
                "publish stream broke ({e}); reconnecting ({pending} event(s) without an ack will be re-sent)"
            ),
        }
        self.resuming = true;
        self.outage_since = Some(Instant::now());
        self.connect_if_idle();
        false
    }

    fn schedule_retry(&mut self) {
        self.retry_scheduled = true;
        let tx = self.shared.cmds.clone();
        let tick = self.shared.cfg.reconnect_tick;
        tokio::spawn(async move {
            tokio::time::sleep(tick).await;
            let _ = tx.send(Command::Retry);
        });
    }

    /// Reconnecting failed for good: every pending event fails and the publisher idles.
    fn give_up(&mut self, e: Error) {
        let timed_out = self
            .outage_since
            .is_some_and(|s| s.elapsed() >= self.shared.cfg.reconnect_timeout);
        self.outage_since = None;
        self.resuming = false;
        let (code, text) = if timed_out {
            (
                CODE_TIMEOUT,
                format!("could not reconnect to Ensign before the reconnect timeout: {e}"),
            )
        } else {
            (
                nack_code_for(&e),
                format!("could not open the publish stream: {e}"),
            )
        };
        tracing::warn!("{text}");
        {
            let mut st = self.shared.state.lock();
            st.tracker
                .fail_pending(None, Outcome::Nacked { code, error: &text });
            st.outbox.frames.clear();
            st.phase = Phase::Idle;
            st.wake_flushers();
        }
        self.shared.notify_room();
        for w in self.waiting.drain(..) {
            let reply = if timed_out {
                Error::Timeout(text.clone())
            } else {
                clone_error(&e)
            };
            let _ = w.send(Err(reply));
        }
    }

    fn finish_close(&mut self) -> bool {
        {
            let mut st = self.shared.state.lock();
            let text = "the client was closed before the event was acknowledged";
            let n = st.tracker.fail_pending(
                None,
                Outcome::Nacked {
                    code: CODE_UNPROCESSED,
                    error: text,
                },
            );
            st.outbox.frames.clear();
            st.outbox.ending = true;
            st.phase = Phase::Closed;
            st.wake_flushers();
            if n > 0 {
                tracing::warn!(
                    "{n} event(s) unprocessed at close: nacked UNPROCESSED (no ack before the close timeout)"
                );
            }
        }
        self.shared.wake_writer();
        self.shared.notify_room();
        for w in self.waiting.drain(..) {
            let _ = w.send(Err(Error::Closed));
        }
        if let Some(reply) = self.closing.take() {
            let _ = reply.send(());
        }
        true
    }
}

fn reply_to(reply: Option<oneshot::Sender<Result<()>>>, r: Result<()>) {
    if let Some(tx) = reply {
        let _ = tx.send(r);
    }
}

/// The client-side nack code for events that fail because a stream cannot be opened.
fn nack_code_for(e: &Error) -> i32 {
    use ensign_proto::api::nack::Code;
    match e.code() {
        Some(tonic::Code::PermissionDenied) | Some(tonic::Code::Unauthenticated) => {
            Code::PermissionDenied as i32
        }
        Some(tonic::Code::FailedPrecondition) => Code::TopicUnknown as i32,
        _ => Code::Unprocessed as i32,
    }
}

/// Errors are not `Clone` (tonic statuses carry extensions); rebuild the parts we show.
pub fn clone_error(e: &Error) -> Error {
    match e {
        Error::Rpc(s) => Error::Rpc(tonic::Status::new(s.code(), s.message())),
        Error::Connect { endpoint, reason } => Error::Connect {
            endpoint: endpoint.clone(),
            reason: reason.clone(),
        },
        Error::Auth(s) => Error::Auth(s.clone()),
        Error::AuthRefused(s) => Error::AuthRefused(s.clone()),
        Error::Config(s) => Error::Config(s.clone()),
        Error::UnknownTopic(s) => Error::UnknownTopic(s.clone()),
        Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
        Error::Protocol(s) => Error::Protocol(s.clone()),
        Error::Timeout(s) => Error::Timeout(s.clone()),
        Error::Closed => Error::Closed,
        Error::NoRows => Error::NoRows,
    }
}
