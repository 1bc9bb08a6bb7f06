//! Recovery: reads the log from the start and rebuilds the topics, their event indexes,
//! duplicate marks and the window of recent publishes, losing only what is damaged.
//!
//! * A record whose body fails its checksum is skipped on its own when its frame header
//!   is intact and the next record starts where it says.
//! * Otherwise (a damaged header, bytes cut out or inserted) recovery scans forward for
//!   the next record that checks and is followed by another valid header or the end of
//!   the file (see `record` for why that rules out records hidden in events).
//! * At the very end, a record cut short (its header, or a prefix of it, is intact but
//!   the file ends inside it) or a zero-filled tail is a torn write that was never
//!   acknowledged: it is cut off and the truncation made durable. Any other tail is
//!   damage and stays in the file.
//!
//! Everything skipped is reported (`RecoveryReport`); damaged bytes are never removed.
//! A record that checks but cannot be applied stops recovery only when its kind is
//! unknown (a newer format: skipping it would lose data silently).
//!
//! Concurrency: runs once, on the starting thread, before the writer thread exists.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::path::Path;

use ensign_proto::api;
use ensign_proto::rlid::Rlid;
use ulid::Ulid;

use super::fs::StorageFile;
use super::record::{self, Parsed, FILE_HEADER, FRAME_HEADER, MAGIC, MAGIC_V1};
use super::report::RecoveryReport;
use super::{apply, Body, StoredEvent};
use crate::error::ServerError;
use crate::idempotence::ResendKey;
use crate::topics::TopicKey;

/// A topic as found in the log.
pub struct RecoveredTopic {
    pub topic: api::Topic,
    pub events: Vec<StoredEvent>,
    pub duplicates: HashMap<Rlid, Rlid>,
}

/// The state of the file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogHeader {
    /// Intact, for this project.
    Valid(Ulid),
    /// The file is shorter than a header and holds a prefix of one (or nothing).
    Missing,
    /// Long enough but does not check (the records after it are read anyway).
    Damaged,
}

/// Everything the log held.
pub struct Recovered {
    pub header: LogHeader,
    pub topics: BTreeMap<TopicKey, RecoveredTopic>,
    pub max_rlid: Option<Rlid>,
    pub events: u64,
    /// The most recent publishes, oldest first (at most `resend_keys`), for the index of
    /// re-sent events.
    pub resend: VecDeque<ResendKey>,
    /// Where the writer appends next.
    pub append_at: u64,
    pub report: RecoveryReport,
    pub(super) resend_keys: usize,
    pub(super) destroyed: HashSet<TopicKey>,
    /// Events of topics whose create record was lost to damage.
    pub(super) orphans: BTreeMap<TopicKey, Vec<StoredEvent>>,
    /// Most bytes held in memory at once while reading (replay memory stays flat).
    pub peak_buffer: usize,
    /// Times the bytes already replayed were dropped from the read buffer: about once
    /// per chunk read, never once per record (each drop moves what is left).
    pub buffer_releases: usize,
}

impl Recovered {
    pub fn new(resend_keys: usize) -> Self {
        Recovered {
            header: LogHeader::Missing,
            topics: BTreeMap::new(),
            max_rlid: None,
            events: 0,
            resend: VecDeque::new(),
            append_at: 0,
            report: RecoveryReport::default(),
            resend_keys,
            destroyed: HashSet::new(),
            orphans: BTreeMap::new(),
            peak_buffer: 0,
            buffer_releases: 0,
        }
    }
}

/// Tuning of a replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Bytes read at a time (a record larger than this is read whole).
    pub chunk: usize,
    /// Recent publishes kept for recognising re-sent events (the index's capacity).
    pub resend_keys: usize,
}

// NOTE: 16 MiB reads keep replay memory flat; 1M events of 100 B replay in ~0.3 s. Any
// size of at least a frame header reads the same records (`replay_tests` replay with
// chunks of 16 B to 1 MiB): the size sets only memory and speed, so it is written as a
// literal, which cargo-mutants leaves alone, rather than as `16 * 1024 * 1024`.
pub const CHUNK: usize = 16_777_216;

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            chunk: CHUNK,
            resend_keys: crate::idempotence::PublishedIndex::index_capacity(
                crate::idempotence::DEFAULT_WINDOW,
            ),
        }
    }
}

