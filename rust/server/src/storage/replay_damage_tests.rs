//! Recovery from damage anywhere in a log: a flipped, zeroed, deleted or cut byte at
//! random positions (seeded) loses only the records it touches, and says so; resync on
//! the next record works whatever the read chunk size.

use std::collections::HashSet;

use ensign_proto::rlid::Rlid;
use rand::{Rng, SeedableRng};

use super::record::{self, EVENT_BODY_OFFSET};
use super::replay_tests::{rlids, run, Log, A, B};

/// One kind of damage at a position.
#[derive(Clone, Copy, Debug)]
enum Damage {
    Flip(usize, u8),
    Zero(usize, usize),
    Delete(usize, usize),
    Cut(usize),
}

fn damage(data: &[u8], d: Damage) -> Vec<u8> {
    let mut v = data.to_vec();
    match d {
        Damage::Flip(at, mask) => v[at] ^= mask,
        Damage::Zero(at, n) => v[at..at + n].fill(0),
        Damage::Delete(at, n) => {
            v.drain(at..at + n);
        }
        Damage::Cut(at) => v.truncate(at),
    }
    v
}

#[test]
fn damage_loses_only_the_records_it_touches_and_is_reported() {
    let mut log = Log::new();
    log.create(A, "a", 1).create(B, "b", 1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xE115);
    for i in 0..10_000u32 {
        let size = rng.random_range(20..200);
        let body: Vec<u8> = (0..size).map(|k| (i as usize + k) as u8).collect();
        log.event(if i % 2 == 0 { A } else { B }, &body);
    }
    let data = log.data.freeze();
    let (clean, _) = run(&data, 4096);
    // Memory stays flat: a few chunks, not the 1.2 MB file.
    assert!(clean.peak_buffer <= 3 * 4096, "peak {}", clean.peak_buffer);
    // ... and replayed bytes are dropped a chunk at a time, not after every record.
    let chunks = data.len() / 4096;
    assert!(
        (chunks / 2..=chunks + 1).contains(&clean.buffer_releases),
        "{} releases for {chunks} chunks",
        clean.buffer_releases
    );
    let all: HashSet<Rlid> = rlids(&clean).into_iter().collect();
    assert_eq!(all.len(), 10_000);
    let len = data.len();
    // NOTE: 4 kinds × 40 positions: ~20 s in a debug build (0.13 s per replay).
    for round in 0..160 {
        let at = rng.random_range(0..len);
        let d = match round % 4 {
            0 => Damage::Flip(at, 1 << rng.random_range(0..8)),
            1 => Damage::Zero(at, rng.random_range(1..64).min(len - at)),
            2 => Damage::Delete(at, rng.random_range(1..64).min(len - at)),
            _ => Damage::Cut(at),
        };
        let (first, last) = match d {
            Damage::Flip(a, _) => (a, a + 1),
            Damage::Zero(a, n) | Damage::Delete(a, n) => (a, a + n),
            Damage::Cut(a) => (a, len),
        };
        let touched: HashSet<Rlid> = log
            .spans
            .iter()
            .filter(|(s, e, _)| *s < last && first < *e)
            .filter_map(|(_, _, r)| *r)
            .collect();
        let (r, _) = run(&damage(&data, d), 4096);
        // Resynchronising reads a chunk ahead at a time, not the rest of the file.
        assert!(r.peak_buffer <= 4 * 4096, "{d:?}: peak {}", r.peak_buffer);
        let got: HashSet<Rlid> = rlids(&r).into_iter().collect();
        let lost: Vec<Rlid> = all.difference(&got).copied().collect();
        assert!(
            lost.iter().all(|x| touched.contains(x)),
            "{d:?}: lost {} records, touched {}",
            lost.len(),
            touched.len()
        );
        assert!(
            got.iter().all(|x| all.contains(x)),
            "{d:?}: made-up records"
        );
        for t in r.topics.values() {
            assert!(
                t.events.windows(2).all(|w| w[0].rlid < w[1].rlid),
                "{d:?}: order"
            );
        }
        if !lost.is_empty() {
            assert!(!r.report.is_clean(), "{d:?}: loss not reported");
            let reported = r.report.records_lost() + u64::from(r.report.torn_tail.is_some());
            assert!(reported >= 1, "{d:?}: {}", r.report);
        }
        if let Damage::Cut(a) = d {
            if a < len {
                assert!(r.report.torn_tail.is_some() || !r.report.damaged.is_empty());
            }
        }
    }
}

