//! One subscribe stream generation: the outbound request stream (the `Subscription`
//! first, then acks and nacks), the handshake (→ `StreamReady`), and the reader that
//! decodes events into the prefetch buffer.
//!
//! Concurrency: tonic polls the outbound stream on a runtime worker; it pops queued ack
//! frames under the outbox lock and parks its waker when there are none, so a batch of
//! acks costs one wake-up. The reader runs inside the subscription's task, takes the
//! buffer lock once per batch of messages that arrived together, and stops reading
//! (leaving HTTP/2 flow control to push back) while the buffer is full.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::{BufMut, Bytes, BytesMut};
use ensign_proto::api::{self, subscribe_request, StreamReady, SubscribeRequest};
use futures_util::{FutureExt, Stream};
use prost::Message;
use tonic::codec::Streaming;

use super::received::{decode_batch, Garbled};
use super::wire::{self, RawCodec, ReplyRef};
use super::Shared;
use crate::error::{Error, Result};

const SUBSCRIBE_PATH: &str = "/ensign.v1beta1.Ensign/Subscribe";
/// The nack code sent for events whose payload could not be decoded.
pub const CODE_UNDECODABLE: i32 = api::nack::Code::UnknownType as i32;

/// Ack and nack frames waiting for the stream, and the outbound stream's state.
#[derive(Default)]
pub struct Outbox {
    /// Generation of the current stream; older outbound streams end.
    pub gen: u32,
    pub frames: VecDeque<Bytes>,
    pub waker: Option<Waker>,
    /// Send what is queued, then half-close.
    pub ending: bool,
    /// The generation whose outbound stream has ended (everything was handed to tonic).
    pub ended_gen: u32,
}

impl Outbox {
    /// Takes the waker to wake after queueing frames.
    pub fn take_waker(&mut self) -> Option<Waker> {
        self.waker.take()
    }
}

/// An acknowledgement to queue.
#[derive(Clone, Copy, Debug)]
pub enum Reply<'a> {
    Ack(&'a [u8]),
    Nack {
        id: &'a [u8],
        code: i32,
        error: &'a str,
    },
}

/// Encodes a reply as one `SubscribeRequest` frame into `buf`; returns its length.
pub fn encode_reply(buf: &mut BytesMut, reply: Reply<'_>) -> usize {
    let start = buf.len();
    match reply {
        // NOTE: acks are the per-event hot path; for the usual 10-byte RLID the frame is
        // 14 fixed bytes (two one-byte tags and lengths), written without prost.
        Reply::Ack(id) if id.len() < 126 => {
            buf.reserve(id.len() + 4);
            buf.put_u8(0x0a); // SubscribeRequest.ack, length-delimited
            buf.put_u8(id.len() as u8 + 2);
            buf.put_u8(0x0a); // Ack.id
            buf.put_u8(id.len() as u8);
            buf.put_slice(id);
        }
        Reply::Ack(id) => SubscribeRequest {
            embed: Some(subscribe_request::Embed::Ack(api::Ack {
                id: Bytes::copy_from_slice(id),
                committed: None,
            })),
        }
        .encode(buf)
        .expect("BytesMut grows"),
        Reply::Nack { id, code, error } => SubscribeRequest {
            embed: Some(subscribe_request::Embed::Nack(api::Nack {
                id: Bytes::copy_from_slice(id),
                code,
                error: error.to_string(),
            })),
        }
        .encode(buf)
        .expect("BytesMut grows"),
    }
    buf.len() - start
}

/// The request body of generation `gen`.
pub struct Outbound {
    shared: Arc<Shared>,
    gen: u32,
    first: Option<Bytes>,
    /// Frames taken from the outbox in one go.
    // NOTE: one lock per burst of acks instead of one per ack; tonic polls once per
    // message. Frames taken here when the stream breaks are lost with it, like those
    // already written; the server only counts acks (semantics.md §5).
    local: VecDeque<Bytes>,
}

impl Stream for Outbound {
    type Item = Bytes;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(first));
        }
        if let Some(frame) = this.local.pop_front() {
            return Poll::Ready(Some(frame));
        }
        let mut out = this.shared.out.lock();
        if out.gen != this.gen {
            return Poll::Ready(None);
        }
        if !out.frames.is_empty() {
            std::mem::swap(&mut out.frames, &mut this.local);
            drop(out);
            return Poll::Ready(this.local.pop_front());
        }
        if out.ending {
            out.ended_gen = this.gen;
            drop(out);
            this.shared.changed.notify_waiters();
            return Poll::Ready(None);
        }
        out.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A stream that completed its handshake.
pub struct Opened {
    pub replies: Streaming<Bytes>,
    pub ready: StreamReady,
}

