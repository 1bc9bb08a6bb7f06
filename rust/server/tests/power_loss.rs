//! Power loss: a durable server on a simulated disk (`SimFs`) publishes with acks while
//! the test cuts the power at seeded moments — keeping only what was synced, or a torn
//! prefix of what was not, and dropping directory entries not yet synced — and restarts
//! on what is left, several times in a row. After every restart: each acked event is
//! there once, in publish order; events re-sent by the publisher (those it had no ack
//! for) are stored at most once; new events get higher ids than every older one;
//! duplicate marks survive; and recovery never reports damage (a power cut is not
//! corruption; it may only leave a torn last write).
//!
//! This catches an ack sent before `fdatasync`, a torn tail cut without making the cut
//! durable, a log header that is not synced before `meta.json` names the log, and a
//! log created without syncing its directory.

mod common;
mod storage_support;

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use common::*;
use ensign_proto::api::{self, deduplication::Strategy, publisher_reply::Embed, TopicState};
use ensign_proto::rlid::Rlid;
use ensign_server::storage::simfs::{CrashMode, SimFs};
use rand::{Rng, SeedableRng};
use storage_support::*;
use ulid::Ulid;

const TOPICS: [&str; 2] = ["alpha", "beta"];
/// Largest `EventWrapper.event` the server takes, minus room for the Event's fields.
const BIG: usize = 5_243_000 - 200;

#[derive(Default)]
struct Model {
    ids: HashMap<String, Bytes>,
    /// Acked event numbers per topic, in publish order.
    acked: HashMap<String, Vec<u64>>,
    /// Sent without an ack (nacked, or cut off by the crash): re-sent next time.
    pending: Vec<(String, u64, usize)>,
    /// Every event that was ever pending: its place in the log is free (a nack means
    /// "not stored as far as the server knows"; the re-send comes later).
    resent: HashSet<u64>,
    next: u64,
    /// RLIDs and numbers seen by the last check.
    max_rlid: Option<Rlid>,
    seen: HashSet<u64>,
    /// Events of the deduplicated topic without and with the marked copies.
    dedup: Option<(usize, usize)>,
}

/// Checks a restarted server against what was acked.
async fn check(h: &ensign_server::ServerHandle, c: &mut Client, m: &mut Model, label: &str) {
    let report = h.recovery();
    assert!(
        report.damaged.is_empty(),
        "{label}: power loss reported as damage: {report}"
    );
    let prev_max = m.max_rlid;
    let pending: HashSet<u64> = m.pending.iter().map(|p| p.1).collect();
    for name in TOPICS {
        let stored = read_topic(c, name, true).await;
        let nums: Vec<u64> = stored.iter().map(number).collect();
        let mut once = HashSet::new();
        for n in &nums {
            assert!(once.insert(*n), "{label}: event {n} stored twice in {name}");
            let acked = m.acked[name].contains(n);
            assert!(
                acked || pending.contains(n),
                "{label}: event {n} never published"
            );
        }
        for n in &m.acked[name] {
            assert!(once.contains(n), "{label}: acked event {n} of {name} lost");
        }
        let first_time = |n: &u64| !m.resent.contains(n) && m.acked[name].contains(n);
        let in_log: Vec<u64> = nums.iter().copied().filter(first_time).collect();
        let in_acks: Vec<u64> = m.acked[name].iter().copied().filter(first_time).collect();
        assert_eq!(in_log, in_acks, "{label}: acked events of {name} reordered");
        for e in &stored {
            let rlid = Rlid::from_slice(&e.id).unwrap();
            if !m.seen.contains(&number(e)) {
                assert!(
                    prev_max.is_none_or(|p| rlid > p),
                    "{label}: new event id {rlid:?} not above {prev_max:?}"
                );
            }
            m.max_rlid = m.max_rlid.max(Some(rlid));
            m.seen.insert(number(e));
        }
    }
    if let Some(want) = m.dedup {
        let unique = read_topic(c, "dups", false).await.len();
        let all = read_topic(c, "dups", true).await.len();
        assert_eq!((unique, all), want, "{label}: duplicate marks lost");
    }
}