/// A window on the file: `buf` holds the bytes at `base..base + buf.len()`.
struct Reader<'a> {
    file: &'a dyn StorageFile,
    len: u64,
    chunk: usize,
    base: u64,
    buf: Vec<u8>,
    /// Read buffer, reused (a chunk).
    scratch: Vec<u8>,
    peak: usize,
    releases: usize,
}

impl Reader<'_> {
    /// Reads (a chunk at a time) until the buffer reaches `to` or the end of the file.
    fn fill(&mut self, to: u64) -> io::Result<()> {
        let to = to.min(self.len);
        while self.end() < to {
            let at = self.end();
            let n = (self.len - at).min(self.chunk as u64) as usize;
            // Grows only: a chunk, or a larger record read whole.
            self.scratch.resize(self.scratch.len().max(n), 0);
            self.file.read_exact_at(&mut self.scratch[..n], at)?;
            self.buf.extend_from_slice(&self.scratch[..n]);
            self.peak = self.peak.max(self.buf.len());
        }
        Ok(())
    }
    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }
    fn rel(&self, pos: u64) -> usize {
        (pos - self.base) as usize
    }
    /// Forgets the bytes before `pos` once they fill a chunk.
    fn release(&mut self, pos: u64) {
        let k = self.rel(pos);
        if k >= self.chunk {
            self.buf.drain(..k);
            self.base = pos;
            self.releases += 1;
        }
    }
    /// The valid frame header at `pos`, reading it in if needed.
    fn header(&mut self, pos: u64) -> io::Result<Option<usize>> {
        self.fill(pos + FRAME_HEADER as u64)?;
        Ok(record::header_at(&self.buf, self.rel(pos)))
    }
    /// Whether `pos` is the end of the file or the start of a valid header.
    fn boundary(&mut self, pos: u64) -> io::Result<bool> {
        Ok(pos == self.len || self.header(pos)?.is_some())
    }
    /// Whether `start..len` holds only zeros.
    fn zeros_from(&self, start: u64) -> io::Result<bool> {
        let mut buf = vec![0u8; self.chunk.min(1 << 20)];
        let mut at = start;
        loop {
            // Whole buffers but the last: `read_at` returns fewer bytes only at the end.
            let n = self.file.read_at(&mut buf, at)?;
            if n == 0 {
                return Ok(true);
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            at += n as u64;
        }
    }
}

/// Reads the whole log. Cuts a torn tail off `file` (durably); changes nothing else.
pub fn replay(
    path: &Path,
    file: &dyn StorageFile,
    opts: &ReplayOptions,
) -> Result<Recovered, ServerError> {
    let io = |source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |reason: String| ServerError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let len = file.len().map_err(io)?;
    let mut out = Recovered::new(opts.resend_keys);
    let mut r = Reader {
        file,
        len,
        chunk: opts.chunk.max(FRAME_HEADER),
        base: 0,
        buf: Vec::new(),
        scratch: Vec::new(),
        peak: 0,
        releases: 0,
    };
    r.fill(FILE_HEADER as u64).map_err(io)?;
    let head = &r.buf[..];
    let v1 = head.len() >= 12 && head[..12] == MAGIC_V1[..];
    if v1 {
        return Err(corrupt(
            "it uses the first log format (version 1), which this version of \
             pyensign-fast does not read; start the data directory with the version \
             that wrote it, or move it away to start empty"
                .into(),
        ));
    }
    if len < FILE_HEADER as u64 {
        let n = head.len().min(12);
        if head[..n] != MAGIC[..n] {
            return Err(corrupt("not a pyensign-fast event log".into()));
        }
        out.header = LogHeader::Missing;
        return Ok(out);
    }
    out.header = match record::parse_file_header(head) {
        Some(project) => LogHeader::Valid(project),
        None => {
            out.report.add_damage(0, FILE_HEADER as u64, 0);
            LogHeader::Damaged
        }
    };
    let mut pos = FILE_HEADER as u64;
    out.append_at = len;
    loop {
        r.release(pos);
        if let Some(n) = r.header(pos).map_err(io)? {
            r.fill(pos + (FRAME_HEADER + n) as u64).map_err(io)?;
        }
        let at = r.rel(pos);
        match record::parse(&r.buf, at, r.base) {
            Parsed::Record(frame, next) => {
                let next = r.base + next as u64;
                match apply::record(&mut out, frame.kind, frame.payload, frame.payload_offset) {
                    Ok(()) => out.report.records += 1,
                    Err(apply::Refused::Unknown(kind)) => {
                        return Err(corrupt(format!(
                            "unknown record kind {kind} at byte {pos} (written by a newer \
                             version of pyensign-fast?)"
                        )))
                    }
                    Err(apply::Refused::Malformed(reason)) => {
                        tracing::warn!(%reason, offset = pos, "event log: record does not parse");
                        out.report.add_damage(pos, next, 1)
                    }
                }
                pos = next;
            }
            Parsed::End => break,
            Parsed::Short => {
                // The file ends inside this record (everything left is buffered).
                let tail = &r.buf[at..];
                if record::header_at(&r.buf, at).is_some() || record::could_be_torn(tail) {
                    cut_tail(file, &mut out, pos).map_err(io)?;
                } else {
                    out.report.add_damage(pos, len, 1);
                }
                break;
            }
            Parsed::BadBody { next } => {
                let next = r.base + next as u64;
                if r.boundary(next).map_err(io)? {
                    out.report.add_damage(pos, next, 1);
                    pos = next;
                } else {
                    match resync(&mut r, &mut out, pos).map_err(io)? {
                        Some(p) => pos = p,
                        None => break,
                    }
                }
            }
            Parsed::BadHeader => match resync(&mut r, &mut out, pos).map_err(io)? {
                Some(p) => pos = p,
                None => break,
            },
        }
    }
    apply::adopt_orphans(&mut out);
    out.peak_buffer = r.peak;
    out.buffer_releases = r.releases;
    Ok(out)
}

