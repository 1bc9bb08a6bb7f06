//! The log writer thread: group commit, and recovery from failed writes.
//!
//! Each round takes every queued job, writes them with one `pwritev` at the end of the
//! durable data and one `fdatasync`, then publishes the events (topic indexes,
//! subscribers) and resolves the receipts, in queue order.
//!
//! When a write or sync fails (a full disk, an I/O error), the round's jobs are refused
//! (publishers get nacks, never an ack for data that is not on disk), whatever part of
//! the write reached the file is cut off again, and the log stays usable: later rounds
//! are refused at once until a retry is due, then written again; the wait between
//! retries doubles from 50 ms up to `retry_max`. The first failure is logged at ERROR,
//! the recovery at WARN with how long it took; `StorageStats` counts both.
//!
//! Concurrency: owns the write side of the log file; the broker's append lock orders
//! the queue. Publishing the events to the topic indexes takes each topic's lock.

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::disk::{EventJob, StorageStats, StoredRef};
use super::fs::StorageFile;
use super::{Body, StorageError, StoredEvent};
use crate::fanout::Fanout;
use crate::idempotence::PublishedIndex;

pub enum Job {
    Events(EventJob),
    Meta(Bytes, oneshot::Sender<Result<(), StorageError>>),
    Close(mpsc::Sender<()>),
}

const FIRST_RETRY: Duration = Duration::from_millis(50);

struct Failure {
    error: String,
    since: Instant,
    retry_at: Instant,
    backoff: Duration,
}

pub struct Writer {
    file: Arc<dyn StorageFile>,
    /// End of the durable data: where the next round is written.
    len: u64,
    fanout: Arc<Fanout>,
    published: Arc<PublishedIndex>,
    stats: Arc<StorageStats>,
    retry_max: Duration,
    failure: Option<Failure>,
}

impl Writer {
    pub fn new(
        file: Arc<dyn StorageFile>,
        len: u64,
        fanout: Arc<Fanout>,
        published: Arc<PublishedIndex>,
        stats: Arc<StorageStats>,
        retry_max: Duration,
    ) -> Self {
        Writer {
            file,
            len,
            fanout,
            published,
            stats,
            retry_max: retry_max.max(FIRST_RETRY),
            failure: None,
        }
    }

    /// Writes and syncs one round (its jobs' buffers, in order) at the end of the
    /// durable data.
    fn write(&mut self, parts: &[&[u8]]) -> Result<(), String> {
        if let Some(f) = &self.failure {
            if Instant::now() < f.retry_at {
                return Err(f.error.clone());
            }
        }
        let attempt = (|| {
            if self.failure.is_some() && self.file.len()? != self.len {
                self.cut_back()?;
            }
            self.file.write_all_vectored_at(parts, self.len)?;
            self.file.sync_data()
        })();
        match attempt {
            Ok(()) => {
                if let Some(f) = self.failure.take() {
                    self.stats.recoveries.fetch_add(1, Ordering::Relaxed);
                    self.stats.failing.store(false, Ordering::Release);
                    tracing::warn!(
                        after_ms = f.since.elapsed().as_millis() as u64,
                        "event log writable again; storing events"
                    );
                }
                Ok(())
            }
            Err(e) => {
                // Bytes of a failed write must not stay behind the durable data: a
                // restart would find the refused events there.
                if let Err(cut) = self.cut_back() {
                    tracing::debug!(error = %cut, "could not cut a failed write back yet");
                }
                self.stats.write_failures.fetch_add(1, Ordering::Relaxed);
                let now = Instant::now();
                let error = format!("event log write failed: {e}");
                match &mut self.failure {
                    Some(f) => {
                        f.backoff = (f.backoff * 2).min(self.retry_max);
                        f.retry_at = now + f.backoff;
                        f.error = error.clone();
                    }
                    None => {
                        tracing::error!(
                            error = %e,
                            "event log write failed; refusing writes (nack) and retrying \
                             with backoff"
                        );
                        self.stats.failing.store(true, Ordering::Release);
                        self.failure = Some(Failure {
                            error: error.clone(),
                            since: now,
                            retry_at: now + FIRST_RETRY,
                            backoff: FIRST_RETRY,
                        });
                    }
                }
                Err(error)
            }
        }
    }

    fn cut_back(&self) -> std::io::Result<()> {
        self.file.set_len(self.len)?;
        self.file.sync_all()
    }

    pub fn run(mut self, rx: mpsc::Receiver<Job>) {
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
            let mut offsets = Vec::with_capacity(jobs.len());
            let mut parts: Vec<&[u8]> = Vec::with_capacity(jobs.len());
            let mut pos = self.len;
            for job in &jobs {
                let buf: &[u8] = match job {
                    Job::Events(j) => &j.buf,
                    Job::Meta(b, _) => b,
                    Job::Close(_) => &[],
                };
                offsets.push(pos);
                pos += buf.len() as u64;
                parts.push(buf);
            }
            let result = if pos == self.len {
                Ok(())
            } else {
                self.write(&parts).map(|()| self.len = pos)
            };
            drop(parts);
            let result = result.map_err(StorageError::Io);
            if result.is_err() {
                let refused = jobs.iter().filter(|j| !matches!(j, Job::Close(_))).count();
                self.stats
                    .refused_jobs
                    .fetch_add(refused as u64, Ordering::Relaxed);
                // Before any receipt resolves: a copy of one of these events waiting
                // for its own receipt must see that the first one was not stored.
                self.published
                    .mark_failed(jobs.iter().filter_map(|j| match j {
                        Job::Events(e) => Some(e.commit_seq),
                        _ => None,
                    }));
            }
            let mut closer = None;
            for (job, base) in jobs.into_iter().zip(offsets) {
                match job {
                    Job::Events(j) => {
                        if result.is_ok() {
                            publish(&j.refs, base);
                            if let Some(batch) = j.fanout {
                                self.fanout.deliver(batch);
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
