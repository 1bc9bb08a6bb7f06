//! Publish: the stream that validates, commits and acknowledges events (semantics
//! §4.2–4.5), without the real server's loss paths (the handshake is `publish_open`).
//!
//! Concurrency: no task and no channel per stream. `PublishStream` is the response
//! body tonic polls; each poll hands out ready replies, collects finished disk commits,
//! and reads every request that is already buffered into one batch for one
//! `Broker::commit`. A batch whose topics have a full subscriber is held (not
//! committed, nothing more read) until that subscriber has room; subscribers of other
//! topics never hold it. Reading also stops while `publish_window` events await
//! durability, and whenever tonic stops polling because the client does not read its
//! acks: HTTP/2 flow control then pushes back on the client. Nothing read is
//! ever left without an ack or nack, and `CloseStream` is sent only after the client
//! half-closed and every event before that has its answer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use ensign_proto::api::{self, nack::Code, publisher_reply, publisher_request, PublisherReply};
use ensign_proto::Timestamp;
use futures_util::{FutureExt, Stream, StreamExt};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tonic::{Status, Streaming};

pub use super::nack_texts::default_nack_message;
pub use super::publish_open::open;
use crate::broker::{PendingEvent, PublisherInfo};
use crate::grpc::recv::Inbound;
use crate::metrics::Online;
use crate::state::ServerState;
use crate::storage::{Receipt, StorageError};
use crate::topics::{KeyMap, TopicKey, TopicSnapshot};

/// `EventMaxDataSize`: the largest `EventWrapper.event` accepted.
pub const MAX_EVENT_SIZE: usize = 5_243_000;
// NOTE: 4096 events or 4 MiB per commit: a whole 64 KiB HTTP/2 read is ~400 events
// of 100 B, so batches are bounded by what is buffered, not by these caps.
const MAX_BATCH_EVENTS: usize = 4096;
const MAX_BATCH_BYTES: usize = 4 << 20;

impl PublishStream {
    /// A stream with nothing to say: the client left before its handshake.
    pub(super) fn empty() -> Self {
        PublishStream { inner: None }
    }

    /// The stream of a completed handshake: `StreamReady` is its first reply.
    pub(super) fn opened(
        state: Arc<ServerState>,
        inbound: Inbound<Streaming<api::PublisherRequest>>,
        snapshot: TopicSnapshot,
        publisher: PublisherInfo,
        ready: api::StreamReady,
    ) -> Self {
        let mut outbox = VecDeque::new();
        outbox.push_back(reply(publisher_reply::Embed::Ready(ready)));
        let shutdown = state.shutdown.clone().cancelled_owned();
        PublishStream {
            inner: Some(Box::new(Inner {
                online: Some(Online::new(&state.metrics.online_publishers)),
                held: None,
                window: state.publish_window.max(1),
                state,
                inbound,
                end: None,
                snapshot,
                publisher,
                outbox,
                inflight: VecDeque::new(),
                inflight_events: 0,
                spare_events: Vec::new(),
                shutdown: Box::pin(shutdown),
                counts: api::CloseStream::default(),
                topics_seen: KeyMap::default(),
                finished: false,
            })),
        }
    }
}

fn reply(embed: publisher_reply::Embed) -> PublisherReply {
    PublisherReply { embed: Some(embed) }
}

/// Why the stream stopped reading.
enum End {
    /// The client half-closed: answer everything, then `CloseStream`, then OK.
    HalfClosed,
    /// Client cancel: nobody is listening; stop.
    Cancelled,
    /// Protocol error or server shutdown: answer everything, then this status.
    Error(Status),
}

/// A batch read and validated, not yet committed.
struct Batch {
    events: Vec<PendingEvent>,
    local_ids: Vec<Bytes>,
    topics: Vec<TopicKey>,
}

/// A batch waiting to be durable.
struct InFlight {
    receipt: Receipt,
    local_ids: Vec<Bytes>,
    deleted: Vec<usize>,
    duplicates: Vec<(usize, u64)>,
    committed: Timestamp,
}

/// The response stream of one Publish call.
pub struct PublishStream {
    inner: Option<Box<Inner>>,
}