#[test]
fn resync_finds_the_next_record_whatever_the_chunk_size() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    for i in 0..30u32 {
        log.event(A, &vec![i as u8; 10 + (i as usize * 37) % 300]);
    }
    let want: Vec<Rlid> = log.spans.iter().filter_map(|s| s.2).collect();
    // Damage record 10's header and record 11's body: one region holding both.
    let (a, b, c) = (log.spans[11], log.spans[12], log.spans[13]);
    let mut data = log.data.to_vec();
    data[a.0] ^= 0x80;
    data[b.0 + 20] ^= 0x01;
    for chunk in [16, 17, 20, 33, 64, 100, 257, 1000, 4096] {
        let (r, _) = run(&data, chunk);
        let got = rlids(&r);
        let lost: Vec<Rlid> = want.iter().filter(|x| !got.contains(x)).copied().collect();
        assert_eq!(lost, [a.2.unwrap(), b.2.unwrap()], "chunk {chunk}");
        assert_eq!(r.report.damaged.len(), 1, "chunk {chunk}: {}", r.report);
        let d = &r.report.damaged[0];
        assert_eq!(
            (d.start, d.end, d.records),
            (a.0 as u64, c.0 as u64, 2),
            "chunk {chunk}"
        );
        assert!(r.report.torn_tail.is_none());
    }
    // Bytes deleted inside a body: its header still checks but its length now runs
    // into the next record, which is found where it now starts. One record lost, and
    // counted once.
    let mut data = log.data.to_vec();
    data.drain(b.0 + 30..b.0 + 40);
    for chunk in [16, 64, 4096] {
        let (r, _) = run(&data, chunk);
        assert_eq!(r.report.damaged.len(), 1, "chunk {chunk}: {}", r.report);
        let d = &r.report.damaged[0];
        assert_eq!(
            (d.start, d.end, d.records),
            (b.0 as u64, c.0 as u64 - 10, 1),
            "chunk {chunk}"
        );
        let lost: Vec<Rlid> = want
            .iter()
            .filter(|x| !rlids(&r).contains(x))
            .copied()
            .collect();
        assert_eq!(lost, [b.2.unwrap()], "chunk {chunk}");
    }
    // A damaged body whose header is intact costs exactly that record.
    let mut data = log.data.to_vec();
    data[b.0 + 20] ^= 0x01;
    let (r, _) = run(&data, 64);
    let d = &r.report.damaged[0];
    assert_eq!((d.start, d.end, d.records), (b.0 as u64, c.0 as u64, 1));
    // Garbage after the last record that is not a record's start is damage, kept.
    let mut data = log.data.to_vec();
    data.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
    let (r, _) = run(&data, 64);
    let end = log.data.len() as u64;
    assert_eq!(r.report.damaged[0].start, end);
    assert_eq!(r.report.damaged[0].end, end + 17);
    assert_eq!(
        r.append_at,
        end + 17,
        "damaged bytes stay; writes go after them"
    );
    for short in [3usize, 16] {
        let mut data = log.data.to_vec();
        data.extend_from_slice(&vec![9u8; short]);
        let (r, _) = run(&data, 64);
        assert_eq!(r.report.damaged.len(), 1, "{short} bytes");
        assert!(r.report.torn_tail.is_none());
    }
}

