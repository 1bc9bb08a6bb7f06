//! Tests of recovery on logs built record by record: the rebuilt state, chunk
//! boundaries, torn tails (and that cutting them is durable), topic ids reused after a
//! destroy, and the records that damage can take (topic creates) without losing the
//! events after them. Damage at random places is in `replay_damage_tests`.

use std::path::{Path, PathBuf};

use bytes::{BufMut, BytesMut};
use ensign_proto::api;
use ensign_proto::rlid::Rlid;
use ulid::Ulid;

use super::fs::{StorageFile, StorageFs};
use super::record::{self, PublishId, FILE_HEADER};
use super::replay::{replay, LogHeader, Recovered, ReplayOptions};
use super::simfs::{CrashMode, SimFs};
use crate::topics::TopicKey;

/// A log under construction: its bytes and where each record starts and ends.
pub(crate) struct Log {
    pub data: BytesMut,
    /// `(start, end, rlid of an event record)`.
    pub spans: Vec<(usize, usize, Option<Rlid>)>,
    seq: u32,
}

pub(crate) fn topic(key: TopicKey, name: &str, created: i64) -> api::Topic {
    api::Topic {
        id: key.0.to_vec().into(),
        name: name.into(),
        created: Some(ensign_proto::Timestamp {
            seconds: created,
            nanos: 0,
        }),
        ..Default::default()
    }
}

impl Log {
    pub fn new() -> Self {
        let mut data = BytesMut::new();
        data.put_slice(&record::file_header(Ulid::from_parts(1, 2)));
        Log {
            data,
            spans: Vec::new(),
            seq: 0,
        }
    }
    pub fn raw(&mut self, rec: &[u8]) -> &mut Self {
        let start = self.data.len();
        self.data.put_slice(rec);
        self.spans.push((start, self.data.len(), None));
        self
    }
    pub fn event(&mut self, key: TopicKey, body: &[u8]) -> Rlid {
        self.seq += 1;
        let rlid = Rlid::new(1_000 + u64::from(self.seq / 7), self.seq);
        let id = PublishId {
            scope: 42,
            local_id: u128::from(self.seq).to_le_bytes(),
        };
        let start = self.data.len();
        let r = record::begin_event(&mut self.data, &key, &rlid, &id);
        self.data.put_slice(body);
        record::finish(&mut self.data, r);
        self.spans.push((start, self.data.len(), Some(rlid)));
        rlid
    }
    pub fn create(&mut self, key: TopicKey, name: &str, created: i64) -> &mut Self {
        self.raw(&record::topic_create(&topic(key, name, created)))
    }
}

pub(crate) fn write(fs: &SimFs, bytes: &[u8]) -> (PathBuf, std::sync::Arc<dyn StorageFile>) {
    let dir = Path::new("/d");
    fs.create_dir_all(dir).unwrap();
    let p = dir.join("events.log");
    let f = fs.create(&p).unwrap();
    f.write_all_at(bytes, 0).unwrap();
    f.sync_all().unwrap();
    fs.sync_dir(dir).unwrap();
    (p, f)
}

pub(crate) fn run(bytes: &[u8], chunk: usize) -> (Recovered, SimFs) {
    let fs = SimFs::new();
    let (p, f) = write(&fs, bytes);
    let opts = ReplayOptions {
        chunk,
        resend_keys: 1 << 20,
    };
    (replay(&p, &*f, &opts).expect("replays"), fs)
}

/// Every event's RLID, per topic, in log order.
pub(crate) fn rlids(r: &Recovered) -> Vec<Rlid> {
    r.topics
        .values()
        .flat_map(|t| t.events.iter().map(|e| e.rlid))
        .collect()
}

pub(crate) const A: TopicKey = TopicKey([0xA0; 16]);
pub(crate) const B: TopicKey = TopicKey([0xB0; 16]);

#[test]
fn a_clean_log_is_rebuilt() {
    let mut log = Log::new();
    log.create(A, "a", 1).create(B, "b", 2);
    let mut want = Vec::new();
    for i in 0..50u32 {
        want.push(log.event(if i % 3 == 0 { B } else { A }, &i.to_le_bytes()));
    }
    let (r, _) = run(&log.data, 1 << 20);
    assert_eq!(r.header, LogHeader::Valid(Ulid::from_parts(1, 2)));
    assert!(r.report.is_clean(), "{}", r.report);
    assert_eq!(r.report.records, 52);
    assert_eq!(r.events, 50);
    assert_eq!(r.append_at, log.data.len() as u64);
    assert_eq!(r.max_rlid, want.iter().max().copied());
    assert_eq!(r.resend.len(), 50);
    let a: Vec<Rlid> = r.topics[&A].events.iter().map(|e| e.rlid).collect();
    let want_a: Vec<Rlid> = (0..50).filter(|i| i % 3 != 0).map(|i| want[i]).collect();
    assert_eq!(a, want_a);
    assert_eq!(r.topics[&B].topic.name, "b");
    // Each event's body points at its wrapper bytes in the file.
    let super::Body::Disk { offset, len } = r.topics[&B].events[1].body else {
        panic!()
    };
    assert_eq!(
        &log.data[offset as usize..][..len as usize],
        &3u32.to_le_bytes()
    );
}

