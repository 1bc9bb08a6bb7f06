//! The accept loop of one listener, as a stream of `Conn`s.
//!
//! * An `accept` that fails for the listener (EMFILE/ENFILE at the open-file limit,
//!   ENOBUFS, ENOMEM) is retried after a back-off that doubles from 5 ms to 1 s, and
//!   resets on the next success. Without it the listener stays readable (the pending
//!   connections wait in the backlog) and the loop spins a core at 100%. The first
//!   failure of a run is a warning, the recovery an info line; each one is counted.
//! * An `accept` that fails for one connection only (it was reset before we took it)
//!   is skipped at once.
//! * Beyond `max_connections`, a new connection is accepted and closed at once: the
//!   client fails fast instead of hanging in the backlog. Counted, and warned about at
//!   most every 10 s.
//!
//! Concurrency: the stream is polled by one server task; the connection slots are a
//! semaphore whose permits the `Conn`s hold.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::{bump, Conn, ConnectionLimits, ListenerStats};

/// NOTE: the back-off of Go's net/http server (5 ms doubling to 1 s): at most ~10
/// failed accepts in the first 2 s of an fd shortage, then one a second.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

/// Which server a listener feeds: only gRPC connections have an HTTP/2 handshake and an
/// idle close of their own (hyper's header-read timeout covers both for HTTP/1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    Http,
}

/// A bound listener with its limits.
pub struct Acceptor {
    listener: TcpListener,
    protocol: Protocol,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    stats: Arc<ListenerStats>,
    backoff: Duration,
    failures: u64,
    refused_since_log: u64,
    last_refusal_log: Option<Instant>,
}

impl Acceptor {
    pub fn new(
        listener: TcpListener,
        protocol: Protocol,
        limits: ConnectionLimits,
        stats: Arc<ListenerStats>,
    ) -> Self {
        Acceptor {
            listener,
            protocol,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
            stats,
            backoff: MIN_BACKOFF,
            failures: 0,
            refused_since_log: 0,
            last_refusal_log: None,
        }
    }

    /// The connections, forever (the stream never ends and never yields an error; the
    /// `Result` is what tonic's `serve_with_incoming` wants).
    pub fn into_stream(self) -> impl Stream<Item = Result<Conn, io::Error>> + Send {
        futures_util::stream::unfold(self, |mut me| async move {
            let conn = me.next_conn().await;
            Some((Ok(conn), me))
        })
    }

    /// Waits for the next connection that gets a slot.
    pub async fn next_conn(&mut self) -> Conn {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    if self.failures > 0 {
                        tracing::info!(
                            failures = self.failures,
                            listener = ?self.protocol,
                            "accepting connections again"
                        );
                        self.failures = 0;
                        self.backoff = MIN_BACKOFF;
                    }
                    if let Some(conn) = self.admit(stream, peer) {
                        return conn;
                    }
                }
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!(error = %e, "a connection failed before it was accepted");
                }
                Err(e) => self.back_off(e).await,
            }
        }
    }

    fn admit(&mut self, stream: tokio::net::TcpStream, peer: SocketAddr) -> Option<Conn> {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            bump(&self.stats.refused);
            self.refused_since_log += 1;
            let now = Instant::now();
            if self
                .last_refusal_log
                .is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY)
            {
                tracing::warn!(
                    max_connections = self.limits.max_connections,
                    refused = self.refused_since_log,
                    %peer,
                    listener = ?self.protocol,
                    "connection limit reached: closing new connections"
                );
                self.last_refusal_log = Some(now);
                self.refused_since_log = 0;
            }
            return None;
        };
        // NOTE: acks are small and latency-bound; batching is done by coalescing ready
        // messages into one write, not by Nagle.
        let _ = stream.set_nodelay(true);
        bump(&self.stats.accepted);
        let grpc = self.protocol == Protocol::Grpc;
        Some(Conn::new(
            stream,
            peer,
            slot,
            self.stats.clone(),
            grpc.then_some(self.limits.handshake_timeout),
            if grpc { self.limits.idle_timeout } else { None },
        ))
    }

    async fn back_off(&mut self, e: io::Error) {
        bump(&self.stats.accept_errors);
        if self.failures == 0 {
            tracing::warn!(
                error = %e,
                listener = ?self.protocol,
                open = self.stats.snapshot().open,
                "cannot accept connections (open-file limit?); backing off until it can"
            );
        } else {
            tracing::debug!(error = %e, backoff_ms = self.backoff.as_millis() as u64, "accept failed again");
        }
        self.failures += 1;
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// Errors of one incoming connection, not of the listener.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}
