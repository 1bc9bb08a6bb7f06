//! EnSQL and Explain (semantics §6.9): a size limit, parse errors as `INVALID_ARGUMENT`
//! with the real messages, then the topic's events streamed by `ensql::exec` with the
//! query's filter applied.
//!
//! Concurrency: parsing and resolving happen in the handler and are linear in the
//! query's bounded length (the table's read lock is held for at most a few hundred
//! name lookups); the returned stream does its reads on the blocking pool.

use std::sync::Arc;

use ensign_proto::api;
use tonic::{Request, Status};

use crate::ensql::{self, exec::Plan, exec::QueryStream, filter::Filter};
use crate::state::ServerState;

pub fn ensql(state: Arc<ServerState>, req: Request<api::Query>) -> Result<QueryStream, Status> {
    super::caller(&req)?;
    let q = req.into_inner();
    if q.query.is_empty() {
        return Err(Status::invalid_argument("invalid query"));
    }
    if q.query.len() > state.max_query_bytes {
        return Err(Status::invalid_argument(format!(
            "query is too long: {} bytes, the limit is {} bytes",
            q.query.len(),
            state.max_query_bytes
        )));
    }
    let parsed = ensql::parse(&q.query).map_err(Status::invalid_argument)?;
    let (topic, from) = {
        let table = state.topics.read();
        let from = ensql::resolve(&parsed.from, |name| table.contains_name(name))
            .map_err(Status::invalid_argument)?
            .ok_or_else(|| Status::invalid_argument("unknown topic in query"))?;
        let topic = table
            .get_by_name(&from.topic)
            .cloned()
            .expect("resolved above");
        (topic, from)
    };
    let filter = Filter {
        schema: from.schema.filter(|s| s != "*"),
        version: from.version,
        condition: parsed.filter,
    };
    Ok(QueryStream::new(
        topic,
        state.storage.clone(),
        Plan {
            offset: parsed.offset,
            limit: parsed.limit,
            include_duplicates: q.include_duplicates,
            filter,
        },
    ))
}

pub fn explain(
    _state: &ServerState,
    req: Request<api::Query>,
) -> Result<api::QueryExplanation, Status> {
    super::caller(&req)?;
    Err(Status::unimplemented(
        "explain query is not implemented yet",
    ))
}
