//! The log's on-disk format (version 2).
//!
//! A file starts with a 32-byte header: `MAGIC` (12) · project id (16) · CRC-32 of those
//! 28 bytes (4). Records follow, each a 16-byte frame header and a body:
//!
//! ```text
//! sync u32 LE = SYNC | len u32 LE | body crc32 u32 LE | head crc32 u32 LE | body (len bytes)
//! ```
//!
//! `len` counts the body (a kind byte and the payload), `body crc32` covers the body and
//! `head crc32` covers the 12 bytes before it. The sync word and the header's own
//! checksum let recovery find the next record after a damaged one by scanning for a
//! header that checks (a few ns per candidate) instead of giving up on the rest of the
//! file; the body checksum then proves the record whole. A payload can still contain
//! bytes that look like a record (a user may publish a log file): recovery accepts a
//! record found by scanning only if it is followed by another valid header or ends the
//! file exactly, which a record embedded in an event cannot do, because the server's
//! own fields (the event's RLID and publisher) follow the user's bytes in the body.
//!
//! | kind | payload |
//! |------|---------|
//! | 1 event | topic id (16) · RLID (10) · publisher scope (8, LE) · local id (16) · encoded `EventWrapper` |
//! | 2 topic put | encoded `Topic`: an update of an existing topic |
//! | 3 topic delete | topic id (16) |
//! | 4 duplicates | topic id (16) · n × (duplicate RLID (10) · original RLID (10)) |
//! | 5 topic create | encoded `Topic`: a new topic (also one that reuses a destroyed id) |
//!
//! An event's scope and local id identify a re-sent event (see `idempotence`); both are
//! zero when the publisher sent no 16-byte local id. Version 1 logs (8-byte frames, no
//! sync word, no file checksum) are refused with a message saying so.
//!
//! Concurrency: pure functions over buffers.

use bytes::{BufMut, Bytes, BytesMut};
use ensign_proto::api;
use ensign_proto::rlid::Rlid;
use prost::Message;
use ulid::Ulid;

use crate::topics::TopicKey;

/// File header magic: format name and version.
pub const MAGIC: &[u8; 12] = b"ENSIGNFAST\x00\x02";
/// The magic of the first format, refused with a clear message.
pub const MAGIC_V1: &[u8; 12] = b"ENSIGNFAST\x00\x01";
/// Length of the file header.
pub const FILE_HEADER: usize = 32;
/// Every record starts with these bytes (little-endian `SYNC`).
pub const SYNC: u32 = 0x7ED1_9BF3;
/// `sync` + `len` + `body crc` + `head crc`.
pub const FRAME_HEADER: usize = 16;
/// The fixed fields of an event payload before its wrapper.
pub const EVENT_PREFIX: usize = 16 + 10 + 8 + 16;
/// Offset of the wrapper inside an event record, from the record start.
pub const EVENT_BODY_OFFSET: usize = FRAME_HEADER + 1 + EVENT_PREFIX;
/// Largest record body accepted when reading back (guards against garbage lengths). An
/// event record holds at most an 8 MiB gRPC message plus its fields; a duplicates
/// record up to ~3M marks.
pub const MAX_RECORD: usize = 64 * 1024 * 1024;

pub const KIND_EVENT: u8 = 1;
pub const KIND_TOPIC_PUT: u8 = 2;
pub const KIND_TOPIC_DELETE: u8 = 3;
pub const KIND_DUPLICATES: u8 = 4;
pub const KIND_TOPIC_CREATE: u8 = 5;

/// Who published an event, to recognise it when it is sent again: a hash of the
/// publisher and client ids, and the client's 16-byte local id (zeros: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PublishId {
    pub scope: u64,
    pub local_id: [u8; 16],
}

impl PublishId {
    pub fn is_none(&self) -> bool {
        self.local_id == [0; 16]
    }
}