#[test]
fn the_highest_event_id_is_found_wherever_it_is() {
    for at in 0..3 {
        let mut log = Log::new();
        log.create(A, "a", 1);
        let mut ids = Vec::new();
        for i in 0..3 {
            let body = [i as u8];
            let start = log.data.len();
            // Out of order on purpose: the maximum is not always last.
            let rlid = Rlid::new(if i == at { 9_000 } else { 100 + i as u64 }, 1);
            let r = record::begin_event(&mut log.data, &A, &rlid, &PublishId::default());
            log.data.put_slice(&body);
            record::finish(&mut log.data, r);
            log.spans.push((start, log.data.len(), Some(rlid)));
            ids.push(rlid);
        }
        let (r, _) = run(&log.data, 1 << 20);
        assert_eq!(r.max_rlid, Some(Rlid::new(9_000, 1)), "max at {at}");
        assert!(r.resend.is_empty(), "no local ids: nothing to recognise");
    }
    let (r, _) = run(&Log::new().data, 64);
    assert_eq!(r.max_rlid, None);
}

#[test]
fn records_across_chunk_boundaries_are_read_whole() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    for i in 0..40u32 {
        let size = [1, 15, 16, 17, 100, 4096, 70_000][i as usize % 7];
        log.event(A, &vec![i as u8; size]);
    }
    let big = 5_300_000; // about the largest event a client can send
    log.event(A, &vec![7u8; big]);
    log.event(A, b"after the big one");
    let want = rlids(&run(&log.data, 1 << 24).0);
    assert_eq!(want.len(), 42);
    for chunk in [16, 17, 31, 64, 100, 4096, 65_536, 1 << 20] {
        let (r, _) = run(&log.data, chunk);
        assert!(r.report.is_clean(), "chunk {chunk}: {}", r.report);
        assert_eq!(rlids(&r), want, "chunk {chunk}");
        assert_eq!(r.append_at, log.data.len() as u64);
        // Reading stops at the end of the record being read (give or take a chunk on
        // either side): the largest record bounds the memory, not the file.
        let bound = big + record::EVENT_BODY_OFFSET + 2 * chunk;
        assert!(
            r.peak_buffer <= bound,
            "chunk {chunk}: peak {}",
            r.peak_buffer
        );
    }
}

#[test]
fn a_torn_last_write_is_cut_durably() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    log.event(A, b"kept");
    log.event(A, &[5u8; 300]);
    let (last_start, _, _) = *log.spans.last().unwrap();
    let full = log.data.len();
    for cut in (last_start + 1..full).step_by(7) {
        let (r, fs) = run(&log.data[..cut], 64);
        assert_eq!(rlids(&r).len(), 1, "cut at {cut}");
        assert_eq!(r.report.torn_tail, Some((last_start as u64, cut as u64)));
        assert!(r.report.damaged.is_empty(), "cut at {cut}: {}", r.report);
        assert_eq!(r.append_at, last_start as u64);
        // The cut survives a power loss right after recovery.
        let after = fs.crash(CrashMode::DropUnsynced);
        let len = after.read(Path::new("/d/events.log")).unwrap().len();
        assert_eq!(len, last_start, "cut at {cut}");
    }
    // Zeros a file system left at the end are a torn write too.
    let mut zeros = log.data[..full].to_vec();
    zeros.extend_from_slice(&[0u8; 5000]);
    let (r, _) = run(&zeros, 100);
    assert_eq!(r.report.torn_tail, Some((full as u64, full as u64 + 5000)));
    assert_eq!(rlids(&r).len(), 2);
    // Not when anything but zeros follows them, however far (past many read buffers):
    // those bytes are damage, kept and reported, not a torn write to cut.
    zeros[full..].fill(0);
    zeros.truncate(full + 5000);
    zeros.push(1);
    let (r, _) = run(&zeros, 100);
    assert_eq!(r.report.torn_tail, None);
    assert_eq!(r.report.damaged.len(), 1, "{}", r.report);
    let d = &r.report.damaged[0];
    assert_eq!((d.start, d.end), (full as u64, full as u64 + 5001));
    assert_eq!(r.append_at, full as u64 + 5001);
}

#[test]
fn topic_ids_reused_after_a_destroy_keep_their_new_events() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    log.event(A, b"old");
    let late_put = record::topic_put(&topic(A, "a-renamed-late", 1));
    log.raw(&record::topic_delete(&A));
    // A deduplication pass of the old topic that finished after the delete.
    log.raw(&late_put);
    log.create(A, "a", 5);
    let new: Vec<Rlid> = (0..100).map(|i| log.event(A, &[i as u8])).collect();
    // A late update of the destroyed topic, after the id was reused.
    log.raw(&late_put);
    log.raw(&record::topic_put(&topic(A, "a2", 5)));
    let (r, _) = run(&log.data, 128);
    assert!(r.report.is_clean(), "{}", r.report);
    assert_eq!(rlids(&r), new);
    assert_eq!(r.topics[&A].topic.name, "a2");
}