/// First run: topics, and a topic with duplicate marks.
async fn setup(c: &mut Client, m: &mut Model) {
    for name in TOPICS {
        m.ids.insert(name.into(), create_topic(c, name).await);
        m.acked.insert(name.into(), Vec::new());
    }
    let dups = create_topic(c, "dups").await;
    let evs = (0..20).map(|i| wrapper(&dups, 1_000_000 + i, &[(i % 10) as u8; 40]));
    assert!(publish_outcomes(c, evs.collect()).await.iter().all(|a| *a));
    let s = c
        .set_topic_policy(api::TopicPolicy {
            id: Ulid::from_bytes(dups[..].try_into().unwrap()).to_string(),
            deduplication_policy: Some(api::Deduplication {
                strategy: Strategy::Datagram as i32,
                ..Default::default()
            }),
            sharding_strategy: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.state, TopicState::Pending as i32);
    let t = c
        .retrieve_topic(api::Topic {
            id: dups,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        t.status,
        TopicState::Ready as i32,
        "rehashed before the reply"
    );
    m.dedup = Some((10, 20));
}

/// One life of the server: start on `sim`, check, publish, and cut the power at a
/// seeded moment. Returns the disk as the power cut left it.
async fn life(sim: SimFs, m: &mut Model, rng: &mut rand::rngs::StdRng, label: &str) -> SimFs {
    let h = start(sim_config(&sim)).await;
    let mut c = connect(&h.endpoint()).await;
    if m.ids.is_empty() {
        setup(&mut c, m).await;
    }
    check(&h, &mut c, m, label).await;
    let style = rng.random_range(0..5);
    let torn = CrashMode::Torn(rng.random());
    let mode = if rng.random_bool(0.5) {
        torn
    } else {
        CrashMode::DropUnsynced
    };
    if style == 0 {
        // Right after a (re)start: what recovery repaired must already be durable.
        let after = sim.crash(mode);
        bounded(h.shutdown()).await;
        return after;
    }
    // The publisher re-sends what had no ack, then new events (one near the largest
    // size now and then).
    let mut batch: Vec<(String, u64, usize)> = std::mem::take(&mut m.pending);
    let n = rng.random_range(20..300);
    for i in 0..n {
        let name = TOPICS[rng.random_range(0..2)].to_string();
        let size = if i == n / 2 && rng.random_bool(0.3) {
            BIG
        } else {
            rng.random_range(16..1500)
        };
        batch.push((name, m.next, size));
        m.next += 1;
    }
    let crash_after = rng.random_range(0..batch.len() + 1);
    let mut p = publish(&mut c, &[]).await;
    let tx = p.tx.clone();
    let evs: Vec<_> = batch
        .iter()
        .map(|(t, id, size)| numbered(&m.ids[t], *id, *size))
        .collect();
    let sender = tokio::spawn(async move {
        for w in evs {
            if tx.send(event_req(w)).await.is_err() {
                return;
            }
        }
    });
    p.half_close();
    let mut answered = 0;
    let mut stalled = false;
    let image = loop {
        if answered == crash_after && style == 4 && !stalled {
            // The disk stops syncing: writes reach the page cache but not the disk.
            sim.set_fail_sync(true);
            stalled = true;
        }
        if answered >= crash_after && (style != 4 || answered == batch.len()) {
            break sim.crash(mode);
        }
        match p.next().await {
            Embed::Ack(_) => {
                let (t, id, _) = &batch[answered];
                m.acked.get_mut(t).unwrap().push(*id);
            }
            Embed::Nack(_) => {
                m.pending.push(batch[answered].clone());
                if stalled {
                    answered += 1;
                    break sim.crash(torn);
                }
            }
            other => panic!("{label}: unexpected reply {other:?}"),
        }
        answered += 1;
    };
    m.pending.extend(batch[answered..].iter().cloned());
    m.resent.extend(m.pending.iter().map(|p| p.1));
    sender.abort();
    drop(p);
    bounded(h.shutdown()).await;
    image
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_events_survive_power_cuts_exactly_once() {
    // NOTE: 4 seeds × 6 lives: ~24 restarts, 15–30 s in a debug build.
    let mut all_acked = 0;
    for seed in 0..4u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x9017 + seed);
        let mut m = Model {
            next: 1,
            ..Default::default()
        };
        let mut sim = SimFs::new();
        for life_no in 0..6 {
            let label = format!("seed {seed}, life {life_no}");
            sim = life(sim, &mut m, &mut rng, &label).await;
        }
        // A last start checks the state the last cut left.
        let h = start(sim_config(&sim)).await;
        let mut c = connect(&h.endpoint()).await;
        check(&h, &mut c, &mut m, &format!("seed {seed}, final")).await;
        let total: usize = m.acked.values().map(Vec::len).sum();
        all_acked += total;
        bounded(h.shutdown()).await;
    }
    // How many events a life gets acked before its cut depends on how the server
    // grouped them into batches (a failing sync nacks a whole batch), so one seed can
    // see few (54 and 80 seen under load); all four together see ~1,500 on average.
    assert!(all_acked > 300, "only {all_acked} events acked in all");
}

#[tokio::test]
async fn a_new_directory_survives_a_power_cut_right_after_start() {
    for mode in [CrashMode::DropUnsynced, CrashMode::Torn(3)] {
        let sim = SimFs::new();
        let h = start(sim_config(&sim)).await;
        let project = h.project_id();
        let after = sim.crash(mode);
        bounded(h.shutdown()).await;
        let h = start(sim_config(&after)).await;
        let mut c = connect(&h.endpoint()).await;
        // Whatever survived, the server starts; if meta.json survived, so did the log.
        create_topic(&mut c, "t").await;
        let after2 = after.crash(CrashMode::DropUnsynced);
        let same = h.project_id();
        bounded(h.shutdown()).await;
        let h = start(sim_config(&after2)).await;
        assert_eq!(h.project_id(), same);
        let _ = project;
        bounded(h.shutdown()).await;
    }
}

#[tokio::test]
async fn a_repaired_log_survives_a_power_cut() {
    let sim = SimFs::new();
    let h = start(sim_config(&sim)).await;
    bounded(h.shutdown()).await;
    use ensign_server::storage::fs::StorageFs;
    sim.remove_file(std::path::Path::new("/data/events.log"))
        .unwrap();
    sim.sync_dir(std::path::Path::new("/data")).unwrap();
    let err = ensign_server::start(sim_config(&sim)).await.unwrap_err();
    assert!(err.needs_repair(), "{err}");
    let h = start(ensign_server::ServerConfig {
        repair: true,
        ..sim_config(&sim)
    })
    .await;
    assert!(h.recovery().actions[0].contains("events.log was missing"));
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let acked = publish_outcomes(&mut c, (0..10).map(|i| numbered(&t, i, 100)).collect()).await;
    assert!(acked.iter().all(|a| *a));
    let after = sim.crash(CrashMode::DropUnsynced);
    bounded(h.shutdown()).await;
    // The new log's directory entry must have been synced: meta.json names it.
    let h = start(sim_config(&after)).await;
    let mut c = connect(&h.endpoint()).await;
    assert_eq!(read_topic(&mut c, "t", true).await.len(), 10);
    bounded(h.shutdown()).await;
}

#[tokio::test]
async fn a_torn_tail_cut_at_start_stays_cut_after_a_power_cut() {
    let sim = SimFs::new();
    let h = start(sim_config(&sim)).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let evs = (0..50).map(|i| numbered(&t, i, 200)).collect();
    assert!(publish_outcomes(&mut c, evs).await.iter().all(|a| *a));
    // The disk stops syncing while a big event is written: it is nacked, and a power
    // cut keeps part of it.
    sim.set_fail_sync(true);
    assert_eq!(
        publish_outcomes(&mut c, vec![numbered(&t, 50, 60_000)]).await,
        [false]
    );
    let mut torn = None;
    for seed in 0..64 {
        let image = sim.crash(CrashMode::Torn(seed));
        let h2 = start(sim_config(&image)).await;
        let cut = h2.recovery().torn_tail.is_some();
        if cut {
            torn = Some((image, h2));
            break;
        }
        bounded(h2.shutdown()).await;
    }
    bounded(h.shutdown()).await;
    let (image, h) = torn.expect("a seed that tears the last write");
    assert!(h.recovery().damaged.is_empty(), "{}", h.recovery());
    // One small acked event after the cut, then the power goes again.
    let mut c = connect(&h.endpoint()).await;
    assert_eq!(
        publish_outcomes(&mut c, vec![numbered(&t, 51, 10)]).await,
        [true]
    );
    let after = image.crash(CrashMode::DropUnsynced);
    bounded(h.shutdown()).await;
    let h = start(sim_config(&after)).await;
    assert!(
        h.recovery().is_clean(),
        "the torn bytes came back: {}",
        h.recovery()
    );
    let mut c = connect(&h.endpoint()).await;
    let nums: Vec<u64> = read_topic(&mut c, "t", true)
        .await
        .iter()
        .map(number)
        .collect();
    assert_eq!(nums, (0..50).chain([51]).collect::<Vec<u64>>());
    bounded(h.shutdown()).await;
}
