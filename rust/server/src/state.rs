//! The state one running server shares between its RPC handlers: the project, its
//! topics, the broker, storage, auth and the shutdown signal.
//!
//! Concurrency: one `Arc<ServerState>` per server. The topic table has its own
//! `RwLock`; everything else is either immutable after start or internally
//! synchronised (broker, storage, auth).

use std::sync::Arc;
use std::time::Instant;

use ensign_proto::api;
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use ulid::Ulid;

use crate::auth::{Auth, Claims};
use crate::broker::Broker;
use crate::info::InfoGatherer;
use crate::metrics::Metrics;
use crate::storage::Storage;
use crate::topics::{TopicEntry, TopicTable};

/// Status message of every authorization failure (semantics §1).
pub const NOT_AUTHORIZED: &str = "not authorized to perform this action";

pub struct ServerState {
    pub project_id: Ulid,
    pub topics: RwLock<TopicTable>,
    pub broker: Broker,
    pub storage: Arc<Storage>,
    /// Statistics of the topics, for Info.
    pub info: InfoGatherer,
    pub auth: Option<Arc<Auth>>,
    pub metrics: Arc<Metrics>,
    pub server_id: String,
    pub started: Instant,
    pub shutdown: CancellationToken,
    pub publish_window: usize,
    /// `ServerConfig::max_query_bytes`.
    pub max_query_bytes: usize,
}

impl ServerState {
    /// The claims' project, which must be this server's project.
    pub fn project_of(&self, claims: &Claims) -> Result<Ulid, Status> {
        match claims.project {
            Some(p) if p == self.project_id => Ok(p),
            _ => Err(Status::permission_denied(NOT_AUTHORIZED)),
        }
    }

    /// Looks a topic up by id within this project.
    pub fn topic(&self, id: &Ulid) -> Option<Arc<TopicEntry>> {
        self.topics.read().get(id).cloned()
    }

    /// `Status.version`, shaped like the real server's "version (revision)".
    pub fn version() -> String {
        format!(
            "0.12.9-beta.24 (pyensign-fast {})",
            env!("CARGO_PKG_VERSION")
        )
    }

    /// Copies a topic's stored metadata.
    pub fn topic_proto(entry: &TopicEntry) -> api::Topic {
        entry.meta.read().clone()
    }
}
