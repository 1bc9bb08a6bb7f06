//! One publish stream generation: the outbound request stream that feeds tonic from the
//! outbox, the handshake (OpenStream → StreamReady), and the reader task that applies
//! acks and nacks in batches.
//!
//! Concurrency: the outbound stream is polled by tonic's encoder on a tokio worker and
//! pops one frame per poll under the state lock; the reader runs as its own task and
//! takes the lock once per batch of replies (up to 512). Neither ever waits on Python.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use ensign_proto::api::{
    nack::Code, publisher_reply, publisher_request, OpenStream, PublisherRequest, StreamReady,
};
use futures_util::{FutureExt, Stream};
use prost::Message;
use tonic::codec::Streaming;

use super::driver::Command;
use super::outcome::Outcome;
use super::reply::{Reply, ReplyCodec};
use super::state::TopicMap;
use super::tracker::{Completion, Tracker};
use super::Shared;
use crate::error::{Error, Result};

const PUBLISH_PATH: &str = "/ensign.v1beta1.Ensign/Publish";
/// NOTE: one lock per this many replies; 512 acks is ~30 KiB of replies.
const REPLY_BATCH: usize = 512;

/// The request body of generation `gen`: OpenStream first, then the outbox's frames once
/// the stream is ready; ends (half-closes) when the outbox moves to a newer generation or
/// is marked ending and empty.
pub struct Outbound {
    shared: Arc<Shared>,
    gen: u32,
    open: Option<Bytes>,
}

