//! The bounded prefetch buffer between a stream reader (subscribe or EnSQL) and its
//! consumer.
//!
//! Concurrency: one mutex guards the queue; the reader pushes whole batches (one lock per
//! batch of messages that arrived together) and the consumer pops pages (one lock per
//! page). Two `Notify`s connect them: `data` wakes a waiting consumer, `room` wakes a
//! reader that stopped because the buffer was full. A reader that stops reading leaves
//! the messages in HTTP/2's receive window, so flow control pushes back on the server.
//!
//! The end of the stream is sticky: after the buffered events come `Pop::Ended` (clean
//! end) or the terminal error, every time it is asked for.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::received::Received;
use crate::error::{Error, Result};
use crate::publisher::clone_error;

/// NOTE: 4096 events is 16 pages of 256 for the Python side, far above the ~500-event
/// bandwidth-delay product at 300 k ev/s; with HTTP/2's 4 MiB stream window behind it the
/// server can keep sending while the consumer works through a page.
pub const DEFAULT_BUFFER_EVENTS: usize = 4096;
/// Byte budget of the buffer (payloads plus a fixed overhead per event).
pub const DEFAULT_BUFFER_BYTES: usize = 32 * 1024 * 1024;

/// What a pop found.
#[derive(Debug, PartialEq, Eq)]
pub enum Pop {
    /// This many events were moved out.
    Events(usize),
    /// Nothing yet; the stream goes on.
    Empty,
    /// The stream ended cleanly (or was closed) and everything was consumed.
    Ended,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Received>,
    bytes: usize,
    end: Option<Result<()>>,
}

/// The buffer. See the module docs.
pub struct Inbox {
    state: Mutex<State>,
    data: Notify,
    room: Notify,
    cap_events: usize,
    cap_bytes: usize,
    skipped: AtomicU64,
    warnings: Mutex<Vec<String>>,
    has_warnings: AtomicBool,
}

impl Inbox {
    /// A buffer of at most `cap_events` events and about `cap_bytes` bytes (one event
    /// larger than that is still accepted into an empty buffer).
    pub fn new(cap_events: usize, cap_bytes: usize) -> Self {
        Inbox {
            state: Mutex::new(State::default()),
            data: Notify::new(),
            room: Notify::new(),
            cap_events: cap_events.max(1),
            cap_bytes: cap_bytes.max(1),
            skipped: AtomicU64::new(0),
            warnings: Mutex::new(Vec::new()),
            has_warnings: AtomicBool::new(false),
        }
    }

    fn room_in(&self, st: &State) -> usize {
        if st.bytes >= self.cap_bytes && !st.queue.is_empty() {
            return 0;
        }
        self.cap_events.saturating_sub(st.queue.len())
    }

    /// How many more events the reader may push now.
    pub fn room(&self) -> usize {
        self.room_in(&self.state.lock())
    }