/// Opens generation `gen`: sends the `Subscription` and waits for `StreamReady`.
pub async fn open(shared: &Arc<Shared>, gen: u32) -> Result<Opened> {
    let outbound = Outbound {
        shared: shared.clone(),
        gen,
        first: Some(shared.subscription.clone()),
        local: VecDeque::new(),
    };
    let handshake = async {
        let req = shared.transport.request(outbound).await?;
        let mut grpc = shared.transport.grpc().await?;
        let path = http::uri::PathAndQuery::from_static(SUBSCRIBE_PATH);
        let mut replies = grpc
            .streaming(req, path, RawCodec::default())
            .await?
            .into_inner();
        let first = replies.message().await?;
        let ready = match first.as_deref().map(wire::reply) {
            Some(Ok(ReplyRef::Ready(raw))) => StreamReady::decode(raw)
                .map_err(|e| Error::Protocol(format!("invalid StreamReady: {e}")))?,
            Some(Ok(_)) => {
                return Err(Error::Protocol(
                    "the server did not send StreamReady first on the subscribe stream".into(),
                ))
            }
            Some(Err(e)) => return Err(Error::Protocol(format!("invalid reply: {e}"))),
            // A server going away may end the stream before answering: try again.
            None => {
                return Err(Error::Rpc(tonic::Status::unavailable(
                    "the server closed the subscribe stream before StreamReady",
                )))
            }
        };
        Ok(Opened { replies, ready })
    };
    let opened = tokio::time::timeout(shared.cfg.open_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout("timed out opening the subscribe stream".into()))?;
    opened.map_err(|e| match e {
        // semantics.md §5: none of the requested topics matched (or the project has none).
        Error::Rpc(s)
            if s.code() == tonic::Code::FailedPrecondition && s.message().contains("no topics") =>
        {
            Error::UnknownTopic(shared.label.clone())
        }
        e => e,
    })
}

/// Reads events into the buffer until the stream ends; `Ok` on a clean end (EOF or
/// `CloseStream`), or when the consumer closed the buffer.
pub async fn read(shared: &Shared, replies: &mut Streaming<Bytes>) -> Result<()> {
    let mut raws = Vec::with_capacity(256);
    let mut batch = Vec::with_capacity(256);
    let mut garbled = Vec::new();
    loop {
        shared.inbox.wait_room().await;
        if shared.inbox.is_finished() {
            return Ok(());
        }
        let room = shared.inbox.room().max(1);
        let mut end = match replies.message().await {
            Ok(Some(r)) => handle(shared, r, &mut raws, &mut garbled),
            Ok(None) => Some(Ok(())),
            Err(s) => Some(Err(Error::Rpc(s))),
        };
        // Take whatever else already arrived, up to the room left.
        while end.is_none() && raws.len() < room {
            end = match replies.message().now_or_never() {
                Some(Ok(Some(r))) => handle(shared, r, &mut raws, &mut garbled),
                Some(Ok(None)) => Some(Ok(())),
                Some(Err(s)) => Some(Err(Error::Rpc(s))),
                None => break,
            };
        }
        decode_batch(&mut raws, &mut batch, &mut garbled);
        shared
            .counters
            .received
            .fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
        shared.inbox.push(&mut batch);
        if !garbled.is_empty() {
            nack_garbled(shared, &mut garbled);
        }
        if let Some(end) = end {
            return end;
        }
    }
}

/// Skips (with a warning) and nacks events whose payload could not be decoded.
fn nack_garbled(shared: &Shared, garbled: &mut Vec<Garbled>) {
    let replies: Vec<Reply<'_>> = garbled
        .iter()
        .filter(|g| !g.id.is_empty())
        .map(|g| Reply::Nack {
            id: &g.id,
            code: CODE_UNDECODABLE,
            error: "the subscriber could not decode the event",
        })
        .collect();
    shared.send(&replies);
    for g in garbled.drain(..) {
        shared.inbox.skip(g.reason);
    }
}

/// Files one reply; returns the end of the stream if it is one.
fn handle(
    shared: &Shared,
    msg: Bytes,
    raws: &mut Vec<Bytes>,
    garbled: &mut Vec<Garbled>,
) -> Option<Result<()>> {
    match wire::reply(&msg) {
        Ok(ReplyRef::Event(w)) => raws.push(msg.slice_ref(w)),
        Ok(ReplyRef::Ready(r)) => match StreamReady::decode(r) {
            Ok(ready) => shared.set_ready(&ready),
            Err(e) => tracing::debug!("ignoring an invalid StreamReady: {e}"),
        },
        // The real server never sends it on Subscribe (semantics.md §5); mocks send it
        // when they are done. Treated as the end of this stream.
        Ok(ReplyRef::CloseStream) => return Some(Ok(())),
        Ok(ReplyRef::Empty) => tracing::debug!("empty subscribe reply"),
        Err(e) => garbled.push(Garbled {
            id: super::Id::new(b""),
            reason: format!("skipped a reply that is not a SubscribeReply ({e})"),
        }),
    }
    None
}
