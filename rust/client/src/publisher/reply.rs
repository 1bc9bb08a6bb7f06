//! Publisher replies off the wire: an ack of one of our 16-byte event ids, by far the most
//! common reply, is parsed straight from the frame's bytes; anything else goes through
//! prost.
//!
//! Why: decoding each ack with prost (its generic merge loop, a `Bytes` handle for the id
//! with its reference count, an `Option<Timestamp>`) was about a third of the client's
//! I/O thread when publishing in batches. The hand parser accepts only the exact shape
//! `PublisherReply { ack: Ack { id: 16 bytes, committed: Timestamp } }` (fields in any
//! order, repeated fields resolved as protobuf does); any other field, length or
//! malformation makes it step aside, and prost decides (and reports errors) as before.

use std::marker::PhantomData;

use bytes::Buf;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::Status;

use crate::codec::PrecodedEncoder;
use ensign_proto::api::PublisherReply;

/// One reply of the publish stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// An ack of a 16-byte event id, committed at `seconds`/`nanos`.
    Ack {
        id: [u8; 16],
        seconds: i64,
        nanos: i32,
    },
    /// Any other reply, as prost decoded it (boxed: acks, by far the most common
    /// replies, then move through tonic's stream as 32 bytes instead of 96).
    Other(Box<PublisherReply>),
}

/// Parses `buf` as a `PublisherReply` holding an ack of a 16-byte id, or `None` for
/// anything else (then prost decodes it).
pub fn parse_ack(buf: &[u8]) -> Option<Reply> {
    let mut r = Reader(buf);
    let mut ack = None;
    while !r.0.is_empty() {
        // PublisherReply.ack: field 1, length-delimited. A second `ack` field would be
        // merged into the first by protobuf; that rare case is left to prost.
        if r.varint()? != 0x0A || ack.is_some() {
            return None;
        }
        ack = Some(parse_ack_body(r.bytes()?)?);
    }
    ack
}

fn parse_ack_body(buf: &[u8]) -> Option<Reply> {
    let mut r = Reader(buf);
    let mut id: Option<[u8; 16]> = None;
    let (mut seconds, mut nanos) = (0i64, 0i32);
    while !r.0.is_empty() {
        match r.varint()? {
            // Ack.id (1, bytes): the last occurrence wins.
            0x0A => id = Some(r.bytes()?.try_into().ok()?),
            // Ack.committed (2, Timestamp): occurrences merge field by field.
            0x12 => {
                let mut t = Reader(r.bytes()?);
                while !t.0.is_empty() {
                    match t.varint()? {
                        0x08 => seconds = t.varint()? as i64,
                        0x10 => nanos = t.varint()? as i32,
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
    }
    Some(Reply::Ack {
        id: id?,
        seconds,
        nanos,
    })
}

/// A cursor over protobuf wire bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A base-128 varint of at most ten bytes.
    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        // Tags and lengths are one byte: skip the loop for them.
        if let Some((&b, rest)) = self.0.split_first() {
            if b < 0x80 {
                self.0 = rest;
                return Some(u64::from(b));
            }
        }
        let mut value = 0u64;
        for (i, &b) in self.0.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7F) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return None; // more than 64 bits
                }
                self.0 = &self.0[i + 1..];
                return Some(value);
            }
        }
        None
    }

    /// A length-delimited field's bytes.
    #[inline(always)]
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        if len > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Some(head)
    }
}

/// Decodes one [`Reply`] per gRPC frame.
#[derive(Debug, Default)]
pub struct ReplyDecoder;

impl Decoder for ReplyDecoder {
    type Item = Reply;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Reply>, Status> {
        decode_frame(src).map(Some)
    }
}

/// Decodes the whole of `src`, one gRPC frame's message. Separate from [`ReplyDecoder`]
/// so that tests can feed it contiguous and split buffers (tonic's `DecodeBuf` cannot be
/// made outside tonic).
fn decode_frame(src: &mut impl Buf) -> Result<Reply, Status> {
    let len = src.remaining();
    // The frame is normally one contiguous chunk; if not, prost reads it piecewise.
    if src.chunk().len() >= len {
        if let Some(reply) = parse_ack(&src.chunk()[..len]) {
            src.advance(len);
            return Ok(reply);
        }
    }
    let msg = PublisherReply::decode(src.take(len))
        .map_err(|e| Status::internal(format!("could not decode a reply from the server: {e}")))?;
    Ok(Reply::Other(Box::new(msg)))
}

/// The publish stream's codec: pre-encoded requests, [`Reply`] replies.
#[derive(Debug, Default)]
pub struct ReplyCodec(PhantomData<()>);

impl Codec for ReplyCodec {
    type Encode = bytes::Bytes;
    type Decode = Reply;
    type Encoder = PrecodedEncoder;
    type Decoder = ReplyDecoder;

    fn encoder(&mut self) -> PrecodedEncoder {
        PrecodedEncoder
    }

    fn decoder(&mut self) -> ReplyDecoder {
        ReplyDecoder
    }
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