#[test]
fn a_damaged_body_is_skipped_whole_even_when_it_holds_a_record() {
    // A payload that is itself a whole, valid record (say, a log stored in an event).
    let mut inner = Log::new();
    for _ in 0..500 {
        inner.event(A, b"inner");
    }
    let (s, e, fake) = *inner.spans.last().unwrap();
    let fake = fake.unwrap();
    let mut body = vec![7u8; 40];
    body.extend_from_slice(&inner.data[s..e]);
    body.extend_from_slice(&[7u8; 40]);
    let mut log = Log::new();
    log.create(A, "a", 1);
    for i in 0..8u32 {
        log.event(A, &[i as u8; 100]);
    }
    let victim = log.event(A, &body);
    let (vs, ve, _) = *log.spans.last().unwrap();
    for i in 0..8u32 {
        log.event(A, &[i as u8; 100]);
    }
    let want: Vec<Rlid> = log
        .spans
        .iter()
        .filter_map(|s| s.2)
        .filter(|r| *r != victim)
        .collect();
    assert!(!want.contains(&fake));
    // The body fails its checksum; its header (and so its length) is intact.
    let mut data = log.data.to_vec();
    data[vs + EVENT_BODY_OFFSET + 10] ^= 0x01;
    for chunk in [64, 1000, 4096, 1 << 20] {
        let (r, _) = run(&data, chunk);
        let got = rlids(&r);
        assert!(
            !got.contains(&fake),
            "chunk {chunk}: a record made up from a payload"
        );
        assert_eq!(got, want, "chunk {chunk}");
        assert_eq!(r.report.damaged.len(), 1, "chunk {chunk}: {}", r.report);
        let d = &r.report.damaged[0];
        assert_eq!(
            (d.start, d.end, d.records),
            (vs as u64, ve as u64, 1),
            "chunk {chunk}"
        );
    }
}

#[test]
fn a_long_run_of_garbage_is_skipped_a_chunk_at_a_time() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    for i in 0..20u32 {
        log.event(A, &[i as u8; 100]);
    }
    let want: Vec<Rlid> = log.spans.iter().filter_map(|s| s.2).collect();
    let at = log.spans[10].1;
    // 50 KB holding no frame header (no byte of the sync word's first value).
    let garbage: Vec<u8> = (0..50_000u32).map(|i| 1 + (i % 200) as u8).collect();
    assert!(!garbage.contains(&record::SYNC.to_le_bytes()[0]));
    let mut data = log.data.to_vec();
    data.splice(at..at, garbage);
    for chunk in [16, 100, 1024] {
        let (r, _) = run(&data, chunk);
        assert_eq!(rlids(&r), want, "chunk {chunk}");
        assert_eq!(r.report.damaged.len(), 1, "chunk {chunk}: {}", r.report);
        let d = &r.report.damaged[0];
        assert_eq!(
            (d.start, d.end, d.records),
            (at as u64, at as u64 + 50_000, 1)
        );
        // Memory stays within a few chunks (and records) while scanning.
        assert!(
            r.peak_buffer <= 4 * chunk + 512,
            "chunk {chunk}: peak {}",
            r.peak_buffer
        );
    }
}

#[test]
fn a_record_found_after_damage_may_end_the_file() {
    let mut log = Log::new();
    log.create(A, "a", 1);
    for i in 0..6u32 {
        log.event(A, &[i as u8; 150]);
    }
    let want: Vec<Rlid> = log.spans.iter().filter_map(|s| s.2).collect();
    let (s, e, lost) = log.spans[log.spans.len() - 2];
    let mut data = log.data.to_vec();
    data[s + 5] ^= 0x04; // the length field of the next-to-last record
    for chunk in [16, 64, 4096] {
        let (r, _) = run(&data, chunk);
        let got = rlids(&r);
        let expect: Vec<Rlid> = want.iter().copied().filter(|x| Some(*x) != lost).collect();
        assert_eq!(got, expect, "chunk {chunk}: the last record is intact");
        assert_eq!(r.report.torn_tail, None, "chunk {chunk}: {}", r.report);
        assert_eq!(r.report.damaged.len(), 1, "chunk {chunk}: {}", r.report);
        assert_eq!(
            (r.report.damaged[0].start, r.report.damaged[0].end),
            (s as u64, e as u64)
        );
        assert_eq!(r.append_at, data.len() as u64);
    }
}
