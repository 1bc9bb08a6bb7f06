//! Recovery of damaged and incomplete data directories, through the server: a damaged
//! byte anywhere in a log of 10,000 events loses at most the records it touches and
//! the loss is reported (`ServerHandle::recovery`); missing or unreadable files stop
//! the server with a clear error unless it is asked to repair, and a repair never makes
//! up a project id without saying so.

mod common;
mod storage_support;

use std::collections::HashSet;
use std::path::Path;

use common::*;
use ensign_server::storage::record::{self, Parsed};
use ensign_server::{ServerConfig, ServerHandle};
use rand::{Rng, SeedableRng};
use storage_support::*;

fn disk(dir: &Path) -> ServerConfig {
    ServerConfig {
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

fn repair(dir: &Path) -> ServerConfig {
    ServerConfig {
        repair: true,
        ..disk(dir)
    }
}

/// A stopped data directory holding `n` acked events in topic "t".
async fn dir_with_events(n: u64) -> (tempfile::TempDir, ulid::Ulid) {
    let dir = tempfile::tempdir().unwrap();
    let h = start(disk(dir.path())).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let mut done = 0;
    while done < n {
        let k = (n - done).min(2_000);
        let evs = (done..done + k).map(|i| numbered(&t, i, 60 + (i % 50) as usize));
        assert!(publish_outcomes(&mut c, evs.collect())
            .await
            .iter()
            .all(|a| *a));
        done += k;
    }
    let project = h.project_id();
    bounded(h.shutdown()).await;
    (dir, project)
}

async fn numbers(h: &ServerHandle) -> Vec<u64> {
    let mut c = connect(&h.endpoint()).await;
    read_topic(&mut c, "t", true)
        .await
        .iter()
        .map(number)
        .collect()
}

/// `(start, end, event number)` of every event record of a log.
fn event_spans(log: &[u8]) -> Vec<(usize, usize, u64)> {
    let mut out = Vec::new();
    let mut pos = record::FILE_HEADER;
    while let Parsed::Record(f, next) = record::parse(log, pos, 0) {
        if f.kind == record::KIND_EVENT {
            let w: ensign_proto::api::EventWrapper =
                prost::Message::decode(&f.payload[record::EVENT_PREFIX..]).unwrap();
            out.push((pos, next, number(&w)));
        }
        pos = next;
    }
    assert_eq!(pos, log.len(), "a clean log parses to its end");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_byte_loses_only_the_records_it_touches_and_says_so() {
    let (src, _) = dir_with_events(10_000).await;
    let clean = std::fs::read(src.path().join("events.log")).unwrap();
    let meta = std::fs::read(src.path().join("meta.json")).unwrap();
    let spans = event_spans(&clean);
    assert_eq!(spans.len(), 10_000);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xDA7A);
    // NOTE: 16 positions (4 per kind) keep this under ~20 s in a debug build; the
    // exhaustive loop runs on the replay alone (storage::replay_tests).
    for round in 0..16 {
        let at = rng.random_range(record::FILE_HEADER..clean.len());
        let mut bytes = clean.clone();
        let (first, last) = match round % 4 {
            0 => {
                bytes[at] ^= 1 << rng.random_range(0..8);
                (at, at + 1)
            }
            1 => {
                let n = rng.random_range(1..300).min(clean.len() - at);
                bytes[at..at + n].fill(0);
                (at, at + n)
            }
            2 => {
                let n = rng.random_range(1..300).min(clean.len() - at);
                bytes.drain(at..at + n);
                (at, at + n)
            }
            _ => {
                bytes.truncate(at);
                (at, clean.len())
            }
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("events.log"), &bytes).unwrap();
        std::fs::write(dir.path().join("meta.json"), &meta).unwrap();
        let h = start(disk(dir.path())).await;
        let got: HashSet<u64> = numbers(&h).await.into_iter().collect();
        let touched: HashSet<u64> = spans
            .iter()
            .filter(|(s, e, _)| *s < last && first < *e)
            .map(|s| s.2)
            .collect();
        let lost: Vec<u64> = (0..10_000).filter(|n| !got.contains(n)).collect();
        let report = h.recovery();
        assert!(
            lost.iter().all(|n| touched.contains(n)),
            "round {round}: lost {} events, touched {}: {report}",
            lost.len(),
            touched.len()
        );
        if !lost.is_empty() {
            assert!(!report.is_clean(), "round {round}: loss not reported");
            assert!(report.bytes_dropped() > 0);
        }
        bounded(h.shutdown()).await;
    }
}

#[tokio::test]
async fn a_missing_event_log_needs_repair_and_keeps_the_project() {
    let (dir, project) = dir_with_events(10).await;
    std::fs::remove_file(dir.path().join("events.log")).unwrap();
    let err = ensign_server::start(disk(dir.path())).await.unwrap_err();
    assert!(err.needs_repair(), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("events.log") && msg.contains("missing"),
        "{msg}"
    );
    assert!(msg.contains("--repair"), "{msg}");
    // A log cut to nothing is the same loss.
    std::fs::write(dir.path().join("events.log"), b"").unwrap();
    let err = ensign_server::start(disk(dir.path())).await.unwrap_err();
    assert!(err.needs_repair(), "{err:?}");

    let h = start(repair(dir.path())).await;
    assert_eq!(h.project_id(), project);
    assert!(h
        .recovery()
        .actions
        .iter()
        .any(|a| a.contains("empty event log")));
    bounded(h.shutdown()).await;
    let h = start(disk(dir.path())).await;
    assert!(h.recovery().is_clean(), "{}", h.recovery());
    assert_eq!(h.project_id(), project);
    bounded(h.shutdown()).await;
}

#[tokio::test]
async fn a_missing_meta_file_needs_repair_and_the_log_names_the_project() {
    let (dir, project) = dir_with_events(25).await;
    std::fs::remove_file(dir.path().join("meta.json")).unwrap();
    let err = ensign_server::start(disk(dir.path())).await.unwrap_err();
    assert!(err.needs_repair(), "{err:?}");
    assert!(err.to_string().contains(&project.to_string()), "{err}");
    let h = start(repair(dir.path())).await;
    assert_eq!(
        h.project_id(),
        project,
        "the id comes from the log's header"
    );
    assert!(
        h.recovery().actions[0].contains("meta.json"),
        "{}",
        h.recovery()
    );
    assert_eq!(numbers(&h).await, (0..25).collect::<Vec<_>>());
    bounded(h.shutdown()).await;

    // Unreadable meta.json and a damaged log header: a new id, said out loud.
    std::fs::write(dir.path().join("meta.json"), b"{").unwrap();
    let mut log = std::fs::read(dir.path().join("events.log")).unwrap();
    log[20] ^= 0xff;
    std::fs::write(dir.path().join("events.log"), &log).unwrap();
    let err = ensign_server::start(disk(dir.path())).await.unwrap_err();
    assert!(err.is_corrupt(), "{err:?}");
    let h = start(repair(dir.path())).await;
    assert_ne!(h.project_id(), project);
    let actions = h.recovery().actions.join("; ");
    assert!(actions.contains("NEW project id"), "{actions}");
    assert_eq!(numbers(&h).await.len(), 25);
    bounded(h.shutdown()).await;
}

#[tokio::test]
async fn logs_of_another_project_or_format_are_refused() {
    let (dir, _) = dir_with_events(3).await;
    let (other, _) = dir_with_events(3).await;
    std::fs::copy(other.path().join("meta.json"), dir.path().join("meta.json")).unwrap();
    let err = ensign_server::start(repair(dir.path())).await.unwrap_err();
    assert!(err.to_string().contains("belongs to project"), "{err}");
    std::fs::write(dir.path().join("events.log"), b"ENSIGNFAST\x00\x01...").unwrap();
    let err = ensign_server::start(disk(dir.path())).await.unwrap_err();
    assert!(err.to_string().contains("version 1"), "{err}");
}
