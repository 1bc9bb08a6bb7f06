//! EnSQL execution as the real server does it: every stored event of the topic in RLID
//! order, OFFSET skipping stored records (duplicates included), duplicates left out
//! unless `include_duplicates`, LIMIT counting events sent. Zero results end the stream
//! with OK and no message.
//!
//! Concurrency: a stream polled by tonic. It copies up to `CHUNK` index entries under
//! the topic's read lock, releases it, then reads and decodes them. The events stored
//! when the query started are the ones it returns.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use ensign_proto::api::EventWrapper;
use futures_util::Stream;
use prost::Message;
use tonic::Status;

use crate::storage::Storage;
use crate::topics::TopicEntry;

// NOTE: 256 events per chunk keeps the read lock under ~10 µs.
const CHUNK: usize = 256;

pub struct QueryStream {
    topic: Arc<TopicEntry>,
    storage: Arc<Storage>,
    next: usize,
    end: usize,
    skip: u64,
    remaining: Option<u64>,
    include_duplicates: bool,
    buf: VecDeque<EventWrapper>,
    done: bool,
}

impl QueryStream {
    pub fn new(
        topic: Arc<TopicEntry>,
        storage: Arc<Storage>,
        offset: Option<u64>,
        limit: Option<u64>,
        include_duplicates: bool,
    ) -> Self {
        let end = topic.events.read().events.len();
        QueryStream {
            topic,
            storage,
            next: 0,
            end,
            skip: offset.unwrap_or(0),
            remaining: limit,
            include_duplicates,
            buf: VecDeque::new(),
            done: limit == Some(0),
        }
    }

    /// Reads the next chunk of results into the buffer.
    fn fill(&mut self) -> Result<(), Status> {
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
            self.done = true;
            return Ok(());
        }
        for (stored, dup) in chunk.iter().zip(dups) {
            self.next += 1;
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            if dup.is_some() && !self.include_duplicates {
                continue;
            }
            let decoded = self
                .storage
                .read(&stored.body)
                .map_err(|e| e.to_string())
                .and_then(|b| EventWrapper::decode(b).map_err(|e| e.to_string()));
            let mut w = decoded.map_err(|e| {
                tracing::error!(error = %e, "could not read a stored event");
                Status::internal("could not execute query")
            })?;
            if let Some(orig) = dup {
                w.is_duplicate = true;
                w.duplicate_id = Bytes::copy_from_slice(orig.as_bytes());
            }
            self.buf.push_back(w);
            if let Some(n) = self.remaining.as_mut() {
                *n -= 1;
                if *n == 0 {
                    self.done = true;
                    break;
                }
            }
        }
        Ok(())
    }
}

impl Stream for QueryStream {
    type Item = Result<EventWrapper, Status>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(w) = self.buf.pop_front() {
                return Poll::Ready(Some(Ok(w)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            if let Err(status) = self.fill() {
                self.done = true;
                return Poll::Ready(Some(Err(status)));
            }
        }
    }
}
