//! The durable log: one append-only file (`events.log`) in the data directory, written
//! by a dedicated writer thread with group commit, plus `meta.json` (the project id) and
//! a `LOCK` file that keeps a second server out.
//!
//! Concurrency: producers push jobs into an mpsc queue, event jobs under the broker's
//! append lock so that queue order is RLID order. The writer thread takes every queued
//! job, writes them with one `write`, calls `fdatasync` once, and only then publishes
//! the events to the topic indexes and subscribers and resolves the receipts: an ack is
//! sent only for data that is on disk. Reads use `pread` on a separate handle and touch
//! only positions the writer has already published.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use bytes::Bytes;
use ensign_proto::rlid::Rlid;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use ulid::Ulid;

use super::replay::{self, Recovered};
use super::{Body, StorageError, StoredEvent};
use crate::error::ServerError;
use crate::fanout::{Fanout, FanoutBatch};
use crate::topics::TopicEntry;

pub const LOG_FILE: &str = "events.log";
pub const META_FILE: &str = "meta.json";
const LOCK_FILE: &str = "LOCK";

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
    pub done: oneshot::Sender<Result<(), StorageError>>,
}

enum Job {
    Events(EventJob),
    Meta(Bytes, oneshot::Sender<Result<(), StorageError>>),
    Close(mpsc::Sender<()>),
}

/// The open data directory.
pub struct DiskLog {
    dir: PathBuf,
    tx: mpsc::Sender<Job>,
    reader: File,
    writer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    _lock: File,
}

fn dir_err(path: &Path) -> impl FnOnce(std::io::Error) -> ServerError + '_ {
    move |source| ServerError::DataDir {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads or creates `meta.json` and returns the project id kept there.
fn project_id(dir: &Path) -> Result<Ulid, ServerError> {
    let path = dir.join(META_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let corrupt = |reason: &str| ServerError::Corrupt {
                path: path.clone(),
                reason: reason.to_string(),
            };
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| corrupt(&e.to_string()))?;
            let id = v["project_id"]
                .as_str()
                .ok_or_else(|| corrupt("no project_id"))?;
            Ulid::from_string(id).map_err(|_| corrupt("project_id is not a ULID"))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = Ulid::new();
            let text = serde_json::json!({"format": 1, "project_id": id.to_string()});
            write_atomic(&path, text.to_string().as_bytes()).map_err(dir_err(dir))?;
            Ok(id)
        }
        Err(e) => Err(dir_err(dir)(e)),
    }
}

/// Writes a small file so that it is either absent, old or complete after a crash.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    {
        // 0600: auth.json holds the signing key and the client secret.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

impl DiskLog {
    /// Opens (or creates) the data directory and replays its log.
    pub fn open(
        dir: &Path,
        fanout: Arc<Fanout>,
    ) -> Result<(Arc<DiskLog>, Ulid, Recovered), ServerError> {
        fs::create_dir_all(dir).map_err(dir_err(dir))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(dir_err(dir))?;
        if lock.try_lock().is_err() {
            return Err(ServerError::DataDirLocked {
                path: dir.to_path_buf(),
            });
        }
        let project = project_id(dir)?;
        let log_path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&log_path)
            .map_err(dir_err(dir))?;
        let recovered = replay::replay(&log_path, &mut file)?;
        let reader = File::open(&log_path).map_err(dir_err(dir))?;
        let (tx, rx) = mpsc::channel();
        let len = recovered.valid_len;
        let writer = std::thread::Builder::new()
            .name("ensign-log-writer".into())
            .spawn(move || writer_loop(file, len, rx, fanout))
            .map_err(dir_err(dir))?;
        let log = DiskLog {
            dir: dir.to_path_buf(),
            tx,
            reader,
            writer: Mutex::new(Some(writer)),
            closed: AtomicBool::new(false),
            _lock: lock,
        };
        Ok((Arc::new(log), project, recovered))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
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
        self.reader
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
    }
}

impl Drop for DiskLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn writer_loop(mut file: File, mut len: u64, rx: mpsc::Receiver<Job>, fanout: Arc<Fanout>) {
    let mut failed: Option<String> = None;
    let mut scratch: Vec<u8> = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        // NOTE: group commit: everything queued while the previous fdatasync ran goes
        // into this one write + fdatasync (hundreds of events per sync under load).
        while jobs.len() < 65_536 {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut closer = None;
        let mut offsets = Vec::with_capacity(jobs.len());
        scratch.clear();
        let mut pos = len;
        for job in &jobs {
            let buf: &[u8] = match job {
                Job::Events(j) => &j.buf,
                Job::Meta(b, _) => b,
                Job::Close(_) => &[],
            };
            offsets.push(pos);
            pos += buf.len() as u64;
            scratch.extend_from_slice(buf);
        }
        if failed.is_none() && !scratch.is_empty() {
            let res = file.write_all(&scratch).and_then(|_| file.sync_data());
            match res {
                Ok(()) => len = pos,
                Err(e) => {
                    tracing::error!(error = %e, "event log write failed; storage is now read-only");
                    failed = Some(e.to_string());
                }
            }
        }
        if scratch.capacity() > 64 * 1024 * 1024 {
            scratch = Vec::new();
        }
        let result = match &failed {
            None => Ok(()),
            Some(e) => Err(StorageError::Io(e.clone())),
        };
        for (job, base) in jobs.into_iter().zip(offsets) {
            match job {
                Job::Events(j) => {
                    if result.is_ok() {
                        publish(&j.refs, base);
                        if let Some(batch) = j.fanout {
                            fanout.deliver(batch);
                        }
                    }
                    let _ = j.done.send(result.clone());
                }
                Job::Meta(_, done) => {
                    let _ = done.send(result.clone());
                }
                Job::Close(tx) => closer = Some(tx),
            }
        }
        if let Some(tx) = closer {
            let _ = tx.send(());
            return;
        }
    }
}

/// Adds durable events to their topics' indexes, one lock per run of one topic.
fn publish(refs: &[StoredRef], base: u64) {
    let mut i = 0;
    while i < refs.len() {
        let topic = &refs[i].topic;
        let mut events = topic.events.write();
        while i < refs.len() && Arc::ptr_eq(&refs[i].topic, topic) {
            let r = &refs[i];
            events.events.push(StoredEvent {
                rlid: r.rlid,
                body: Body::Disk {
                    offset: base + u64::from(r.body_start),
                    len: r.body_len,
                },
            });
            i += 1;
        }
    }
}
