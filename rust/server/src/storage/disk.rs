//! The durable log: one append-only file (`events.log`) in the data directory, written
//! by a dedicated writer thread with group commit (`writer`), plus `meta.json` and a
//! `LOCK` file (`datadir`).
//!
//! Concurrency: producers push jobs into an mpsc queue, event jobs under the broker's
//! append lock so that queue order is RLID order. The writer thread takes every queued
//! job, writes them with one `pwrite`, calls `fdatasync` once, and only then publishes
//! the events to the topic indexes and subscribers and resolves the receipts: an ack is
//! sent only for data that is on disk. Reads use `pread` on the same handle and touch
//! only positions the writer has already published.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use ensign_proto::rlid::Rlid;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use ulid::Ulid;

use super::datadir::{self, DirOptions};
use super::fs::StorageFile;
use super::replay::Recovered;
use super::writer::{self, Job};
use super::StorageError;
use crate::error::ServerError;
use crate::fanout::{Fanout, FanoutBatch};
use crate::idempotence::PublishedIndex;
use crate::topics::TopicEntry;

pub use super::datadir::{LOG_FILE, META_FILE};

/// Writes a small file of the operating system durably and atomically (0600).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use super::fs::StorageFs;
    super::fs::OsFs.write_atomic(path, data)
}

/// One event of an event job: where its wrapper sits inside the job's buffer.
pub struct StoredRef {
    pub topic: Arc<TopicEntry>,
    pub rlid: Rlid,
    pub body_start: u32,
    pub body_len: u32,
}

/// A committed batch on its way to disk.
pub struct EventJob {
    pub buf: Bytes,
    pub refs: Vec<StoredRef>,
    pub fanout: Option<FanoutBatch>,
    /// The broker's commit sequence number of the batch (see `idempotence`).
    pub commit_seq: u64,
    pub done: oneshot::Sender<Result<(), StorageError>>,
}

/// How the durable log behaves.
#[derive(Clone, Debug)]
pub struct DiskOptions {
    pub dir: DirOptions,
    /// Longest wait between two attempts to write again after a write failed.
    pub retry_max: Duration,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            dir: DirOptions::default(),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// Counters of the log's health.
#[derive(Debug, Default)]
pub struct StorageStats {
    /// Writes (or syncs) that failed.
    pub write_failures: AtomicU64,
    /// Times the log could be written again after failures.
    pub recoveries: AtomicU64,
    /// Publish batches and metadata changes refused because the log could not be written.
    pub refused_jobs: AtomicU64,
    /// Set while writes fail.
    pub failing: AtomicBool,
}

/// The open data directory.
pub struct DiskLog {
    dir: PathBuf,
    tx: mpsc::Sender<Job>,
    file: Arc<dyn StorageFile>,
    writer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    stats: Arc<StorageStats>,
    /// Released by `close`: a closed log writes nothing, and a restarted server must not
    /// wait for streams of the old one that still hold it.
    lock: Mutex<Option<Box<dyn std::any::Any + Send + Sync>>>,
}

impl DiskLog {
    /// Opens (or creates) the data directory and replays its log.
    pub fn open(
        dir: &Path,
        fanout: Arc<Fanout>,
        published: Arc<PublishedIndex>,
        opts: &DiskOptions,
    ) -> Result<(Arc<DiskLog>, Ulid, Recovered), ServerError> {
        let open = datadir::open(dir, &opts.dir)?;
        let (tx, rx) = mpsc::channel();
        let stats = Arc::new(StorageStats::default());
        let w = writer::Writer::new(
            open.log.clone(),
            open.recovered.append_at,
            fanout,
            published,
            stats.clone(),
            opts.retry_max,
        );
        let handle = std::thread::Builder::new()
            .name("ensign-log-writer".into())
            .spawn(move || w.run(rx))
            .map_err(|source| ServerError::DataDir {
                path: dir.to_path_buf(),
                source,
            })?;
        let log = DiskLog {
            dir: dir.to_path_buf(),
            tx,
            file: open.log,
            writer: Mutex::new(Some(handle)),
            closed: AtomicBool::new(false),
            stats,
            lock: Mutex::new(Some(open.lock)),
        };
        Ok((Arc::new(log), open.project, open.recovered))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn stats(&self) -> &StorageStats {
        &self.stats
    }

    /// Queues an event job (call under the broker's append lock).
    pub fn submit_events(&self, job: EventJob) {
        if let Err(mpsc::SendError(Job::Events(job))) = self.tx.send(Job::Events(job)) {
            let _ = job.done.send(Err(StorageError::Closed));
        }
    }

    pub fn submit_meta(&self, record: Bytes, done: oneshot::Sender<Result<(), StorageError>>) {
        if let Err(mpsc::SendError(Job::Meta(_, done))) = self.tx.send(Job::Meta(record, done)) {
            let _ = done.send(Err(StorageError::Closed));
        }
    }

    pub fn read_at(&self, offset: u64, len: u32) -> Result<Bytes, StorageError> {
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(|e| StorageError::Io(e.to_string()))?;
        Ok(Bytes::from(buf))
    }

    /// Waits for every queued job to be durable, then stops the writer.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Job::Close(tx)).is_ok() {
            let _ = rx.recv();
        }
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
        self.lock.lock().take();
    }
}

impl Drop for DiskLog {
    fn drop(&mut self) {
        self.close();
    }
}