struct Inner {
    state: Arc<ServerState>,
    inbound: Inbound<Streaming<api::PublisherRequest>>,
    end: Option<End>,
    snapshot: TopicSnapshot,
    publisher: PublisherInfo,
    outbox: VecDeque<PublisherReply>,
    inflight: VecDeque<InFlight>,
    inflight_events: usize,
    /// The drained events vector of the last batch, reused by the next.
    spare_events: Vec<PendingEvent>,
    window: usize,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    counts: api::CloseStream,
    topics_seen: KeyMap<()>,
    finished: bool,
    /// A batch waiting for room at a subscriber of its topics.
    held: Option<Batch>,
    /// Counts this stream in `ensign_online_publishers` until it ends.
    online: Option<Online>,
}

impl Inner {
    fn nack(&mut self, id: Bytes, code: Code, msg: &str) {
        self.counts.nacks += 1;
        self.state.metrics.nacked(code);
        self.outbox
            .push_back(reply(publisher_reply::Embed::Nack(api::Nack {
                id,
                code: code as i32,
                error: if msg.is_empty() {
                    default_nack_message(code).to_string()
                } else {
                    msg.to_string()
                },
            })));
    }

    /// Answers a committed batch in order: acks, and nacks for destroyed topics. A
    /// re-sent event is acked once its batch is durable if the batch that stored it
    /// first was stored (`idempotence`).
    fn answer(
        &mut self,
        local_ids: Vec<Bytes>,
        deleted: &[usize],
        duplicates: &[(usize, u64)],
        result: Result<Timestamp, StorageError>,
    ) {
        if let Err(e) = &result {
            self.state.metrics.storage_errors.inc();
            tracing::error!(error = %e, events = local_ids.len(), "could not store events; nacking them");
        }
        let mut del = deleted.iter().peekable();
        let mut acked = 0;
        let mut dup = duplicates.iter().peekable();
        for (i, id) in local_ids.into_iter().enumerate() {
            if del.peek() == Some(&&i) {
                del.next();
                self.nack(id, Code::TopicDeleted, "");
                continue;
            }
            let first_lost = dup
                .next_if(|(d, _)| *d == i)
                .is_some_and(|&(_, first)| self.state.broker.published.failed(first));
            match &result {
                Ok(_) if first_lost => {
                    tracing::error!("a re-sent event's first copy was not stored");
                    self.nack(id, Code::Internal, "");
                }
                Ok(ts) => {
                    acked += 1;
                    self.counts.acks += 1;
                    self.outbox
                        .push_back(reply(publisher_reply::Embed::Ack(api::Ack {
                            id,
                            committed: Some(*ts),
                        })));
                }
                Err(_) => self.nack(id, Code::Internal, ""),
            }
        }
        self.state.metrics.events.inc_by(acked);
    }

    /// Validates one event (checks and messages of semantics §4.3).
    fn accept(&mut self, mut w: Box<api::EventWrapper>, batch: &mut Batch) {
        let local_id = std::mem::take(&mut w.local_id);
        let resend_id = <[u8; 16]>::try_from(&local_id[..]).unwrap_or_default();
        if w.topic_id.is_empty() {
            return self.nack(local_id, Code::TopicUnknown, "no topic id specified");
        }
        let Some(key) = TopicKey::from_slice(&w.topic_id) else {
            return self.nack(local_id, Code::TopicUnknown, "invalid topic id");
        };
        let Some(topic) = self.snapshot.get(&key).cloned() else {
            return self.nack(local_id, Code::TopicUnknown, "");
        };
        if w.event.len() > MAX_EVENT_SIZE {
            return self.nack(local_id, Code::MaxEventSizeExceeded, "");
        }
        self.counts.events += 1;
        if self.topics_seen.insert(key, ()).is_none() {
            self.counts.topics += 1;
        }
        if batch.topics.last() != Some(&key) && !batch.topics.contains(&key) {
            batch.topics.push(key);
        }
        batch.events.push(PendingEvent {
            topic,
            wrapper: w,
            local_id: resend_id,
        });
        batch.local_ids.push(local_id);
    }

