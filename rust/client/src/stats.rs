//! A client's statistics: the publisher's counts ([`crate::publisher::PublishStats`]) and
//! the subscriptions' (atomics shared by every subscription of the client).
//!
//! Concurrency: subscription counters are relaxed atomics, added once per batch of
//! received events (not per event); a snapshot reads each counter once, so a snapshot
//! taken while events flow may mix instants (every counter only grows, except the
//! number of live subscriptions).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::publisher::PublishStats;

/// Counters shared by the subscriptions of one client.
#[derive(Debug, Default)]
pub struct SubscribeCounters {
    /// Events delivered into subscription buffers.
    pub received: AtomicU64,
    /// Subscriptions whose task is running.
    pub active: AtomicU64,
    /// Times a subscription's broken stream was opened again.
    pub reconnects: AtomicU64,
}

/// Everything [`crate::Client::stats`] reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    pub publish: PublishStats,
    pub received: u64,
    pub subscriptions: u64,
    pub subscribe_reconnects: u64,
}

impl SubscribeCounters {
    pub(crate) fn snapshot(&self, publish: PublishStats) -> ClientStats {
        ClientStats {
            publish,
            received: self.received.load(Ordering::Relaxed),
            subscriptions: self.active.load(Ordering::Relaxed),
            subscribe_reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}