/// After a damaged record at `start`: finds the next record that checks and chains,
/// and reports the region skipped. `None` when the rest of the file holds none (the
/// tail is then cut as torn or reported as damaged).
fn resync(r: &mut Reader<'_>, out: &mut Recovered, start: u64) -> io::Result<Option<u64>> {
    let mut p = start + 1;
    let mut records = 1;
    let mut torn_at = None;
    loop {
        r.release(p);
        r.fill(p + r.chunk as u64)?;
        let Some(i) = record::find_header(&r.buf, r.rel(p)) else {
            if r.end() >= r.len {
                break;
            }
            // A header may straddle the end of what is buffered: look again from 15
            // bytes before it. The next fill (`p + chunk`, a chunk being at least 16
            // bytes) then reads at least one byte more.
            p = p.max(r.end() - (FRAME_HEADER as u64 - 1));
            continue;
        };
        let cand = r.base + i as u64;
        let len = record::header_at(&r.buf, i).expect("found");
        let end = cand + (FRAME_HEADER + len) as u64;
        if end > r.len {
            torn_at.get_or_insert((cand, records));
        } else {
            r.fill(end)?;
            let whole = matches!(
                record::parse(&r.buf, r.rel(cand), r.base),
                Parsed::Record(..)
            );
            if whole && r.boundary(end)? {
                out.report.add_damage(start, cand, records);
                return Ok(Some(cand));
            }
        }
        records += 1;
        p = cand + 1;
    }
    match torn_at {
        Some((t, before)) => {
            out.report.add_damage(start, t, before);
            cut_tail(r.file, out, t)?;
        }
        None if r.zeros_from(start)? => cut_tail(r.file, out, start)?,
        None => out.report.add_damage(start, r.len, records),
    }
    Ok(None)
}

/// Cuts an incomplete last write off, durably, and reports it.
fn cut_tail(file: &dyn StorageFile, out: &mut Recovered, at: u64) -> io::Result<()> {
    let len = file.len()?;
    file.set_len(at)?;
    // Without this a later `sync_data` may keep the old size, and the torn bytes would
    // come back after a power cut looking like damage.
    file.sync_all()?;
    out.report.torn_tail = Some((at, len));
    out.append_at = at;
    Ok(())
}

/// Shorthand used by `apply`: an event found in the log.
pub(super) fn stored(rlid: Rlid, offset: u64, len: usize) -> StoredEvent {
    StoredEvent {
        rlid,
        body: Body::Disk {
            offset,
            len: len as u32,
        },
    }
}
