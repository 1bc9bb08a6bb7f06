//! HTTP bodies that count the gRPC messages going through them, for the metrics layer:
//! `CountedRequest` counts what a client streams in (except on Publish and Subscribe,
//! whose service counts it: `recv`), `CountedResponse` what the server
//! streams out and reports how the call ended (the `grpc-status` of its trailers, or
//! `CANCELLED` when the body is dropped before its end).
//!
//! Messages are counted by reading the 5-byte gRPC frame headers in the data as it
//! passes (`FrameCounter`), without copying it, and added to the counter once per
//! HTTP/2 data frame, not once per message.
//!
//! Concurrency: each body is owned by its call; counters are atomics.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use prometheus::IntCounter;

/// Counts length-prefixed gRPC messages in a byte stream cut anywhere.
#[derive(Default)]
pub struct FrameCounter {
    /// Payload bytes of the current message still to skip.
    skip: u64,
    header: [u8; 5],
    have: usize,
}

impl FrameCounter {
    /// Feeds the next bytes; returns how many messages started in them.
    pub fn feed(&mut self, data: &[u8]) -> u64 {
        let n = data.len();
        let mut pos = 0;
        let mut started = 0;
        if self.have > 0 {
            // Finish the header the previous chunk cut.
            let k = (5 - self.have).min(n);
            self.header[self.have..self.have + k].copy_from_slice(&data[..k]);
            self.have += k;
            if self.have < 5 {
                return 0;
            }
            pos = k;
            self.have = 0;
            started += 1;
            let h = &self.header;
            self.skip = u64::from(u32::from_be_bytes([h[1], h[2], h[3], h[4]]));
        }
        let k = self.skip.min((n - pos) as u64);
        self.skip -= k;
        pos += k as usize;
        // NOTE: whole headers are read in place: a few instructions per message.
        while pos + 5 <= n {
            let len =
                u32::from_be_bytes([data[pos + 1], data[pos + 2], data[pos + 3], data[pos + 4]]);
            started += 1;
            let end = pos as u64 + 5 + u64::from(len);
            if end > n as u64 {
                self.skip = end - n as u64;
                return started;
            }
            pos = end as usize;
        }
        let rest = n - pos;
        self.header[..rest].copy_from_slice(&data[pos..]);
        self.have = rest;
        started
    }
}

/// A request body that counts the messages a client streams in.
pub struct CountedRequest<B> {
    inner: B,
    frames: FrameCounter,
    counter: IntCounter,
}

impl<B> CountedRequest<B> {
    pub fn new(inner: B, counter: IntCounter) -> Self {
        CountedRequest {
            inner,
            frames: FrameCounter::default(),
            counter,
        }
    }
}

impl<B> Body for CountedRequest<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let n = this.frames.feed(data);
                if n > 0 {
                    this.counter.inc_by(n);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Called once when a call ends, with its gRPC code.
pub trait OnEnd: Send + 'static {
    fn ended(self, code: usize);
}

/// A response body that counts the messages the server streams out (when given a
/// counter) and reports the call's code when its trailers pass, or `CANCELLED` when it
/// is dropped first.
pub struct CountedResponse<B, E: OnEnd> {
    inner: B,
    frames: FrameCounter,
    counter: Option<IntCounter>,
    end: Option<E>,
}

impl<B, E: OnEnd> CountedResponse<B, E> {
    /// `end`: `None` when the call's end was already reported (a trailers-only reply).
    pub fn new(inner: B, counter: Option<IntCounter>, end: Option<E>) -> Self {
        CountedResponse {
            inner,
            frames: FrameCounter::default(),
            counter,
            end,
        }
    }
}

/// The gRPC code of a `grpc-status` header value (`UNKNOWN` when unreadable).
pub fn code_of(value: Option<&http::HeaderValue>) -> usize {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|c| *c < super::metrics::GRPC_CODES.len())
        .unwrap_or(2)
}

impl<B, E> Body for CountedResponse<B, E>
where
    B: Body<Data = Bytes> + Unpin,
    E: OnEnd + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(counter)) = (frame.data_ref(), &this.counter) {
                    let n = this.frames.feed(data);
                    if n > 0 {
                        counter.inc_by(n);
                    }
                }
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(end) = this.end.take() {
                        end.ended(code_of(trailers.get("grpc-status")));
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(end) = this.end.take() {
                    end.ended(2);
                }
            }
            // A body that ends without trailers has no gRPC status: UNKNOWN.
            Poll::Ready(None) => {
                if let Some(end) = this.end.take() {
                    end.ended(2);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, E: OnEnd> Drop for CountedResponse<B, E> {
    fn drop(&mut self) {
        // Dropped before its trailers: the client went away.
        if let Some(end) = self.end.take() {
            end.ended(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FrameCounter;

    fn frame(len: u32) -> Vec<u8> {
        let mut f = vec![0u8];
        f.extend_from_slice(&len.to_be_bytes());
        f.extend(std::iter::repeat_n(7u8, len as usize));
        f
    }

    #[test]
    fn counts_messages_cut_anywhere() {
        let mut all = Vec::new();
        for len in [0, 1, 100, 5, 70_000, 3] {
            all.extend(frame(len));
        }
        for cut in [1, 2, 3, 5, 7, 64, 1000, all.len()] {
            let mut c = FrameCounter::default();
            let n: u64 = all.chunks(cut).map(|ch| c.feed(ch)).sum();
            assert_eq!(n, 6, "chunks of {cut}");
        }
    }
}
