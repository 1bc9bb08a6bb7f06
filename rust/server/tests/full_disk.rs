//! A full disk: publishes are nacked while the log cannot be written (never acked and
//! then lost), the log takes writes again once there is room (retry with backoff), the
//! failure and the recovery are counted, and after a restart every acked event is
//! there once and no nacked one is. Once on the simulated disk, and once on a real
//! 1 MiB tmpfs when the test runs as root and may mount one.

mod common;
mod storage_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ensign_server::storage::simfs::{CrashMode, SimFs};
use ensign_server::{ServerConfig, ServerHandle};
use storage_support::*;

/// Publishes until the log refuses events; returns the numbers acked and nacked.
async fn fill(c: &mut Client, t: &Bytes, next: &mut u64) -> (Vec<u64>, Vec<u64>) {
    let (mut acked, mut nacked) = (Vec::new(), Vec::new());
    // NOTE: bounded: 4 MiB of 2 KiB events is far past the disks of these tests.
    while nacked.is_empty() && *next < 2_000 {
        let ids: Vec<u64> = (*next..*next + 20).collect();
        *next += 20;
        let evs = ids.iter().map(|i| numbered(t, *i, 2_000)).collect();
        for (id, ok) in ids.into_iter().zip(publish_outcomes(c, evs).await) {
            if ok {
                acked.push(id)
            } else {
                nacked.push(id)
            }
        }
    }
    assert!(!nacked.is_empty(), "the disk never filled");
    (acked, nacked)
}

/// Publishes one event at a time until one is acked (each nack is immediate while the
/// log waits for its next retry); returns the acked numbers.
async fn until_acked(c: &mut Client, t: &Bytes, next: &mut u64) -> Vec<u64> {
    for _ in 0..10_000 {
        let id = *next;
        *next += 1;
        if publish_outcomes(c, vec![numbered(t, id, 100)]).await == [true] {
            return vec![id];
        }
    }
    panic!("the log never took writes again");
}

fn check_counters(h: &ServerHandle) {
    let stats = h.storage_stats().expect("disk mode");
    assert!(stats.write_failures.load(Ordering::Relaxed) >= 1);
    assert!(stats.refused_jobs.load(Ordering::Relaxed) >= 1);
    assert_eq!(stats.recoveries.load(Ordering::Relaxed), 1);
    assert!(!stats.failing.load(Ordering::Relaxed));
}

async fn stored(h: &ServerHandle) -> Vec<u64> {
    let mut c = connect(&h.endpoint()).await;
    read_topic(&mut c, "t", true)
        .await
        .iter()
        .map(number)
        .collect()
}

#[tokio::test]
async fn a_full_simulated_disk_nacks_then_recovers() {
    let sim = SimFs::new();
    let h = start(sim_config(&sim)).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    sim.set_capacity(Some(64 * 1024));
    let mut next = 0;
    let (mut acked, nacked) = fill(&mut c, &t, &mut next).await;
    sim.set_capacity(None);
    acked.extend(until_acked(&mut c, &t, &mut next).await);
    check_counters(&h);
    // A power cut now: everything acked is on the disk, nothing nacked is.
    let after = sim.crash(CrashMode::DropUnsynced);
    bounded(h.shutdown()).await;
    let h = start(sim_config(&after)).await;
    assert!(h.recovery().is_clean(), "{}", h.recovery());
    assert_eq!(stored(&h).await, acked);
    assert!(!nacked.is_empty());
    bounded(h.shutdown()).await;
}

#[tokio::test]
async fn a_disk_that_fails_syncs_never_acks_what_it_did_not_store() {
    let sim = SimFs::new();
    let h = start(sim_config(&sim)).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    let mut next = 0;
    let mut acked = until_acked(&mut c, &t, &mut next).await;
    sim.set_fail_sync(true);
    let outcomes = publish_outcomes(&mut c, (1..50).map(|i| numbered(&t, i, 500)).collect()).await;
    assert!(
        outcomes.iter().all(|ok| !ok),
        "nothing is acked while syncs fail"
    );
    next = 50;
    sim.set_fail_sync(false);
    acked.extend(until_acked(&mut c, &t, &mut next).await);
    check_counters(&h);
    let after = sim.crash(CrashMode::DropUnsynced);
    bounded(h.shutdown()).await;
    let h = start(sim_config(&after)).await;
    assert_eq!(stored(&h).await, acked);
    bounded(h.shutdown()).await;
}

/// A tmpfs mounted for the test, unmounted however the test ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Result<(Tmpfs, tempfile::TempDir), String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok((Tmpfs(dir.path().to_path_buf()), dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn disk(dir: &Path) -> ServerConfig {
    ServerConfig {
        data_dir: Some(dir.to_path_buf()),
        storage_retry_max: Duration::from_millis(100),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_full_tmpfs_nacks_then_recovers_when_space_is_freed() {
    let (mnt, _dir) = match Tmpfs::mount("1m") {
        Ok(m) => m,
        Err(reason) => {
            println!("SKIPPED a_full_tmpfs_nacks_then_recovers_when_space_is_freed: {reason}");
            return;
        }
    };
    let data = mnt.0.join("data");
    let h = start(disk(&data)).await;
    let mut c = connect(&h.endpoint()).await;
    let t = create_topic(&mut c, "t").await;
    // Leave ~200 KiB free, then fill that with events.
    let filler = mnt.0.join("filler");
    std::fs::write(&filler, vec![0u8; 800 * 1024]).unwrap();
    let mut next = 0;
    let (mut acked, nacked) = fill(&mut c, &t, &mut next).await;
    std::fs::remove_file(&filler).unwrap();
    acked.extend(until_acked(&mut c, &t, &mut next).await);
    check_counters(&h);
    bounded(h.shutdown()).await;
    let h = start(disk(&data)).await;
    assert!(h.recovery().is_clean(), "{}", h.recovery());
    assert_eq!(stored(&h).await, acked);
    assert!(!nacked.is_empty());
    bounded(h.shutdown()).await;
}