    /// Waits until there is room for at least a quarter of the buffer (so that the reader
    /// resumes with a good batch, not a trickle), or the stream has ended.
    pub async fn wait_room(&self) {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock();
                let room = self.room_in(&st);
                if st.end.is_some() || room >= (self.cap_events / 4).max(1) {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Appends a batch (moving its events out) and wakes the consumer.
    pub fn push(&self, batch: &mut Vec<Received>) {
        if batch.is_empty() {
            return;
        }
        {
            let mut st = self.state.lock();
            if st.end.is_some() {
                // Closed by the consumer: nobody will read these.
                batch.clear();
                return;
            }
            st.bytes += batch.iter().map(Received::size).sum::<usize>();
            st.queue.extend(batch.drain(..));
        }
        self.data.notify_waiters();
    }

    /// Counts an event that could not be delivered and keeps the warning for the
    /// consumer to report.
    pub fn skip(&self, warning: String) {
        tracing::warn!("{warning}");
        self.skipped.fetch_add(1, Ordering::Relaxed);
        let mut w = self.warnings.lock();
        if w.len() < 100 {
            w.push(warning);
        }
        self.has_warnings.store(true, Ordering::Release);
    }

    /// Events skipped so far.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Warnings not reported yet (cheap when there are none).
    pub fn take_warnings(&self) -> Vec<String> {
        if !self.has_warnings.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut *self.warnings.lock())
    }

    /// Ends the stream: the consumer gets what is buffered, then `end`. The first end
    /// wins.
    pub fn finish(&self, end: Result<()>) {
        {
            let mut st = self.state.lock();
            if st.end.is_some() {
                return;
            }
            st.end = Some(end);
        }
        self.data.notify_waiters();
        self.room.notify_waiters();
    }

    /// Ends the stream now and drops whatever is buffered (the consumer closed it).
    pub fn discard(&self) {
        {
            let mut st = self.state.lock();
            st.queue.clear();
            st.bytes = 0;
            st.end = Some(Ok(()));
        }
        self.data.notify_waiters();
        self.room.notify_waiters();
    }

    /// Whether the stream has ended (events may still be buffered).
    pub fn is_finished(&self) -> bool {
        self.state.lock().end.is_some()
    }

    /// The terminal error, if the stream failed.
    pub fn error(&self) -> Option<Error> {
        match &self.state.lock().end {
            Some(Err(e)) => Some(clone_error(e)),
            _ => None,
        }
    }

    /// Moves up to `max` events into `out` without waiting.
    pub fn pop(&self, max: usize, out: &mut Vec<Received>) -> Result<Pop> {
        let wake;
        let got = {
            let mut st = self.state.lock();
            if st.queue.is_empty() {
                return match &st.end {
                    None => Ok(Pop::Empty),
                    Some(Ok(())) => Ok(Pop::Ended),
                    Some(Err(e)) => Err(clone_error(e)),
                };
            }
            let before = self.room_in(&st);
            let n = max.max(1).min(st.queue.len());
            let mut bytes = 0;
            out.reserve(n);
            for r in st.queue.drain(..n) {
                bytes += r.size();
                out.push(r);
            }
            st.bytes -= bytes;
            // Wake a paused reader only when the pop crossed its resume threshold.
            let threshold = (self.cap_events / 4).max(1);
            wake = before < threshold && self.room_in(&st) >= threshold;
            n
        };
        if wake {
            self.room.notify_one();
        }
        Ok(Pop::Events(got))
    }

    /// Waits until events are buffered or the stream has ended.
    pub async fn wait_data(&self) {
        loop {
            let notified = self.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.state.lock();
                if !st.queue.is_empty() || st.end.is_some() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Waits for events, then pops up to `max` of them; an empty vector means the stream
    /// ended cleanly.
    pub async fn next_batch(&self, max: usize) -> Result<Vec<Received>> {
        let mut out = Vec::new();
        loop {
            match self.pop(max, &mut out)? {
                Pop::Events(_) | Pop::Ended => return Ok(out),
                Pop::Empty => self.wait_data().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: u8) -> Received {
        Received::empty(&[i; 10], &[1; 16])
    }

    #[test]
    fn pops_in_order_then_reports_the_end() {
        let inbox = Inbox::new(8, 1 << 20);
        inbox.push(&mut (0..5).map(ev).collect());
        assert_eq!(inbox.room(), 3);
        let mut out = Vec::new();
        assert_eq!(inbox.pop(3, &mut out).unwrap(), Pop::Events(3));
        assert_eq!(inbox.pop(3, &mut out).unwrap(), Pop::Events(2));
        assert_eq!(
            out.iter().map(|r| r.id[0]).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(inbox.pop(3, &mut out).unwrap(), Pop::Empty);
        inbox.finish(Err(Error::Timeout("gone".into())));
        assert!(inbox.pop(3, &mut out).is_err());
        assert!(inbox.pop(3, &mut out).is_err(), "the error is sticky");
    }

    #[test]
    fn buffered_events_come_before_the_error() {
        let inbox = Inbox::new(8, 1 << 20);
        inbox.push(&mut vec![ev(1)]);
        inbox.finish(Err(Error::Closed));
        let mut out = Vec::new();
        assert_eq!(inbox.pop(10, &mut out).unwrap(), Pop::Events(1));
        assert!(inbox.pop(10, &mut out).is_err());
    }

    #[test]
    fn discard_drops_the_buffer() {
        let inbox = Inbox::new(8, 1 << 20);
        inbox.push(&mut vec![ev(1), ev(2)]);
        inbox.discard();
        let mut out = Vec::new();
        assert_eq!(inbox.pop(10, &mut out).unwrap(), Pop::Ended);
        inbox.push(&mut vec![ev(3)]);
        assert_eq!(inbox.pop(10, &mut out).unwrap(), Pop::Ended);
    }

    #[tokio::test]
    async fn a_full_buffer_waits_for_room() {
        let inbox = std::sync::Arc::new(Inbox::new(4, 1 << 20));
        inbox.push(&mut (0..4).map(ev).collect());
        assert_eq!(inbox.room(), 0);
        let waiter = {
            let inbox = inbox.clone();
            tokio::spawn(async move { inbox.wait_room().await })
        };
        let mut out = Vec::new();
        inbox.pop(2, &mut out).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
            .await
            .expect("the reader resumes")
            .unwrap();
    }
}
