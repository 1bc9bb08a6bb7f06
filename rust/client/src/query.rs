//! EnSQL: [`Client::query`] runs a query and returns a [`QueryCursor`] over its results.
//!
//! The server streams every matching stored event and ends the stream with OK; zero
//! results are an OK with no message, which becomes [`Error::NoRows`] here, as pyensign
//! and go-ensign report it (semantics.md §6.9). A bad query is an `INVALID_ARGUMENT`
//! status from the server.
//!
//! Concurrency: after the first result, a task reads the rest of the stream into a
//! bounded [`Inbox`] (the same prefetch buffer as subscriptions), so pages are ready when
//! the consumer asks; a full buffer stops reading and HTTP/2 flow control holds the
//! server. Dropping or closing the cursor aborts the task, which cancels the RPC.

use std::sync::Arc;

use bytes::Bytes;
use ensign_proto::api;
use futures_util::FutureExt;
use prost::Message;
use tokio::task::AbortHandle;
use tonic::codec::Streaming;

use crate::error::{Error, Result};
use crate::subscriber::received::decode_batch;
use crate::subscriber::wire::RawCodec;
use crate::subscriber::{Inbox, Pop, Received};
use crate::Client;

const ENSQL_PATH: &str = "/ensign.v1beta1.Ensign/EnSQL";

/// NOTE: 2048 results (8 pages of 256) keep the reader ahead of a Python consumer;
/// stored events are read from memory or a local log, so a deeper buffer buys nothing.
const BUFFER_EVENTS: usize = 2048;
const BUFFER_BYTES: usize = 32 * 1024 * 1024;

impl Client {
    /// Runs an EnSQL query. Errors: the server's status (`INVALID_ARGUMENT` for a bad
    /// query or an unknown topic), or [`Error::NoRows`] when nothing matched.
    pub async fn query(&self, query: api::Query) -> Result<QueryCursor> {
        if query.query.trim().is_empty() {
            return Err(Error::InvalidArgument("query must not be empty".into()));
        }
        let body = bytes::Bytes::from(query.encode_to_vec());
        let req = self.transport().request(body).await?;
        let mut grpc = self.transport().grpc().await?;
        let path = http::uri::PathAndQuery::from_static(ENSQL_PATH);
        let mut stream = grpc
            .server_streaming(req, path, RawCodec::default())
            .await?
            .into_inner();
        let first = match stream.message().await {
            Ok(Some(w)) => w,
            Ok(None) => return Err(Error::NoRows),
            Err(s) if s.code() == tonic::Code::Cancelled => return Err(Error::NoRows),
            Err(s) => return Err(Error::Rpc(s)),
        };
        let inbox = Arc::new(Inbox::new(BUFFER_EVENTS, BUFFER_BYTES));
        file(&inbox, &mut vec![first]);
        let task = tokio::spawn(read(inbox.clone(), stream));
        Ok(QueryCursor {
            inbox,
            task: task.abort_handle(),
        })
    }
}

/// Decodes wrappers into the inbox; undecodable ones are skipped with a warning.
fn file(inbox: &Inbox, wires: &mut Vec<Bytes>) {
    let mut batch = Vec::with_capacity(wires.len());
    let mut garbled = Vec::new();
    decode_batch(wires, &mut batch, &mut garbled);
    inbox.push(&mut batch);
    for g in garbled {
        inbox.skip(g.reason);
    }
}

/// Ends the results if the reader stops without doing so (a panic, or the runtime
/// shutting down), so that the consumer gets an error instead of waiting forever.
struct EndGuard(Arc<Inbox>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        // A no-op after a normal end or a close (the first end wins).
        self.0.finish(Err(Error::Protocol(
            "the query stopped unexpectedly".into(),
        )));
    }
}

/// Reads the rest of the results into the inbox.
async fn read(inbox: Arc<Inbox>, mut stream: Streaming<Bytes>) {
    let _guard = EndGuard(inbox.clone());
    let mut wires = Vec::with_capacity(256);
    let end = loop {
        inbox.wait_room().await;
        if inbox.is_finished() {
            return;
        }
        let room = inbox.room().max(1);
        let mut end = match step(stream.message().await) {
            Step::Row(w) => {
                wires.push(w);
                None
            }
            Step::End(e) => Some(e),
        };
        // Take whatever else already arrived, up to the room left.
        while end.is_none() && wires.len() < room {
            match stream.message().now_or_never().map(step) {
                Some(Step::Row(w)) => wires.push(w),
                Some(Step::End(e)) => end = Some(e),
                None => break,
            }
        }
        file(&inbox, &mut wires);
        if let Some(e) = end {
            break e;
        }
    };
    inbox.finish(end);
}

/// One step of the result stream (short-lived, so the size difference is moot).
#[allow(clippy::large_enum_variant)]
enum Step {
    Row(Bytes),
    End(Result<()>),
}

fn step(r: std::result::Result<Option<Bytes>, tonic::Status>) -> Step {
    match r {
        Ok(Some(w)) => Step::Row(w),
        Ok(None) => Step::End(Ok(())),
        // pyensign ends iteration on CANCELLED (semantics.md §7.4).
        Err(s) if s.code() == tonic::Code::Cancelled => Step::End(Ok(())),
        Err(s) => Step::End(Err(Error::Rpc(s))),
    }
}

/// The results of one query. Dropping it cancels the query.
pub struct QueryCursor {
    inbox: Arc<Inbox>,
    task: AbortHandle,
}

impl std::fmt::Debug for QueryCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryCursor").finish_non_exhaustive()
    }
}

impl QueryCursor {
    /// Moves up to `max` buffered results into `out` without waiting.
    pub fn pop(&self, max: usize, out: &mut Vec<Received>) -> Result<Pop> {
        self.inbox.pop(max, out)
    }

    /// Waits until results are buffered or the query has ended.
    pub async fn wait(&self) {
        self.inbox.wait_data().await
    }

    /// Waits for results and returns up to `max`; empty means the end.
    pub async fn next_batch(&self, max: usize) -> Result<Vec<Received>> {
        self.inbox.next_batch(max).await
    }

    /// Results skipped because their payload could not be decoded.
    pub fn skipped(&self) -> u64 {
        self.inbox.skipped()
    }

    /// Warnings about skipped results not reported yet.
    pub fn take_warnings(&self) -> Vec<String> {
        self.inbox.take_warnings()
    }

    /// Stops the query: buffered results are dropped and the RPC is cancelled.
    pub fn close(&self) {
        self.inbox.discard();
        self.task.abort();
    }
}

impl Drop for QueryCursor {
    fn drop(&mut self) {
        self.task.abort();
    }
}