impl Stream for Outbound {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if let Some(open) = this.open.take() {
            return Poll::Ready(Some(open));
        }
        let mut st = this.shared.state.lock();
        if st.outbox.gen != this.gen {
            return Poll::Ready(None);
        }
        if st.outbox.ready {
            while let Some((seq, frame)) = st.outbox.frames.pop_front() {
                // Skip events that got their outcome while waiting (e.g. acked on an
                // older stream): re-sending them would only make duplicates.
                if st.tracker.slot_mut(seq).is_some() {
                    st.tracker.counters.bytes_sent += frame.len() as u64;
                    return Poll::Ready(Some(frame));
                }
            }
            if st.outbox.ending {
                return Poll::Ready(None);
            }
        }
        st.outbox.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A stream that completed its handshake.
pub struct Opened {
    pub replies: Streaming<Reply>,
    pub ready: StreamReady,
}

/// Opens generation `gen` and waits for its `StreamReady`.
pub async fn open(shared: &Arc<Shared>, gen: u32) -> Result<Opened> {
    let open = PublisherRequest {
        embed: Some(publisher_request::Embed::OpenStream(OpenStream {
            client_id: shared.cfg.client_id.clone(),
            topics: Vec::new(),
        })),
    }
    .encode_to_vec();
    let outbound = Outbound {
        shared: shared.clone(),
        gen,
        open: Some(open.into()),
    };
    let handshake = async {
        let req = shared.transport.request(outbound).await?;
        let mut grpc = shared.transport.grpc().await?;
        let path = http::uri::PathAndQuery::from_static(PUBLISH_PATH);
        let mut replies = grpc
            .streaming(req, path, ReplyCodec::default())
            .await?
            .into_inner();
        let first = replies.message().await?.map(|r| match r {
            Reply::Other(reply) => reply.embed,
            Reply::Ack { .. } => None,
        });
        match first {
            Some(Some(publisher_reply::Embed::Ready(ready))) => Ok(Opened { replies, ready }),
            Some(_) => Err(Error::Protocol(
                "the server did not send StreamReady first".into(),
            )),
            None => Err(Error::Protocol(
                "the server closed the stream before StreamReady".into(),
            )),
        }
    };
    tokio::time::timeout(shared.cfg.open_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout("timed out opening the publish stream".into()))?
}

/// Reads replies of generation `gen` until the stream ends, then tells the driver.
pub async fn read(shared: Arc<Shared>, gen: u32, mut replies: Streaming<Reply>) {
    let mut batch = Vec::with_capacity(64);
    let end = loop {
        let first = match replies.message().await {
            Ok(Some(r)) => r,
            Ok(None) => break Ok(()),
            Err(s) => break Err(Error::Rpc(s)),
        };
        batch.push(first);
        let mut end = None;
        while batch.len() < REPLY_BATCH {
            match replies.message().now_or_never() {
                Some(Ok(Some(r))) => batch.push(r),
                Some(Ok(None)) => end = Some(Ok(())),
                Some(Err(s)) => end = Some(Err(Error::Rpc(s))),
                None => break,
            }
            if end.is_some() {
                break;
            }
        }
        apply(&shared, gen, &mut batch);
        if let Some(e) = end {
            break e;
        }
    };
    let _ = shared.cmds.send(Command::ReaderDone { gen, result: end });
}

/// Marks event `id` acked, however the reply was decoded; an ack of an event that is no
/// longer tracked (already completed, or from before a reconnect) is only logged.
fn complete_ack(tracker: &mut Tracker, id: &[u8], seconds: i64, nanos: i32) {
    if tracker.complete(id, Outcome::Acked { seconds, nanos }) == Completion::Unknown {
        tracing::debug!("ack for an unknown or completed event");
    }
}

/// Applies a batch of replies under one lock.
fn apply(shared: &Shared, gen: u32, batch: &mut Vec<Reply>) {
    let mut rotate = false;
    {
        let mut st = shared.state.lock();
        let st = &mut *st;
        st.tracker.counters.clock = std::time::Instant::now();
        for reply in batch.drain(..) {
            let reply = match reply {
                Reply::Ack { id, seconds, nanos } => {
                    complete_ack(&mut st.tracker, &id, seconds, nanos);
                    continue;
                }
                Reply::Other(reply) => *reply,
            };
            match reply.embed {
                Some(publisher_reply::Embed::Ack(ack)) => {
                    let ts = ack.committed.unwrap_or_default();
                    complete_ack(&mut st.tracker, &ack.id, ts.seconds, ts.nanos);
                }
                Some(publisher_reply::Embed::Nack(nack)) => {
                    if nack.code == Code::TopicUnknown as i32 {
                        if let Some(slot) = st.tracker.get_mut(&nack.id) {
                            if !slot.unknown_retried {
                                // The stream's topic snapshot predates the topic
                                // (semantics.md §4.1): re-send once on a fresh stream.
                                slot.unknown_retried = true;
                                rotate |= slot.gen == gen && st.outbox.gen == gen;
                                continue;
                            }
                        }
                    }
                    let error = if nack.error.is_empty() {
                        default_nack_text(nack.code)
                    } else {
                        &nack.error
                    };
                    let outcome = Outcome::Nacked {
                        code: nack.code,
                        error,
                    };
                    st.tracker.complete(&nack.id, outcome);
                }
                Some(publisher_reply::Embed::CloseStream(_)) => {}
                Some(publisher_reply::Embed::Ready(r)) => {
                    // Not expected after the handshake; take the newer topic map anyway.
                    st.topics = TopicMap::from_ready(&r.topics);
                }
                None => tracing::debug!("empty publisher reply"),
            }
        }
        st.wake_flushers();
    }
    shared.notify_room();
    if rotate {
        let _ = shared.cmds.send(Command::Rotate {
            for_gen: gen,
            reply: None,
        });
    }
}

/// The server's default nack texts (`codes.go::DefaultNackMessage` in the real server).
pub fn default_nack_text(code: i32) -> &'static str {
    match Code::try_from(code).unwrap_or(Code::Unknown) {
        Code::MaxEventSizeExceeded => "maximum event size has been exceeded",
        Code::TopicUnknown => "topic unknown or unhandled",
        Code::TopicArchived => "topic has been archived",
        Code::TopicDeleted => "topic has been deleted",
        Code::PermissionDenied => "not authorized to publish to this topic",
        Code::Internal => "internal error, please wait and try again",
        _ => "event was not processed",
    }
}

/// Time allowed for the handshake when nothing else is configured.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(30);
