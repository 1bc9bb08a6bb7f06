//! EnSQL and Explain (semantics §6.9): permission and project checks, parse errors as
//! `INVALID_ARGUMENT` with the real messages, then the topic's events streamed by
//! `ensql::exec`.
//!
//! Concurrency: parsing happens in the handler; the returned stream does the reads.

use std::sync::Arc;

use ensign_proto::api;
use tonic::{Request, Status};

use crate::auth::Perm;
use crate::ensql::{self, exec::QueryStream};

use crate::state::{ServerState, NOT_AUTHORIZED};

pub fn ensql(state: Arc<ServerState>, req: Request<api::Query>) -> Result<QueryStream, Status> {
    let claims = state.authenticate(req.metadata())?;
    if !claims.has_any(&[Perm::Subscriber, Perm::TopicsRead]) {
        return Err(Status::permission_denied(NOT_AUTHORIZED));
    }
    state.project_of(&claims)?;
    let q = req.into_inner();
    if q.query.is_empty() {
        return Err(Status::invalid_argument("invalid query"));
    }
    let parsed = ensql::parse(&q.query).map_err(Status::invalid_argument)?;
    let topic = {
        let table = state.topics.read();
        let from = ensql::resolve(&parsed.from, |name| table.contains_name(name))
            .map_err(Status::invalid_argument)?
            .ok_or_else(|| Status::invalid_argument("unknown topic in query"))?;
        table
            .get_by_name(&from.topic)
            .cloned()
            .expect("resolved above")
    };
    Ok(QueryStream::new(
        topic,
        state.storage.clone(),
        parsed.offset,
        parsed.limit,
        q.include_duplicates,
    ))
}

pub fn explain(
    state: &ServerState,
    req: Request<api::Query>,
) -> Result<api::QueryExplanation, Status> {
    let claims = state.authorize(req.metadata(), Perm::Subscriber)?;
    state.project_of(&claims)?;
    Err(Status::unimplemented(
        "explain query is not implemented yet",
    ))
}
