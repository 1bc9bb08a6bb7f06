//! The subscriber: one bidirectional Subscribe stream per [`Subscription`] (no sharing,
//! no limit on how many run at once), with a bounded prefetch buffer of decoded events
//! and acks/nacks queued on the same stream.
//!
//! Concurrency: each subscription has one task (`driver::run`) that opens the stream,
//! reads it into the [`Inbox`], reconnects after failures (re-sending the same
//! `Subscription`; the server is live-only, so events committed during an outage are
//! not delivered — semantics.md §5) and closes it. Consumers pop pages from the inbox
//! without waiting on the task; acks go into an outbox that the stream's request body
//! drains. Closing cancels the stream (a half-close would not stop the server, §5).

mod driver;
pub mod inbox;
pub mod received;
mod stream;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ensign_proto::api::{self, subscribe_request, StreamReady, SubscribeRequest};
use parking_lot::Mutex;
use prost::Message;
use tokio::sync::{watch, Notify};

pub use inbox::{Inbox, Pop, DEFAULT_BUFFER_BYTES, DEFAULT_BUFFER_EVENTS};
pub use received::{Id, Received};
pub use stream::{Reply, CODE_UNDECODABLE};

use crate::error::{Error, Result};
use crate::publisher::TopicId;
use crate::transport::Transport;
use crate::Client;
use stream::Outbox;

/// The topics a stream's `StreamReady` names: (name, id), sorted by name.
pub type TopicMap = Arc<Vec<(String, TopicId)>>;

/// What to subscribe to.
#[derive(Clone, Debug, Default)]
pub struct SubscribeOptions {
    /// Topic names, ULID strings or name hashes; the server matches each (§2.5). Empty
    /// means every topic of the project.
    pub topics: Vec<String>,
    /// An EnSQL filter (the real server ignores it, semantics.md §5).
    pub query: Option<api::Query>,
    /// A consumer group (the real server ignores it too).
    pub group: Option<api::ConsumerGroup>,
    /// Prefetch buffer size in events; 0 means [`DEFAULT_BUFFER_EVENTS`].
    pub buffer_events: usize,
    /// Prefetch buffer size in bytes; 0 means [`DEFAULT_BUFFER_BYTES`].
    pub buffer_bytes: usize,
}

#[derive(Clone, Debug)]
struct Config {
    reconnect_tick: Duration,
    reconnect_timeout: Duration,
    open_timeout: Duration,
}

/// Why the stream is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    Open,
    /// The consumer is done: drop what is buffered.
    Discard,
    /// The client closed: deliver what is buffered, then end.
    Drain,
}

pub(crate) struct Shared {
    cfg: Config,
    transport: Transport,
    subscription: Bytes,
    label: String,
    inbox: Inbox,
    out: Mutex<Outbox>,
    ready: Mutex<Option<TopicMap>>,
    /// Streams that completed their handshake so far (1 + reconnects).
    connections: AtomicU64,
    /// The client's subscription statistics.
    counters: Arc<crate::stats::SubscribeCounters>,
    /// Readiness, the end of an outbound stream, or the end of the task.
    changed: Notify,
    closing: watch::Sender<Closing>,
    done: watch::Sender<bool>,
}

impl Shared {
    fn set_ready(&self, ready: &StreamReady) {
        let mut topics: Vec<(String, TopicId)> = ready
            .topics
            .iter()
            .filter_map(|(name, id)| Some((name.clone(), <TopicId>::try_from(&id[..]).ok()?)))
            .collect();
        topics.sort();
        *self.ready.lock() = Some(TopicMap::new(topics));
        if self.connections.fetch_add(1, Ordering::AcqRel) > 0 {
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("subscription to {} resumed", self.label);
        }
        self.changed.notify_waiters();
    }

