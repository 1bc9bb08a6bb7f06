//! EnSQL execution: the topic's stored events in RLID order, OFFSET skipping stored
//! records (duplicates included), duplicates left out unless `include_duplicates`, the
//! query's filter (`filter::Filter`: WHERE, schema, version) applied, LIMIT counting
//! events sent. Zero results end the stream with OK and no message.
//!
//! Concurrency: a stream polled by tonic that never reads or decodes on the async
//! workers: each chunk of work runs on the blocking pool (`spawn_blocking`), and the
//! next one starts as soon as the previous one's results are handed over, so at most
//! two chunks of results are held. A chunk copies up to `CHUNK` index entries under the
//! topic's read lock, releases it, then reads, decodes and filters them; the topic
//! table's lock is never held. The events stored when the query started are the ones
//! it returns. A dropped stream lets its running chunk finish and discards it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use ensign_proto::api::{self, EventWrapper};
use futures_util::{FutureExt, Stream};
use prost::Message;
use tokio::task::JoinHandle;
use tonic::Status;

use super::filter::Filter;
use crate::storage::Storage;
use crate::topics::TopicEntry;

// NOTE: 256 index entries per lock keeps the topic's read lock under ~10 µs.
const CHUNK: usize = 256;
// NOTE: a filtered chunk scans up to 16 × 256 entries before handing back what it
// found, so a selective WHERE costs one blocking-pool hop per ~4k events, not per 256.
const SCAN_PER_JOB: usize = 16 * CHUNK;

/// Where a query is in its topic, and what it still has to do.
struct Cursor {
    topic: Arc<TopicEntry>,
    storage: Arc<Storage>,
    next: usize,
    end: usize,
    skip: u64,
    remaining: Option<u64>,
    include_duplicates: bool,
    filter: Filter,
}

/// The results of one job, and whether the query has more to do.
struct Page {
    events: Vec<EventWrapper>,
    finished: bool,
}

impl Cursor {
    /// Reads the next results (blocking: disk reads and decoding).
    fn page(&mut self) -> Result<Page, Status> {
        let mut events = Vec::new();
        let mut scanned = 0;
        while scanned < SCAN_PER_JOB && events.len() < CHUNK {
            let (chunk, dups) = {
                let ev = self.topic.events.read();
                let stop = (self.next + CHUNK).min(self.end).min(ev.events.len());
                let chunk = ev.events[self.next.min(stop)..stop].to_vec();
                let dups: Vec<_> = chunk
                    .iter()
                    .map(|e| ev.duplicates.get(&e.rlid).copied())
                    .collect();
                (chunk, dups)
            };
            if chunk.is_empty() {
                return Ok(Page {
                    events,
                    finished: true,
                });
            }
            scanned += chunk.len();
            for (stored, dup) in chunk.iter().zip(dups) {
                self.next += 1;
                if self.skip > 0 {
                    self.skip -= 1;
                    continue;
                }
                if dup.is_some() && !self.include_duplicates {
                    continue;
                }
                let mut w = self.read(&stored.body)?;
                if !self.filter.is_empty() {
                    let Ok(event) = api::Event::decode(w.event.clone()) else {
                        continue;
                    };
                    if !self.filter.matches(&event) {
                        continue;
                    }
                }
                if let Some(orig) = dup {
                    w.is_duplicate = true;
                    w.duplicate_id = Bytes::copy_from_slice(orig.as_bytes());
                }
                events.push(w);
                if let Some(n) = self.remaining.as_mut() {
                    *n -= 1;
                    if *n == 0 {
                        return Ok(Page {
                            events,
                            finished: true,
                        });
                    }
                }
            }
        }
        Ok(Page {
            events,
            finished: false,
        })
    }

    fn read(&self, body: &crate::storage::Body) -> Result<EventWrapper, Status> {
        self.storage
            .read(body)
            .map_err(|e| e.to_string())
            .and_then(|b| EventWrapper::decode(b).map_err(|e| e.to_string()))
            .map_err(|e| {
                tracing::error!(error = %e, "could not read a stored event");
                Status::internal("could not execute query")
            })
    }
}

type Job = JoinHandle<(Cursor, Result<Page, Status>)>;

/// What a query returns, as tonic's response stream.
pub struct QueryStream {
    /// The cursor while no job holds it.
    cursor: Option<Cursor>,
    job: Option<Job>,
    buf: VecDeque<EventWrapper>,
    done: bool,
}

/// How to run a query over one topic.
pub struct Plan {
    pub offset: Option<u64>,
    pub limit: Option<u64>,
    pub include_duplicates: bool,
    pub filter: Filter,
}

impl QueryStream {
    pub fn new(topic: Arc<TopicEntry>, storage: Arc<Storage>, plan: Plan) -> Self {
        let end = topic.events.read().events.len();
        QueryStream {
            cursor: Some(Cursor {
                topic,
                storage,
                next: 0,
                end,
                skip: plan.offset.unwrap_or(0),
                remaining: plan.limit,
                include_duplicates: plan.include_duplicates,
                filter: plan.filter,
            }),
            job: None,
            buf: VecDeque::new(),
            done: plan.limit == Some(0),
        }
    }

    fn spawn(&mut self) {
        if let Some(mut cursor) = self.cursor.take() {
            self.job = Some(tokio::task::spawn_blocking(move || {
                let page = cursor.page();
                (cursor, page)
            }));
        }
    }
}

impl Stream for QueryStream {
    type Item = Result<EventWrapper, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(w) = this.buf.pop_front() {
                if this.job.is_none() && !this.done {
                    // Read ahead while these are sent.
                    this.spawn();
                }
                return Poll::Ready(Some(Ok(w)));
            }
            if this.done && this.job.is_none() {
                return Poll::Ready(None);
            }
            if this.job.is_none() {
                this.spawn();
            }
            let job = this.job.as_mut().expect("spawned above");
            let result = ready!(job.poll_unpin(cx));
            this.job = None;
            match result {
                Ok((cursor, Ok(page))) => {
                    this.cursor = Some(cursor);
                    this.done |= page.finished;
                    this.buf.extend(page.events);
                }
                Ok((_, Err(status))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(status)));
                }
                Err(e) => {
                    tracing::error!(error = %e, "a query task failed");
                    this.done = true;
                    return Poll::Ready(Some(Err(Status::internal("could not execute query"))));
                }
            }
        }
    }
}
