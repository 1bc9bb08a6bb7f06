//! `grpc_server_stream_messages_recv` for the client-streaming RPCs the service reads
//! message by message (Publish, Subscribe): the metrics layer puts the RPC's counter in
//! the request's extensions (`RecvCounter`), and the service reads its requests through
//! `Inbound`, which counts each message tonic decodes.
//!
//! Why not count in the body, as for the other streams (`body::CountedRequest`):
//! re-reading the gRPC frame headers of every request body cost ~4 % of the server's
//! CPU on the publish path, where the stream already hands out each message.
//!
//! What is counted is the same: every message the server read from the stream. The
//! counter is added to in steps (`FLUSH_EVERY` messages, or whenever the stream has
//! nothing more buffered, ends or is dropped), so it may trail a busy stream by a few
//! hundred messages and is exact once the stream waits or ends.
//!
//! Concurrency: owned by its call's task; the counter is an atomic.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use prometheus::IntCounter;
use tonic::{Request, Status, Streaming};

/// The counter a stream's messages go to, handed from the metrics layer to the service.
#[derive(Clone)]
pub struct RecvCounter(pub IntCounter);

/// At most this many messages are counted before they reach the counter.
const FLUSH_EVERY: u64 = 256;

/// The requests of a client stream, counted into the call's `RecvCounter` (if the
/// metrics layer gave one).
pub struct Inbound<S> {
    inner: S,
    counter: Option<IntCounter>,
    /// Read, not yet added to the counter.
    unflushed: u64,
}

impl<T> Inbound<Streaming<T>> {
    /// The request's stream, and the counter its extensions carry.
    pub fn of(req: Request<Streaming<T>>) -> Self {
        let counter = req.extensions().get::<RecvCounter>().map(|c| c.0.clone());
        Inbound::new(req.into_inner(), counter)
    }
}

impl<S: Stream + Unpin> Inbound<S> {
    pub fn new(inner: S, counter: Option<IntCounter>) -> Self {
        Inbound {
            inner,
            counter,
            unflushed: 0,
        }
    }

    fn flush(&mut self) {
        if let Some(c) = &self.counter {
            c.inc_by(self.unflushed);
        }
        self.unflushed = 0;
    }
}

impl<T, S> Inbound<S>
where
    S: Stream<Item = Result<T, Status>> + Unpin,
{
    /// The next message, as `Streaming::message`.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        futures_util::StreamExt::next(self).await.transpose()
    }
}

impl<T, S> Stream for Inbound<S>
where
    S: Stream<Item = Result<T, Status>> + Unpin,
{
    type Item = Result<T, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) => {
                this.unflushed += 1;
                if this.unflushed >= FLUSH_EVERY {
                    this.flush();
                }
            }
            // Nothing more buffered, an error or the end: the count is made exact.
            _ => this.flush(),
        }
        polled
    }
}

impl<S> Drop for Inbound<S> {
    fn drop(&mut self) {
        if let (Some(c), n) = (&self.counter, self.unflushed) {
            c.inc_by(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn counter() -> IntCounter {
        IntCounter::new("recv", "test").unwrap()
    }

    fn items(n: usize) -> impl Stream<Item = Result<u32, Status>> + Unpin {
        futures_util::stream::iter((0..n as u32).map(Ok))
    }

    #[tokio::test]
    async fn counts_each_message_read_exactly_at_the_end() {
        let c = counter();
        let mut s = Inbound::new(items(1000), Some(c.clone()));
        for _ in 0..999 {
            s.next().await.unwrap().unwrap();
        }
        // Read in steps, never more than `FLUSH_EVERY` behind.
        assert_eq!(c.get(), 768);
        assert_eq!(s.message().await.unwrap(), Some(999));
        assert_eq!(s.message().await.unwrap(), None);
        assert_eq!(c.get(), 1000);
    }

    #[tokio::test]
    async fn errors_are_not_messages_and_drop_flushes() {
        let c = counter();
        let st = futures_util::stream::iter(vec![Ok(1), Err(Status::internal("x")), Ok(2)]);
        let mut s = Inbound::new(st, Some(c.clone()));
        assert_eq!(s.message().await.unwrap(), Some(1));
        assert!(s.message().await.is_err());
        assert_eq!(c.get(), 1);
        assert_eq!(s.message().await.unwrap(), Some(2));
        assert_eq!(c.get(), 1);
        drop(s);
        assert_eq!(c.get(), 2);
    }

    #[test]
    fn nothing_buffered_flushes() {
        let c = counter();
        // One message, then nothing buffered.
        let mut left = 1;
        let st = futures_util::stream::poll_fn(move |_| {
            if left == 0 {
                return Poll::Pending;
            }
            left -= 1;
            Poll::Ready(Some(Ok::<u32, Status>(7)))
        });
        let mut s = Inbound::new(st, Some(c.clone()));
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(matches!(
            s.poll_next_unpin(&mut cx),
            Poll::Ready(Some(Ok(7)))
        ));
        assert_eq!(c.get(), 0);
        assert!(s.poll_next_unpin(&mut cx).is_pending());
        assert_eq!(c.get(), 1);
    }

    #[tokio::test]
    async fn without_a_counter_it_only_passes_messages_on() {
        let mut s = Inbound::new(items(3), None);
        assert_eq!(s.by_ref().count().await, 3);
    }
}