    /// Queues acks/nacks and wakes the stream's writer once.
    fn send(&self, replies: &[Reply<'_>]) {
        if replies.is_empty() {
            return;
        }
        let mut buf = BytesMut::with_capacity(replies.len() * 14);
        let lens: Vec<usize> = replies
            .iter()
            .map(|r| stream::encode_reply(&mut buf, *r))
            .collect();
        let waker = {
            let mut out = self.out.lock();
            if out.ending {
                // The stream is closing: nobody will send these (and the server only
                // counts them, semantics.md §5).
                return;
            }
            for len in lens {
                out.frames.push_back(buf.split_to(len).freeze());
            }
            out.take_waker()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn request_close(&self, how: Closing) {
        self.closing.send_if_modified(|c| {
            if *c == Closing::Open || (*c == Closing::Drain && how == Closing::Discard) {
                *c = how;
                true
            } else {
                false
            }
        });
        if how == Closing::Discard {
            self.inbox.discard();
        }
    }
}

/// A live subscription. Cheap to clone; dropping the last clone closes the stream in
/// the background (clones made by [`Subscription::detached`] do not count).
#[derive(Clone)]
pub struct Subscription {
    shared: Arc<Shared>,
    _guard: Option<Arc<Guard>>,
}

struct Guard(Arc<Shared>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.request_close(Closing::Discard);
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("topics", &self.shared.label)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts a subscription: its task opens the stream right away. Must run inside a
    /// tokio runtime. Errors (unknown topics, permissions, reconnect timeout) are
    /// reported by [`Subscription::ready`] and by the consumer calls.
    pub fn subscribe(&self, opts: SubscribeOptions) -> Result<Subscription> {
        if self.is_closed() {
            return Err(Error::Closed);
        }
        let config = self.config();
        let label = if opts.topics.is_empty() {
            "(every topic)".to_string()
        } else {
            opts.topics.join(", ")
        };
        let subscription = SubscribeRequest {
            embed: Some(subscribe_request::Embed::Subscription(api::Subscription {
                client_id: config.stream_client_id.clone(),
                topics: opts.topics,
                query: opts.query,
                group: opts.group,
            })),
        }
        .encode_to_vec()
        .into();
        let pick = |v: usize, d: usize| if v == 0 { d } else { v };
        let shared = Arc::new(Shared {
            cfg: Config {
                reconnect_tick: config.reconnect_tick,
                reconnect_timeout: config.reconnect_timeout,
                open_timeout: config
                    .connect_timeout
                    .max(crate::publisher::DEFAULT_OPEN_TIMEOUT),
            },
            transport: self.transport().clone(),
            subscription,
            label,
            inbox: Inbox::new(
                pick(opts.buffer_events, DEFAULT_BUFFER_EVENTS),
                pick(opts.buffer_bytes, DEFAULT_BUFFER_BYTES),
            ),
            out: Mutex::new(Outbox::default()),
            ready: Mutex::new(None),
            connections: AtomicU64::new(0),
            counters: self.subscribe_counters(),
            changed: Notify::new(),
            closing: watch::channel(Closing::Open).0,
            done: watch::channel(false).0,
        });
        tokio::spawn(driver::run(shared.clone(), self.streams_closed()));
        Ok(Subscription {
            _guard: Some(Arc::new(Guard(shared.clone()))),
            shared,
        })
    }
}

impl Subscription {
    /// A handle that does not keep the stream open: for waits that must not outlive
    /// the owners' interest (a pending wait then ends when the last owner drops).
    pub fn detached(&self) -> Subscription {
        Subscription {
            shared: self.shared.clone(),
            _guard: None,
        }
    }

    /// Waits for the server's `StreamReady` and returns its topic map (name → id), or
    /// the error that ended the subscription first.
    pub async fn ready(&self) -> Result<TopicMap> {
        self.wait_connected(1).await?;
        self.topics().ok_or(Error::Closed)
    }

    /// How many streams completed their handshake so far (1 + successful reconnects).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Acquire)
    }

    /// Waits until `n` streams have completed their handshake (e.g. 2: the first
    /// reconnect succeeded), or fails with the error that ended the subscription.
    pub async fn wait_connected(&self, n: u64) -> Result<()> {
        loop {
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.connections() >= n {
                return Ok(());
            }
            if self.shared.inbox.is_finished() {
                return Err(self.shared.inbox.error().unwrap_or(Error::Closed));
            }
            changed.await;
        }
    }

    /// The topic map of the current stream, once ready.
    pub fn topics(&self) -> Option<TopicMap> {
        self.shared.ready.lock().clone()
    }

    /// Moves up to `max` buffered events into `out` without waiting.
    pub fn pop(&self, max: usize, out: &mut Vec<Received>) -> Result<Pop> {
        self.shared.inbox.pop(max, out)
    }

    /// Waits until events are buffered or the subscription has ended.
    pub async fn wait(&self) {
        self.shared.inbox.wait_data().await
    }

    /// Waits for events and returns up to `max`; empty means the subscription ended
    /// (closed by the consumer or the client). A failure is returned once everything
    /// received before it has been consumed.
    pub async fn next_batch(&self, max: usize) -> Result<Vec<Received>> {
        self.shared.inbox.next_batch(max).await
    }

    /// Queues `Ack{id}` for the server (no round trip).
    pub fn ack(&self, id: &[u8]) {
        self.shared.send(&[Reply::Ack(id)]);
    }

    /// Queues `Nack{id, code}` for the server (no round trip).
    pub fn nack(&self, id: &[u8], code: i32) {
        self.shared.send(&[Reply::Nack {
            id,
            code,
            error: "",
        }]);
    }

    /// Queues many acks and nacks at once: one lock, one wake-up of the writer.
    pub fn send(&self, replies: &[Reply<'_>]) {
        self.shared.send(replies)
    }

    /// Events skipped because their payload could not be decoded.
    pub fn skipped(&self) -> u64 {
        self.shared.inbox.skipped()
    }

    /// Warnings about skipped events not reported yet.
    pub fn take_warnings(&self) -> Vec<String> {
        self.shared.inbox.take_warnings()
    }

    /// Whether the subscription has ended (buffered events may remain).
    pub fn is_finished(&self) -> bool {
        self.shared.inbox.is_finished()
    }

    /// Asks the stream to close without waiting: buffered events are dropped, queued
    /// acks are sent, then the stream is cancelled.
    pub fn cancel(&self) {
        self.shared.request_close(Closing::Discard);
    }

    /// Cancels the stream and waits (at most a few seconds) until its task has ended.
    pub async fn close(&self) {
        self.cancel();
        let mut done = self.shared.done.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), done.wait_for(|d| *d)).await;
    }
}
