//! A running server: `ServerHandle` reports where it listens and what it did (listener,
//! recovery, storage and auth counters), and stops it cleanly.
//!
//! Concurrency: shutdown cancels one token that every stream and task watches, waits up
//! to `shutdown_grace` for them, then makes storage durable and joins the log writer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use crate::listener::{ListenerCounts, ListenerStats};
use crate::state::ServerState;
use crate::storage::{RecoveryReport, Storage, StorageStats};

/// A running server. Dropping it without `shutdown` still stops it, without waiting.
pub struct ServerHandle {
    pub(crate) state: Arc<ServerState>,
    pub(crate) addr: SocketAddr,
    pub(crate) http_addr: Option<SocketAddr>,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) tasks: Vec<JoinHandle<()>>,
    pub(crate) token: CancellationToken,
    pub(crate) grace: Duration,
    pub(crate) grpc_stats: Arc<ListenerStats>,
    pub(crate) http_stats: Arc<ListenerStats>,
    pub(crate) recovery: Arc<RecoveryReport>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("endpoint", &self.endpoint())
            .field("auth_url", &self.auth_url())
            .field("project_id", &self.project_id())
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// "HOST:PORT" of the gRPC service.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
    /// "http://HOST:PORT" of the Quarterdeck endpoints, in auth mode.
    pub fn auth_url(&self) -> Option<String> {
        self.http_addr.map(|a| format!("http://{a}"))
    }
    /// "http://HOST:PORT/metrics" of the Prometheus endpoint, when it is served.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics_addr.map(|a| format!("http://{a}/metrics"))
    }

    /// The server's metrics as Prometheus text (served or not).
    pub fn metrics_text(&self) -> String {
        self.state.metrics.encode()
    }

    pub fn client_id(&self) -> Option<&str> {
        self.state
            .auth
            .as_ref()
            .map(|a| a.main_key().client_id.as_str())
    }
    pub fn client_secret(&self) -> Option<&str> {
        self.state
            .auth
            .as_ref()
            .map(|a| a.main_key().client_secret.as_str())
    }
    pub fn project_id(&self) -> Ulid {
        self.state.project_id
    }

    /// What the gRPC listener did: connections accepted, refused, timed out, open.
    pub fn grpc_listener_stats(&self) -> ListenerCounts {
        self.grpc_stats.snapshot()
    }

    /// The same for the auth endpoints' listener (all zero without auth).
    pub fn http_listener_stats(&self) -> ListenerCounts {
        self.http_stats.snapshot()
    }

    /// Revokes the API key with this client id: its logins, refreshes and access tokens
    /// are refused from now on (until restart). False without auth or without such a key.
    pub fn revoke_api_key(&self, client_id: &str) -> bool {
        self.state
            .auth
            .as_ref()
            .is_some_and(|a| a.revoke(client_id))
    }

    /// Auth-endpoint requests refused by the rate limit so far.
    pub fn auth_rate_limited(&self) -> u64 {
        self.state
            .auth
            .as_ref()
            .and_then(|a| a.limiter.as_ref())
            .map_or(0, |l| l.limited())
    }

    /// What recovery found and did when this server opened its data directory (clean,
    /// and empty, in memory mode).
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Re-sent events recognised and acked without being stored again (see
    /// `idempotence`), since start.
    pub fn recognised_resends(&self) -> u64 {
        self.state.broker.published.recognised()
    }

    /// Health counters of the durable log; `None` in memory mode.
    pub fn storage_stats(&self) -> Option<&StorageStats> {
        match &*self.state.storage {
            Storage::Disk(log) => Some(log.stats()),
            Storage::Memory => None,
        }
    }

    /// An access token with the given permissions and lifetime (negative: already
    /// expired), signed by this server. For tests of the auth checks.
    #[doc(hidden)]
    pub fn mint_access_token(&self, permissions: &[&str], ttl_secs: i64) -> Option<String> {
        self.state
            .auth
            .as_ref()
            .map(|a| a.mint(permissions, ttl_secs))
    }

    /// Stops accepting, ends open streams (each publish stream first answers every
    /// event it read), makes storage durable and frees the ports.
    pub async fn shutdown(mut self) {
        self.token.cancel();
        self.state.broker.fanout.close_all();
        let deadline = tokio::time::Instant::now() + self.grace;
        for mut task in self.tasks.drain(..) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!("server tasks did not stop in time; closing connections");
                task.abort();
                let _ = task.await;
            }
        }
        let storage = self.state.storage.clone();
        let _ = tokio::task::spawn_blocking(move || storage.close()).await;
        tracing::info!(endpoint = %self.addr, "Ensign server stopped");
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.token.cancel();
        self.state.broker.fanout.close_all();
    }
}
