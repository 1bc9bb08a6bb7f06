//! Subscribe: the handshake (semantics §5) and live delivery of committed events on the
//! chosen topics, with 10-byte RLIDs and `committed` set. Client acks and nacks are
//! read and counted, as the real server does; a client half-close does not end the
//! stream. No `CloseStream` is ever sent on Subscribe.
//!
//! Concurrency: like publish, the response stream does the work when tonic polls it.
//! It drains the subscriber's queue (filled by `Fanout::deliver`) and the client's
//! acks in the same poll. A full queue pauses the publishers of its topics instead of
//! dropping events; a subscriber that falls too far behind is evicted (see `fanout`)
//! and gets `RESOURCE_EXHAUSTED` after what was queued for it.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ensign_proto::api::{self, subscribe_reply, subscribe_request, SubscribeReply};
use futures_util::{FutureExt, Stream, StreamExt};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tonic::{Request, Status, Streaming};

use crate::fanout::{FanoutBatch, SubscriberQueue};
use crate::grpc::recv::Inbound;
use crate::metrics::Online;
use crate::state::ServerState;

pub async fn open(
    state: Arc<ServerState>,
    req: Request<Streaming<api::SubscribeRequest>>,
) -> Result<SubscribeStream, Status> {
    super::caller(&req)?;
    if state.topics.read().is_empty() {
        return Err(Status::failed_precondition("no topics available"));
    }
    let mut inbound = Inbound::of(req);
    let sub = match inbound.message().await {
        Ok(Some(api::SubscribeRequest {
            embed: Some(subscribe_request::Embed::Subscription(sub)),
        })) => sub,
        Ok(Some(_)) => {
            return Err(Status::failed_precondition(
                "must send subscription to initialize stream",
            ))
        }
        Ok(None) | Err(_) => return Ok(SubscribeStream { inner: None }),
    };
    // `query` and `group` are ignored, as by the real server (semantics §5).
    let snapshot = state
        .topics
        .read()
        .snapshot(&sub.topics)
        .ok_or_else(|| Status::failed_precondition("no topics available"))?;
    let keys: HashSet<_> = snapshot.by_key.keys().copied().collect();
    let ready = api::StreamReady {
        client_id: sub.client_id,
        server_id: state.server_id.clone(),
        topics: snapshot.names,
    };
    let queue = state.broker.fanout.subscribe(keys);
    let shutdown = state.shutdown.clone().cancelled_owned();
    Ok(SubscribeStream {
        inner: Some(Box::new(Inner {
            online: Some(Online::new(&state.metrics.online_subscribers)),
            state,
            ready: Some(SubscribeReply {
                embed: Some(subscribe_reply::Embed::Ready(ready)),
            }),
            queue,
            current: None,
            inbound,
            inbound_open: true,
            shutdown: Box::pin(shutdown),
            acks: 0,
            nacks: 0,
            sent: 0,
            finished: false,
        })),
    })
}

/// The response stream of one Subscribe call.
pub struct SubscribeStream {
    inner: Option<Box<Inner>>,
}

struct Inner {
    state: Arc<ServerState>,
    ready: Option<SubscribeReply>,
    queue: Arc<SubscriberQueue>,
    current: Option<(Arc<FanoutBatch>, usize)>,
    inbound: Inbound<Streaming<api::SubscribeRequest>>,
    inbound_open: bool,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
    acks: u64,
    nacks: u64,
    sent: u64,
    finished: bool,
    /// Counts this stream in `ensign_online_subscribers` until it ends.
    online: Option<Online>,
}

impl Inner {
    /// Reads the client's acks and nacks that are already buffered (they are counted
    /// only: there is no redelivery, as in the real server).
    fn drain_inbound(&mut self, cx: &mut Context<'_>) {
        while self.inbound_open {
            match self.inbound.poll_next_unpin(cx) {
                Poll::Pending => return,
                Poll::Ready(Some(Ok(req))) => match req.embed {
                    Some(subscribe_request::Embed::Ack(_)) => self.acks += 1,
                    Some(subscribe_request::Embed::Nack(_)) => self.nacks += 1,
                    _ => {}
                },
                // Half-close or a broken request side: keep delivering until the
                // client cancels (semantics §5, "Termination").
                Poll::Ready(_) => self.inbound_open = false,
            }
        }
    }

    fn next_event(&mut self) -> Option<api::EventWrapper> {
        let (batch, idx) = self.current.as_mut()?;
        while *idx < batch.events.len() {
            let ev = &batch.events[*idx];
            *idx += 1;
            if self.queue.wants(&ev.topic) {
                return Some(ev.wrapper.clone());
            }
        }
        self.current = None;
        None
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<SubscribeReply, Status>>> {
        if let Some(r) = self.ready.take() {
            return Poll::Ready(Some(Ok(r)));
        }
        if self.finished {
            return Poll::Ready(None);
        }
        self.drain_inbound(cx);
        loop {
            if let Some(event) = self.next_event() {
                self.sent += 1;
                return Poll::Ready(Some(Ok(SubscribeReply {
                    embed: Some(subscribe_reply::Embed::Event(event)),
                })));
            }
            if self.current.is_some() {
                continue;
            }
            let closing = self.shutdown.poll_unpin(cx).is_ready();
            match self.queue.poll_batch(cx) {
                Poll::Ready(Some(batch)) if !closing => self.current = Some((batch, 0)),
                Poll::Pending if !closing => return Poll::Pending,
                _ => {
                    self.finished = true;
                    self.online = None;
                    let status = match self.queue.eviction() {
                        Some(why) => Status::resource_exhausted(why),
                        None => Status::unavailable("the Ensign server is shutting down"),
                    };
                    return Poll::Ready(Some(Err(status)));
                }
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.state.broker.fanout.unsubscribe(&self.queue);
        tracing::debug!(
            sent = self.sent,
            acks = self.acks,
            nacks = self.nacks,
            "subscribe stream ended"
        );
    }
}

impl Stream for SubscribeStream {
    type Item = Result<SubscribeReply, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut() {
            None => Poll::Ready(None),
            Some(inner) => inner.poll_next(cx),
        }
    }
}