#[test]
fn events_whose_topic_record_was_lost_are_kept() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    let damaged = log.spans[0];
    let ev: Vec<Rlid> = (0..5).map(|i| log.event(A, &[i])).collect();
    log.create(B, "b", 1);
    log.raw(&record::topic_put(&topic(B, "b", 1)));
    let b_ev = log.event(B, b"b");
    let b_create = log.spans[6];
    // Damage A's create record: its events go to a new topic.
    let mut data = log.data.to_vec();
    data[damaged.0 + 20] ^= 1;
    let (r, _) = run(&data, 4096);
    assert_eq!(r.report.records_lost(), 1);
    let a = &r.topics[&A];
    assert_eq!(a.topic.name, format!("recovered-{}", A.ulid()));
    assert_eq!(a.events.iter().map(|e| e.rlid).collect::<Vec<_>>(), ev);
    assert!(
        r.report.actions.iter().any(|a| a.contains("recovered-")),
        "{:?}",
        r.report.actions
    );
    // Damage B's create record: the update after it stands in for it.
    let mut data = log.data.to_vec();
    data[b_create.0 + 3] ^= 1;
    let (r, _) = run(&data, 4096);
    assert_eq!(r.topics[&B].topic.name, "b");
    assert_eq!(r.topics[&B].events.len(), 1);
    assert_eq!(r.topics[&B].events[0].rlid, b_ev);
}

#[test]
fn duplicate_marks_are_replayed_and_unknown_records_refused() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    let a = log.event(A, b"x");
    let b = log.event(A, b"x");
    log.raw(&record::duplicates(&A, &[(b, a)]));
    let (r, _) = run(&log.data, 64);
    assert_eq!(r.topics[&A].duplicates.get(&b), Some(&a));
    assert_eq!(r.topics[&A].duplicates.len(), 1);
    // A later pass replaces the marks.
    log.raw(&record::duplicates(&A, &[]));
    let (r, _) = run(&log.data, 64);
    assert!(r.topics[&A].duplicates.is_empty());

    let mut buf = BytesMut::new();
    buf.put_bytes(0, record::FRAME_HEADER);
    buf.put_u8(99);
    record::finish(&mut buf, 0);
    log.raw(&buf);
    let fs = SimFs::new();
    let (p, f) = write(&fs, &log.data);
    let err = replay(&p, &*f, &ReplayOptions::default()).err().unwrap();
    assert!(err.to_string().contains("unknown record kind 99"), "{err}");

    // A record that checks but does not parse is skipped and reported.
    let mut log = Log::new();
    let mut buf = BytesMut::new();
    buf.put_bytes(0, record::FRAME_HEADER);
    buf.put_u8(record::KIND_EVENT);
    buf.put_slice(b"short");
    record::finish(&mut buf, 0);
    log.create(A, "a", 1).raw(&buf);
    log.event(A, b"fine");
    let (r, _) = run(&log.data, 64);
    assert_eq!(r.report.records_lost(), 1);
    assert_eq!(rlids(&r).len(), 1);
}

#[test]
fn file_headers_missing_damaged_and_foreign() {
    let log = Log::new();
    for n in [0, 1, 12, 31] {
        let (r, _) = run(&log.data[..n], 64);
        assert_eq!(r.header, LogHeader::Missing, "{n} bytes");
    }
    let mut log = Log::new();
    log.create(A, "a", 1);
    log.event(A, b"e");
    let mut data = log.data.to_vec();
    data[14] ^= 4;
    let (r, _) = run(&data, 64);
    assert_eq!(r.header, LogHeader::Damaged);
    assert_eq!(rlids(&r).len(), 1);
    assert_eq!(r.report.damaged[0].start, 0);
    assert_eq!(r.report.damaged[0].end, FILE_HEADER as u64);
    assert_eq!(r.report.records_lost(), 0);

    let fs = SimFs::new();
    for bad in [
        &b"hello, world"[..],
        &b"ENSIGNFAST\x00\x01 and more bytes of v1"[..],
    ] {
        let (p, f) = write(&fs, bad);
        let err = replay(&p, &*f, &ReplayOptions::default()).err().unwrap();
        assert!(err.is_corrupt(), "{err}");
    }
    let (p, f) = write(&fs, b"ENSIGNFAST\x00\x01");
    let err = replay(&p, &*f, &ReplayOptions::default()).err().unwrap();
    assert!(err.to_string().contains("version 1"), "{err}");
}

#[test]
fn the_resend_keys_keeps_the_latest_events() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    for i in 0..10 {
        log.event(A, &[i]);
    }
    let fs = SimFs::new();
    let (p, f) = write(&fs, &log.data);
    let opts = ReplayOptions {
        chunk: 64,
        resend_keys: 3,
    };
    let r = replay(&p, &*f, &opts).unwrap();
    assert_eq!(r.resend.len(), 3);
    let last = crate::idempotence::ResendKey::new(
        &PublishId {
            scope: 42,
            local_id: 10u128.to_le_bytes(),
        },
        &A,
    );
    assert_eq!(r.resend.back().copied(), last);
}
