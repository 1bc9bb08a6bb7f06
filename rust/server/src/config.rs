//! Server configuration: where to listen, where to keep data, whether to require tokens,
//! and the few tuning knobs of the publish and subscribe paths.
//!
//! Concurrency: plain values, cloned into the server at start and never mutated after.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::auth::ratelimit::RateLimit;
pub use crate::listener::ConnectionLimits;
use crate::storage::fs::FsHandle;

/// How to run a local Ensign server. `Default` gives an in-memory, no-auth server on a
/// free port of 127.0.0.1.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to bind, "127.0.0.1" by default.
    pub host: String,
    /// gRPC port; 0 picks a free one.
    pub port: u16,
    /// `None` keeps everything in memory; a path keeps a durable log there.
    pub data_dir: Option<PathBuf>,
    /// `None` serves every RPC without a token; `Some` also serves the Quarterdeck
    /// endpoints and checks bearer tokens on every RPC except Status.
    pub auth: Option<AuthConfig>,
    /// Reported as `StreamReady.server_id`.
    pub server_id: String,
    /// Largest inbound gRPC message. Above the 5,243,000-byte event limit so that an
    /// oversized event is nacked rather than killing its stream.
    pub max_message_size: usize,
    /// Per publish stream: events read but not yet acked or nacked before the server
    /// stops reading that stream (backpressure instead of dropping).
    pub publish_window: usize,
    /// Per subscriber: events queued for delivery before the publishers of its topics
    /// wait for it (publishers of other topics never do).
    pub subscriber_buffer: usize,
    /// A subscriber whose oldest queued event has waited this long (it reads too
    /// slowly, or not at all) is evicted with `RESOURCE_EXHAUSTED`, so that it cannot
    /// hold its topics' publishers back indefinitely.
    pub subscriber_max_lag: Duration,
    /// How long `shutdown` waits for streams to finish before closing connections.
    pub shutdown_grace: Duration,
    /// Longest EnSQL query accepted, in bytes; longer ones get `INVALID_ARGUMENT`.
    pub max_query_bytes: usize,
    /// "HOST:PORT" where to serve Prometheus metrics (`/metrics`); `None` (the
    /// default) serves none. An empty host means `host`; port 0 picks a free one.
    pub metrics_addr: Option<String>,
    /// Connection limits and timeouts of both listeners (gRPC and auth HTTP).
    pub connections: ConnectionLimits,
    /// Start even when data files are missing or damaged, repairing what can be
    /// repaired (see `storage::datadir`); every repair is in the recovery report.
    pub repair: bool,
    /// Events of each publish stream remembered to recognise a client re-sending them on
    /// a later stream (see `idempotence`; the index keeps 16 streams' worth in all);
    /// 0 turns recognition off.
    pub resend_window: usize,
    /// Longest wait between two attempts to write the log again after a write failed
    /// (a full disk); publishes are nacked meanwhile.
    pub storage_retry_max: Duration,
    /// Bytes read at a time when replaying the log at start.
    pub replay_chunk: usize,
    /// The file layer under the data directory: the operating system's, or in tests a
    /// simulated disk (`storage::simfs::SimFs`).
    pub storage_fs: FsHandle,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_string(),
            port: 0,
            data_dir: None,
            auth: None,
            server_id: String::new(),
            // NOTE: 8 MiB > 5,243,000 B (EventMaxDataSize) + wrapper overhead.
            max_message_size: 8 * 1024 * 1024,
            // NOTE: 16384 matches the real server's per-stream result buffer; at
            // ~300k events/s and a 2 ms fsync the bandwidth-delay product is ~600.
            publish_window: 16_384,
            subscriber_buffer: 16_384,
            subscriber_max_lag: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            max_query_bytes: crate::ensql::MAX_QUERY_BYTES,
            metrics_addr: None,
            connections: ConnectionLimits::default(),
            repair: false,
            resend_window: crate::idempotence::DEFAULT_WINDOW,
            storage_retry_max: Duration::from_secs(5),
            replay_chunk: crate::storage::replay::CHUNK,
            storage_fs: FsHandle::default(),
        }
    }
}

/// One API key: its credentials and the permissions its tokens carry.
#[derive(Clone)]
pub struct ApiKeySpec {
    pub client_id: String,
    pub client_secret: String,
    pub permissions: Vec<String>,
}

impl fmt::Debug for ApiKeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeySpec")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// Token auth mode: the Quarterdeck endpoints and RS256 bearer tokens.
#[derive(Clone)]
pub struct AuthConfig {
    /// The main key's client id; made up at start (or kept in the data directory) when
    /// `None`.
    pub client_id: Option<String>,
    /// The main key's secret; made up like the client id when `None`.
    pub client_secret: Option<String>,
    /// Port of the HTTP (Quarterdeck) endpoints on the same host; 0 picks a free one.
    pub http_port: u16,
    /// More keys, for example with fewer permissions to test `PERMISSION_DENIED`.
    pub extra_keys: Vec<ApiKeySpec>,
    /// Access token lifetime (Quarterdeck: 1 h).
    pub access_ttl: Duration,
    /// Refresh token lifetime (Quarterdeck: 2 h); it becomes valid 15 minutes before
    /// the access token expires.
    pub refresh_ttl: Duration,
    /// `iss` of issued tokens, required on verification.
    pub issuer: String,
    /// `aud` of access tokens, required on verification.
    pub audience: String,
    /// Rate limit of the auth endpoints per client id (or, for requests naming no
    /// known client, per peer address); `None` turns it off.
    pub rate_limit: Option<RateLimit>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            client_id: None,
            client_secret: None,
            http_port: 0,
            extra_keys: Vec::new(),
            access_ttl: Duration::from_secs(3600),
            refresh_ttl: Duration::from_secs(7200),
            issuer: "https://auth.rotational.app".to_string(),
            audience: "https://ensign.rotational.app".to_string(),
            rate_limit: Some(RateLimit::default()),
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("http_port", &self.http_port)
            .field("extra_keys", &self.extra_keys)
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}
