//! Live delivery to subscribers. Each committed batch is shared (`Arc`) with every
//! subscriber that wants one of its topics; each subscriber picks out its own events on
//! the way out. Nothing is ever dropped: when a subscriber has more than its buffer's
//! worth of events queued, publishers stop reading their streams until it catches up
//! (HTTP/2 flow control then pushes back on the publishing clients).
//!
//! Concurrency: the registry is an `RwLock<Vec<..>>` read once per committed batch.
//! `deliver` runs in commit order (under the broker's append lock in memory mode, on
//! the log writer thread in disk mode), so every subscriber sees events in RLID order.
//! Each queue has its own small mutex; wakers connect the subscriber stream task and
//! the publisher stream tasks waiting for room.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ensign_proto::api::EventWrapper;
use parking_lot::{Mutex, RwLock};

use crate::topics::TopicKey;

/// One event as delivered live: its topic and the wrapper subscribers receive.
pub struct FanoutEvent {
    pub topic: TopicKey,
    pub wrapper: EventWrapper,
}

/// The events of one commit, in RLID order.
#[derive(Default)]
pub struct FanoutBatch {
    pub events: Vec<FanoutEvent>,
}

struct QueueState {
    queue: VecDeque<(Arc<FanoutBatch>, usize)>,
    pending: usize,
    consumer: Option<Waker>,
    waiting_publishers: Vec<Waker>,
    closed: bool,
    /// Closed because it read nothing for the stall timeout while full.
    stalled: bool,
    last_read: Instant,
}

/// A subscriber's inbox.
pub struct SubscriberQueue {
    id: u64,
    topics: HashSet<TopicKey>,
    limit: usize,
    state: Mutex<QueueState>,
}

impl SubscriberQueue {
    pub fn wants(&self, key: &TopicKey) -> bool {
        self.topics.contains(key)
    }

    /// Next batch for this subscriber; `None` once the server is shutting down.
    pub fn poll_batch(&self, cx: &mut Context<'_>) -> Poll<Option<Arc<FanoutBatch>>> {
        let mut st = self.state.lock();
        st.last_read = Instant::now();
        if let Some((batch, n)) = st.queue.pop_front() {
            let before = st.pending;
            st.pending -= n;
            // Wake paused publishers once there is room for a good batch again.
            if before > self.limit / 2 && st.pending <= self.limit / 2 {
                for w in st.waiting_publishers.drain(..) {
                    w.wake();
                }
            }
            return Poll::Ready(Some(batch));
        }
        if st.closed {
            return Poll::Ready(None);
        }
        match &st.consumer {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.consumer = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// True if the queue was closed for not being read (see `Fanout::evict_stalled`).
    pub fn stalled(&self) -> bool {
        self.state.lock().stalled
    }

    fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        if let Some(w) = st.consumer.take() {
            w.wake();
        }
        for w in st.waiting_publishers.drain(..) {
            w.wake();
        }
    }
}

/// The registry of live subscribers.
pub struct Fanout {
    subs: RwLock<Vec<Arc<SubscriberQueue>>>,
    count: AtomicUsize,
    next_id: AtomicU64,
    limit: usize,
}

impl Fanout {
    pub fn new(limit: usize) -> Self {
        Fanout {
            subs: RwLock::new(Vec::new()),
            count: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            limit: limit.max(1),
        }
    }

    /// Cheap check so that publishers build delivery batches only when someone listens.
    pub fn has_subscribers(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    pub fn subscribe(&self, topics: HashSet<TopicKey>) -> Arc<SubscriberQueue> {
        let q = Arc::new(SubscriberQueue {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            topics,
            limit: self.limit,
            state: Mutex::new(QueueState {
                queue: VecDeque::new(),
                pending: 0,
                consumer: None,
                waiting_publishers: Vec::new(),
                closed: false,
                stalled: false,
                last_read: Instant::now(),
            }),
        });
        let mut subs = self.subs.write();
        subs.push(q.clone());
        self.count.store(subs.len(), Ordering::Release);
        q
    }

    pub fn unsubscribe(&self, q: &SubscriberQueue) {
        let mut subs = self.subs.write();
        subs.retain(|s| s.id != q.id);
        self.count.store(subs.len(), Ordering::Release);
        drop(subs);
        // Publishers waiting on this queue must not wait for it any more.
        q.close();
    }

    /// Queues a committed batch for every subscriber that wants some of it.
    pub fn deliver(&self, batch: FanoutBatch) {
        if batch.events.is_empty() {
            return;
        }
        let batch = Arc::new(batch);
        for sub in self.subs.read().iter() {
            let n = batch.events.iter().filter(|e| sub.wants(&e.topic)).count();
            if n == 0 {
                continue;
            }
            let mut st = sub.state.lock();
            if st.closed {
                continue;
            }
            st.queue.push_back((batch.clone(), n));
            st.pending += n;
            if let Some(w) = st.consumer.take() {
                w.wake();
            }
        }
    }

    /// True if every subscriber has room; otherwise registers the publisher's waker
    /// with the first full one and returns false.
    pub fn poll_room(&self, cx: &mut Context<'_>) -> bool {
        if !self.has_subscribers() {
            return true;
        }
        for sub in self.subs.read().iter() {
            let mut st = sub.state.lock();
            if st.pending >= self.limit && !st.closed {
                if !st
                    .waiting_publishers
                    .iter()
                    .any(|w| w.will_wake(cx.waker()))
                {
                    st.waiting_publishers.push(cx.waker().clone());
                }
                return false;
            }
        }
        true
    }

    /// Closes the subscriptions that are full and have read nothing for `timeout`, so
    /// that one abandoned stream cannot pause every publisher forever. Their clients get
    /// an explicit `RESOURCE_EXHAUSTED`, never a silent gap.
    pub fn evict_stalled(&self, timeout: Duration) {
        for sub in self.subs.read().iter() {
            let mut st = sub.state.lock();
            if !st.closed && st.pending >= self.limit && st.last_read.elapsed() >= timeout {
                st.stalled = true;
                drop(st);
                tracing::warn!(
                    queued = self.limit,
                    "closing a subscription that stopped reading"
                );
                sub.close();
            }
        }
    }

    /// Ends every subscription (server shutdown).
    pub fn close_all(&self) {
        for sub in self.subs.read().iter() {
            sub.close();
        }
    }
}
