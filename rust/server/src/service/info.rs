//! Info: project and per-topic statistics (semantics §6.8), gathered by `crate::info`.
//!
//! Concurrency: the topic list is copied under the table's read lock; the gathering
//! (disk reads, decoding) runs on the blocking pool.

use std::sync::Arc;

use ensign_proto::api;
use tonic::{Request, Status};

use crate::state::ServerState;
use crate::topics::{TopicEntry, TopicKey};

pub async fn info(
    state: Arc<ServerState>,
    req: Request<api::InfoRequest>,
) -> Result<api::ProjectInfo, Status> {
    super::caller(&req)?;
    let mut filter = Vec::new();
    for id in &req.get_ref().topics {
        let key = TopicKey::from_slice(id).ok_or_else(|| {
            Status::invalid_argument("could not parse topic id in info request filter")
        })?;
        filter.push(key);
    }
    let topics: Vec<Arc<TopicEntry>> = {
        let table = state.topics.read();
        table
            .all()
            .filter(|t| filter.is_empty() || filter.contains(&t.key))
            .cloned()
            .collect()
    };
    tokio::task::spawn_blocking(move || {
        state
            .info
            .project_info(&state.storage, state.project_id, &topics)
    })
    .await
    .map_err(|_| Status::internal("unable to process project info request"))
}
