//! The edges of the server: how the gRPC and the HTTP (Quarterdeck) listeners accept
//! connections and how long a connection may hold a slot without doing anything.
//!
//! * `accept`: the accept loop: back off on accept errors (the open-file limit), refuse
//!   connections beyond `max_connections`, count and log both.
//! * `conn`: one accepted connection: its slot, the HTTP/2 handshake deadline and the
//!   idle close (no open request for `idle_timeout`).
//! * `activity`: the tower layer that tells a gRPC connection when it has requests open.
//! * `http`: serving the auth endpoints (HTTP/1.1) on an accept loop of their own.
//!
//! Concurrency: one accept task per listener; every connection is served by its own
//! task. Counters are atomics in one `ListenerStats` per listener, shared by both.

pub mod accept;
pub mod activity;
pub mod conn;
pub mod http;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use accept::Acceptor;
pub use activity::ActivityLayer;
pub use conn::{Conn, ConnInfo};

/// Limits of the connections of one server (both listeners use the same values, each
/// with its own count).
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Open connections per listener; a connection beyond it is accepted and closed at
    /// once (logged and counted), so that it fails fast instead of waiting in the
    /// kernel's backlog.
    pub max_connections: usize,
    /// HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`: open RPCs per gRPC connection.
    pub max_concurrent_streams: u32,
    /// A gRPC client must send the HTTP/2 preface and its first SETTINGS frame within
    /// this time; an HTTP client must send each request head within it (also the
    /// keep-alive idle limit of the HTTP listener) and the whole request within it.
    pub handshake_timeout: Duration,
    /// A gRPC connection with no open request for this long is closed. `None` keeps
    /// idle connections open (the real server's behaviour).
    pub idle_timeout: Option<Duration>,
    /// Interval of HTTP/2 keepalive PINGs from the server; `None` sends none.
    pub keepalive_interval: Option<Duration>,
    /// A connection whose peer does not answer a keepalive PING within this time is
    /// closed.
    pub keepalive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            // NOTE: 4096 open connections cost ~4096 fds and, idle, ~100 MiB of HTTP/2
            // buffers; above the usual 1024 soft fd limit, where accept backs off instead.
            max_connections: 4096,
            // NOTE: an SDK client uses 1 publish + a few subscribe streams per
            // connection; 1024 leaves room for fan-in tests while bounding one client.
            max_concurrent_streams: 1024,
            handshake_timeout: Duration::from_secs(10),
            // NOTE: 5 minutes, like grpc-go's usual MaxConnectionIdle settings; clients
            // reconnect transparently on their next call.
            idle_timeout: Some(Duration::from_secs(300)),
            keepalive_interval: Some(Duration::from_secs(60)),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

impl ConnectionLimits {
    /// Checks the values `start` cannot run with.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_connections == 0 || self.max_concurrent_streams == 0 {
            return Err("max_connections and max_concurrent_streams must be > 0".into());
        }
        if self.handshake_timeout.is_zero() || self.idle_timeout.is_some_and(|d| d.is_zero()) {
            return Err("handshake_timeout and idle_timeout must be > 0".into());
        }
        Ok(())
    }
}

/// What one listener did since the server started.
#[derive(Default, Debug)]
pub struct ListenerStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    accept_errors: AtomicU64,
    handshake_timeouts: AtomicU64,
    idle_closed: AtomicU64,
    open: AtomicU64,
}

/// A snapshot of `ListenerStats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerCounts {
    /// Connections accepted and served.
    pub accepted: u64,
    /// Connections closed at once because `max_connections` were open.
    pub refused: u64,
    /// Failed `accept` calls (for example at the open-file limit), each followed by a
    /// back-off.
    pub accept_errors: u64,
    /// Connections closed because the handshake did not arrive in time.
    pub handshake_timeouts: u64,
    /// Connections closed after `idle_timeout` without a request.
    pub idle_closed: u64,
    /// Connections open now.
    pub open: u64,
}

impl ListenerStats {
    pub fn snapshot(&self) -> ListenerCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ListenerCounts {
            accepted: get(&self.accepted),
            refused: get(&self.refused),
            accept_errors: get(&self.accept_errors),
            handshake_timeouts: get(&self.handshake_timeouts),
            idle_closed: get(&self.idle_closed),
            open: get(&self.open),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}