/// The 32-byte file header for a project.
pub fn file_header(project: Ulid) -> [u8; FILE_HEADER] {
    let mut h = [0u8; FILE_HEADER];
    h[..12].copy_from_slice(MAGIC);
    h[12..28].copy_from_slice(&project.to_bytes());
    let crc = crc32fast::hash(&h[..28]);
    h[28..].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The project id of a valid file header, `None` if it does not check.
pub fn parse_file_header(h: &[u8]) -> Option<Ulid> {
    if h.len() < FILE_HEADER || &h[..12] != MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(h[28..32].try_into().ok()?);
    (crc32fast::hash(&h[..28]) == crc).then(|| Ulid::from_bytes(h[12..28].try_into().unwrap()))
}

/// Starts an event record at the end of `buf`; returns its start for `finish`.
pub fn begin_event(buf: &mut BytesMut, topic: &TopicKey, rlid: &Rlid, id: &PublishId) -> usize {
    let start = buf.len();
    buf.put_bytes(0, FRAME_HEADER); // patched by `finish`
    buf.put_u8(KIND_EVENT);
    buf.put_slice(&topic.0);
    buf.put_slice(rlid.as_bytes());
    buf.put_u64_le(id.scope);
    buf.put_slice(&id.local_id);
    start
}

/// Writes the frame header of the record that starts at `start` and runs to the end.
pub fn finish(buf: &mut BytesMut, start: usize) {
    let len = (buf.len() - start - FRAME_HEADER) as u32;
    let crc = crc32fast::hash(&buf[start + FRAME_HEADER..]);
    let h = &mut buf[start..start + FRAME_HEADER];
    h[..4].copy_from_slice(&SYNC.to_le_bytes());
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..12].copy_from_slice(&crc.to_le_bytes());
    let head = crc32fast::hash(&h[..12]);
    h[12..16].copy_from_slice(&head.to_le_bytes());
}

fn frame(kind: u8, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(FRAME_HEADER + 1 + payload.len());
    buf.put_bytes(0, FRAME_HEADER);
    buf.put_u8(kind);
    buf.put_slice(payload);
    finish(&mut buf, 0);
    buf.freeze()
}

pub fn topic_create(topic: &api::Topic) -> Bytes {
    frame(KIND_TOPIC_CREATE, &topic.encode_to_vec())
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
#[derive(Debug)]
pub struct Frame<'a> {
    pub kind: u8,
    pub payload: &'a [u8],
    /// Offset of the payload in the file.
    pub payload_offset: u64,
}

/// The body length a valid frame header at `pos` announces; `None` if there is no
/// whole header there, or it does not check.
pub fn header_at(data: &[u8], pos: usize) -> Option<usize> {
    let h = data.get(pos..pos.checked_add(FRAME_HEADER)?)?;
    let word = |i: usize| u32::from_le_bytes(h[i..i + 4].try_into().unwrap());
    if word(0) != SYNC || crc32fast::hash(&h[..12]) != word(12) {
        return None;
    }
    let len = word(4) as usize;
    (len > 0 && len <= MAX_RECORD).then_some(len)
}

/// What `parse` found at a position.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// A whole, valid record, and where the next one starts.
    Record(Frame<'a>, usize),
    /// The position is the end of the data.
    End,
    /// Too few bytes for the header, or a valid header whose body runs past the end.
    Short,
    /// No valid frame header here.
    BadHeader,
    /// A valid header whose body fails its checksum; the record spans up to `next`.
    BadBody { next: usize },
}

/// Parses the record at `pos` of `data` (which starts at file offset `base`).
pub fn parse(data: &[u8], pos: usize, base: u64) -> Parsed<'_> {
    if pos == data.len() {
        return Parsed::End;
    }
    if data.len() - pos < FRAME_HEADER {
        return Parsed::Short;
    }
    let Some(len) = header_at(data, pos) else {
        return Parsed::BadHeader;
    };
    let start = pos + FRAME_HEADER;
    if data.len() - start < len {
        return Parsed::Short;
    }
    let crc = u32::from_le_bytes(data[pos + 8..pos + 12].try_into().unwrap());
    let body = &data[start..start + len];
    if crc32fast::hash(body) != crc {
        return Parsed::BadBody { next: start + len };
    }
    let frame = Frame {
        kind: body[0],
        payload: &body[1..],
        payload_offset: base + start as u64 + 1,
    };
    Parsed::Record(frame, start + len)
}

/// Whether the `tail` bytes at the end of a file can be the start of a record cut short
/// by a crash: a prefix of the sync word (or more), or zeros a file system left behind.
pub fn could_be_torn(tail: &[u8]) -> bool {
    let sync = SYNC.to_le_bytes();
    let n = tail.len().min(4);
    tail[..n] == sync[..n] || tail.iter().all(|&b| b == 0)
}

/// Next position at or after `from` where a valid frame header starts.
pub fn find_header(data: &[u8], from: usize) -> Option<usize> {
    let first = SYNC.to_le_bytes()[0];
    let mut i = from;
    while i + FRAME_HEADER <= data.len() {
        match data[i..data.len() - FRAME_HEADER + 1]
            .iter()
            .position(|&b| b == first)
        {
            None => return None,
            Some(k) => i += k,
        }
        if header_at(data, i).is_some() {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
