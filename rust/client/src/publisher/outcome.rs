//! What becomes of a published event, and who hears about it.
//!
//! Every event handed to [`super::Publisher::try_publish`] ends in exactly one
//! [`Outcome`], delivered once to the [`OutcomeSink`] given with it: an ack, a nack from
//! the server, or a nack with a *client* code when the client could not deliver it.

use std::sync::atomic::{AtomicU64, Ordering};

use ensign_proto::api::nack::Code;
use tokio::sync::Notify;

/// `Nack.Code.MAX_EVENT_SIZE_EXCEEDED`: too large to send in one gRPC message.
pub const CODE_MAX_EVENT_SIZE: i32 = Code::MaxEventSizeExceeded as i32;
/// `Nack.Code.UNPROCESSED`: the client closed before the event got an outcome.
pub const CODE_UNPROCESSED: i32 = Code::Unprocessed as i32;
/// `Nack.Code.TIMEOUT`: the server stayed unreachable for the whole reconnect timeout.
pub const CODE_TIMEOUT: i32 = Code::Timeout as i32;

/// The final result of one published event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Stored by the server at `committed` = (seconds, nanos).
    Acked {
        /// Commit time, seconds since the Unix epoch.
        seconds: i64,
        /// Nanoseconds within the second.
        nanos: i32,
    },
    /// Refused by the server, or given up by the client (codes 100 and 101).
    Nacked {
        /// A `Nack.Code` value.
        code: i32,
        /// The reason, for humans.
        error: &'a str,
    },
}

impl Outcome<'_> {
    /// Whether the event was acked.
    pub fn is_ack(&self) -> bool {
        matches!(self, Outcome::Acked { .. })
    }
}

/// Receives outcomes. Called on a tokio thread while the publisher's state lock is held,
/// so implementations must be quick and must not call back into the publisher.
pub trait OutcomeSink: Send + Sync + 'static {
    /// Event number `index` of the batch (as given to `try_publish`) has its outcome.
    fn outcome(&self, index: u32, local_id: &[u8; 16], outcome: Outcome<'_>);
}

/// A ready-made sink for Rust callers: counts outcomes and wakes waiters when a target
/// number of them has arrived.
#[derive(Debug, Default)]
pub struct Counter {
    acked: AtomicU64,
    nacked: AtomicU64,
    notify: Notify,
}

impl Counter {
    /// Events acked so far.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }
    /// Events nacked (by the server or the client) so far.
    pub fn nacked(&self) -> u64 {
        self.nacked.load(Ordering::Acquire)
    }
    /// Waits until at least `n` outcomes have arrived.
    pub async fn wait_for(&self, n: u64) {
        loop {
            let notified = self.notify.notified();
            if self.acked() + self.nacked() >= n {
                return;
            }
            notified.await;
        }
    }
}

impl OutcomeSink for Counter {
    fn outcome(&self, _index: u32, _local_id: &[u8; 16], outcome: Outcome<'_>) {
        match outcome {
            Outcome::Acked { .. } => self.acked.fetch_add(1, Ordering::AcqRel),
            Outcome::Nacked { .. } => self.nacked.fetch_add(1, Ordering::AcqRel),
        };
        self.notify.notify_waiters();
    }
}
