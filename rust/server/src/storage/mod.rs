//! Storage: the per-topic event index that every read goes through, and the durable log
//! behind it when the server has a data directory.
//!
//! * Memory mode keeps each stored `EventWrapper` as encoded bytes (`Body::Mem`), sliced
//!   out of one buffer per committed batch (one allocation per batch, not per event).
//! * Disk mode appends every change (events, topic creates, puts and deletes, duplicate
//!   marks) to one append-only log (`record`), written by one writer thread with group
//!   commit (`disk`, `writer`): a batch of writes, one `fdatasync`, then every waiter of
//!   the batch is told. The index keeps each event's file position (`Body::Disk`); reads
//!   use `pread`. `datadir` opens the directory, `replay` and `apply` rebuild the state
//!   from the log, losing only damaged records and saying so (`report`).
//! * All file access goes through `fs::StorageFs`; `simfs` is a simulated disk for tests
//!   (power cuts that lose unsynced writes, full disks).
//!
//! Concurrency: `TopicEvents` sits behind the topic's own `RwLock`. Appends happen in
//! RLID order: under the broker's append lock (memory) or on the writer thread in queue
//! order (disk); readers copy a range of index entries and release the lock before I/O.

mod apply;
pub mod datadir;
pub mod disk;
pub mod event_body;
pub mod fs;
pub mod record;
pub mod replay;
pub mod report;
pub mod simfs;
mod writer;

#[cfg(test)]
mod replay_damage_tests;
#[cfg(test)]
mod replay_tests;

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;

pub use crate::event_index::{Body, StoredEvent, TopicEvents};
pub use disk::{DiskLog, DiskOptions, EventJob, StorageStats, StoredRef};
pub use report::{DamagedRange, RecoveryReport};

/// Storage failures, as seen by RPC handlers.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O error: {0}")]
    Io(String),
    #[error("storage is closed")]
    Closed,
}

/// A durability receipt: resolves once the write is on disk (immediately in memory).
pub type Receipt = oneshot::Receiver<Result<(), StorageError>>;

/// The storage backend of a running server.
pub enum Storage {
    Memory,
    Disk(Arc<DiskLog>),
}

impl Storage {
    pub fn is_disk(&self) -> bool {
        matches!(self, Storage::Disk(_))
    }

    /// Queues a metadata record (call under the lock that orders it); the receipt
    /// resolves when it is durable.
    pub fn submit_meta(&self, record: Bytes) -> Receipt {
        let (tx, rx) = oneshot::channel();
        match self {
            Storage::Memory => {
                let _ = tx.send(Ok(()));
            }
            Storage::Disk(log) => log.submit_meta(record, tx),
        }
        rx
    }

    /// Reads the encoded `EventWrapper` of a stored event.
    pub fn read(&self, body: &Body) -> Result<Bytes, StorageError> {
        match (body, self) {
            (Body::Mem(b), _) => Ok(b.clone()),
            (Body::Disk { offset, len }, Storage::Disk(log)) => log.read_at(*offset, *len),
            (Body::Disk { .. }, Storage::Memory) => {
                Err(StorageError::Io("disk event in memory storage".into()))
            }
        }
    }

    /// Makes everything durable and stops the writer (idempotent).
    pub fn close(&self) {
        if let Storage::Disk(log) = self {
            log.close();
        }
    }
}

/// Awaits a receipt, mapping a dropped sender to `Closed`.
pub async fn wait(receipt: Receipt) -> Result<(), StorageError> {
    receipt.await.unwrap_or(Err(StorageError::Closed))
}