    /// Reads what is buffered (up to the caps) into one batch.
    fn read_batch(&mut self, cx: &mut Context<'_>) -> (Batch, bool) {
        // NOTE: the events vector is reused from batch to batch (the broker drains it):
        // growing it from empty copied every event wrapper about twice per batch.
        let events = std::mem::take(&mut self.spare_events);
        let mut batch = Batch {
            local_ids: Vec::with_capacity(events.capacity()),
            events,
            topics: Vec::new(),
        };
        let mut bytes = 0;
        let mut progressed = false;
        while batch.events.len() < MAX_BATCH_EVENTS && bytes < MAX_BATCH_BYTES && self.end.is_none()
        {
            match self.inbound.poll_next_unpin(cx) {
                Poll::Pending => break,
                Poll::Ready(item) => {
                    progressed = true;
                    match item {
                        Some(Ok(api::PublisherRequest { embed })) => match embed {
                            Some(publisher_request::Embed::Event(w)) => {
                                bytes += w.event.len();
                                self.accept(w, &mut batch);
                            }
                            Some(publisher_request::Embed::OpenStream(_)) => {
                                self.end = Some(End::Error(Status::aborted(
                                    "cannot send multiple open stream messages",
                                )));
                            }
                            None => {
                                self.end = Some(End::Error(Status::failed_precondition(
                                    "unhandled publisher request message <nil>",
                                )));
                            }
                        },
                        None => self.end = Some(End::HalfClosed),
                        Some(Err(s)) if s.code() == tonic::Code::Cancelled => {
                            self.end = Some(End::Cancelled)
                        }
                        Some(Err(s)) => {
                            self.end = Some(End::Error(Status::aborted(format!(
                                "could not recv event from client: {}",
                                s.message()
                            ))))
                        }
                    }
                }
            }
        }
        (batch, progressed)
    }

    /// Commits a batch whose topics' subscribers have room; holds it otherwise (the
    /// waker is registered with the full subscriber). True if it was committed.
    fn commit(&mut self, batch: Batch, cx: &mut Context<'_>) -> bool {
        if batch.events.is_empty() {
            self.spare_events = batch.events;
            return true;
        }
        if !self.state.broker.fanout.poll_room(&batch.topics, cx) {
            self.held = Some(batch);
            return false;
        }
        let (mut events, local_ids) = (batch.events, batch.local_ids);
        let ticket = self.state.broker.commit(&mut events, &self.publisher);
        self.spare_events = events;
        match ticket.receipt {
            None => self.answer(
                local_ids,
                &ticket.deleted,
                &ticket.duplicates,
                Ok(ticket.committed),
            ),
            Some(receipt) => {
                self.inflight_events += local_ids.len();
                self.inflight.push_back(InFlight {
                    receipt,
                    local_ids,
                    deleted: ticket.deleted,
                    duplicates: ticket.duplicates,
                    committed: ticket.committed,
                });
            }
        }
        true
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<PublisherReply, Status>>> {
        loop {
            if let Some(r) = self.outbox.pop_front() {
                return Poll::Ready(Some(Ok(r)));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            // Durable batches, in commit order.
            while let Some(head) = self.inflight.front_mut() {
                let Poll::Ready(res) = head.receipt.poll_unpin(cx) else {
                    break;
                };
                let done = self.inflight.pop_front().expect("head exists");
                self.inflight_events -= done.local_ids.len();
                let res = res
                    .unwrap_or(Err(StorageError::Closed))
                    .map(|()| done.committed);
                self.answer(done.local_ids, &done.deleted, &done.duplicates, res);
            }
            if !self.outbox.is_empty() {
                continue;
            }
            if self.end.is_none() && self.shutdown.poll_unpin(cx).is_ready() {
                self.end = Some(End::Error(Status::unavailable(
                    "the Ensign server is shutting down",
                )));
            }
            if let Some(held) = self.held.take() {
                if !self.commit(held, cx) {
                    // Still no room: answer nothing more until there is.
                    return Poll::Pending;
                }
                continue;
            }
            if self.end.is_none() && self.inflight_events < self.window {
                let (batch, progressed) = self.read_batch(cx);
                let committed = self.commit(batch, cx);
                if progressed && committed {
                    continue;
                }
                if !committed {
                    return Poll::Pending;
                }
            }
            if self.end.is_none() || !self.inflight.is_empty() {
                return Poll::Pending;
            }
            self.finished = true;
            // The stream has ended for the client: it is no longer online.
            self.online = None;
            match self.end.take().expect("checked") {
                End::HalfClosed => {
                    let close = std::mem::take(&mut self.counts);
                    self.outbox
                        .push_back(reply(publisher_reply::Embed::CloseStream(close)));
                }
                End::Cancelled => return Poll::Ready(None),
                End::Error(status) => return Poll::Ready(Some(Err(status))),
            }
        }
    }
}

impl Stream for PublishStream {
    type Item = Result<PublisherReply, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut() {
            None => Poll::Ready(None),
            Some(inner) => inner.poll_next(cx),
        }
    }
}
