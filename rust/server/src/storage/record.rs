//! The log's on-disk format. A file starts with `MAGIC`; then records follow, each
//! framed as `len: u32 LE | crc32: u32 LE | kind: u8 | payload`, where `len` counts the
//! kind byte and the payload and the CRC covers them too.
//!
//! | kind | payload |
//! |------|---------|
//! | 1 event | topic id (16) · RLID (10) · encoded `EventWrapper` |
//! | 2 topic put | encoded `Topic` (the whole topic as stored) |
//! | 3 topic delete | topic id (16) |
//! | 4 duplicates | topic id (16) · n × (duplicate RLID (10) · original RLID (10)) |
//!
//! Concurrency: pure functions over buffers.

use bytes::{BufMut, Bytes, BytesMut};
use ensign_proto::api;
use ensign_proto::rlid::Rlid;
use prost::Message;

use crate::topics::TopicKey;

/// File header: format name and version.
pub const MAGIC: &[u8; 12] = b"ENSIGNFAST\x00\x01";
/// `len` + `crc`.
pub const FRAME_HEADER: usize = 8;
/// Offset of the wrapper inside an event record, from the record start.
pub const EVENT_BODY_OFFSET: usize = FRAME_HEADER + 1 + 16 + 10;
/// Largest record accepted when reading back (guards against garbage lengths).
pub const MAX_RECORD: usize = 64 * 1024 * 1024;

pub const KIND_EVENT: u8 = 1;
pub const KIND_TOPIC_PUT: u8 = 2;
pub const KIND_TOPIC_DELETE: u8 = 3;
pub const KIND_DUPLICATES: u8 = 4;

/// Starts an event record at the end of `buf`; returns its start for `finish`.
pub fn begin_event(buf: &mut BytesMut, topic: &TopicKey, rlid: &Rlid) -> usize {
    let start = buf.len();
    buf.put_u64(0); // len + crc, patched by `finish`
    buf.put_u8(KIND_EVENT);
    buf.put_slice(&topic.0);
    buf.put_slice(rlid.as_bytes());
    start
}

/// Patches the length and checksum of the record that starts at `start`.
pub fn finish(buf: &mut BytesMut, start: usize) {
    let len = (buf.len() - start - FRAME_HEADER) as u32;
    let crc = crc32fast::hash(&buf[start + FRAME_HEADER..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn frame(kind: u8, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(FRAME_HEADER + 1 + payload.len());
    buf.put_u64(0);
    buf.put_u8(kind);
    buf.put_slice(payload);
    finish(&mut buf, 0);
    buf.freeze()
}

pub fn topic_put(topic: &api::Topic) -> Bytes {
    frame(KIND_TOPIC_PUT, &topic.encode_to_vec())
}

pub fn topic_delete(key: &TopicKey) -> Bytes {
    frame(KIND_TOPIC_DELETE, &key.0)
}

pub fn duplicates(key: &TopicKey, marks: &[(Rlid, Rlid)]) -> Bytes {
    let mut p = Vec::with_capacity(16 + marks.len() * 20);
    p.extend_from_slice(&key.0);
    for (dup, orig) in marks {
        p.extend_from_slice(dup.as_bytes());
        p.extend_from_slice(orig.as_bytes());
    }
    frame(KIND_DUPLICATES, &p)
}

/// A record read back from the log.
pub struct Frame<'a> {
    pub kind: u8,
    pub payload: &'a [u8],
    /// Offset of the payload in the file.
    pub payload_offset: u64,
}

/// Why a record could not be read back.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The record runs past the end of the data: a write cut short by a crash.
    Torn,
    /// The checksum does not match, or the length is absurd.
    Corrupt(String),
}

/// Parses the record at `pos` of `data` (which starts at file offset `base`).
/// `Ok(None)` at the exact end of the data.
pub fn parse(data: &[u8], pos: usize, base: u64) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    if pos == data.len() {
        return Ok(None);
    }
    if data.len() - pos < FRAME_HEADER + 1 {
        return Err(FrameError::Torn);
    }
    let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap());
    if len == 0 || len > MAX_RECORD {
        return Err(FrameError::Corrupt(format!("bad record length {len}")));
    }
    let body_start = pos + FRAME_HEADER;
    if data.len() - body_start < len {
        return Err(FrameError::Torn);
    }
    let body = &data[body_start..body_start + len];
    if crc32fast::hash(body) != crc {
        return Err(FrameError::Corrupt("checksum mismatch".into()));
    }
    let frame = Frame {
        kind: body[0],
        payload: &body[1..],
        payload_offset: base + body_start as u64 + 1,
    };
    Ok(Some((frame, body_start + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_torn_tail() {
        let key = TopicKey([7; 16]);
        let rlid = Rlid::new(1, 2);
        let mut buf = BytesMut::new();
        let start = begin_event(&mut buf, &key, &rlid);
        buf.put_slice(b"wrapper");
        finish(&mut buf, start);
        buf.put_slice(&topic_delete(&key));
        let data = buf.freeze();
        let (f, next) = parse(&data, 0, 100).unwrap().unwrap();
        assert_eq!(f.kind, KIND_EVENT);
        assert_eq!(&f.payload[26..], b"wrapper");
        assert_eq!(f.payload_offset, 100 + FRAME_HEADER as u64 + 1);
        let (f2, end) = parse(&data, next, 0).unwrap().unwrap();
        assert_eq!(f2.kind, KIND_TOPIC_DELETE);
        assert!(parse(&data, end, 0).unwrap().is_none());
        assert_eq!(
            parse(&data[..end - 3], next, 0).err(),
            Some(FrameError::Torn)
        );
        let mut bad = data.to_vec();
        bad[FRAME_HEADER + 5] ^= 1;
        assert!(matches!(parse(&bad, 0, 0), Err(FrameError::Corrupt(_))));
    }
}
