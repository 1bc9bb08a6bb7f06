//! Live delivery to subscribers. Each committed batch is shared (`Arc`) with every
//! subscriber that wants one of its topics; each subscriber picks out its own events on
//! the way out.
//!
//! Backpressure is per topic: when a subscriber has more than its buffer's worth of
//! events queued, the publishers of *its* topics wait before committing (HTTP/2 flow
//! control then pushes back on those clients); publishers of other topics never wait
//! for it. A subscriber that falls behind by more than `max_lag` (its oldest queued
//! event has waited that long), whether it reads a little or nothing at all, is
//! evicted: it gets what was queued, then `RESOURCE_EXHAUSTED`, and the eviction is
//! logged and counted. Nothing is dropped silently.
//!
//! Concurrency: the registry is an `RwLock<Vec<..>>` read once per committed batch.
//! `deliver` runs in commit order (under the broker's append lock in memory mode, on
//! the log writer thread in disk mode), so every subscriber sees events in RLID order.
//! Each queue has its own small mutex; wakers connect the subscriber stream task and
//! the publisher stream tasks waiting for room. The server's watchdog calls
//! `evict_lagging` about once per `max_lag / 4` (at most every second).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ensign_proto::api::EventWrapper;
use parking_lot::{Mutex, RwLock};
use prometheus::IntCounter;

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

impl FanoutBatch {
    /// The distinct topics of the batch (usually one or two).
    pub fn topics(&self) -> Vec<TopicKey> {
        let mut out: Vec<TopicKey> = Vec::new();
        for e in &self.events {
            if out.last() != Some(&e.topic) && !out.contains(&e.topic) {
                out.push(e.topic);
            }
        }
        out
    }
}

/// A batch waiting in a subscriber's queue: how many of its events are for this
/// subscriber, and when it was queued.
struct Queued {
    batch: Arc<FanoutBatch>,
    wanted: usize,
    at: Instant,
}

struct QueueState {
    queue: VecDeque<Queued>,
    pending: usize,
    consumer: Option<Waker>,
    waiting_publishers: Vec<Waker>,
    closed: bool,
    /// Why it was evicted (the status message its client gets).
    evicted: Option<String>,
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

    fn wants_any(&self, keys: &[TopicKey]) -> bool {
        keys.iter().any(|k| self.topics.contains(k))
    }

    /// Next batch for this subscriber; `None` once it is closed (evicted or shutdown)
    /// and everything queued before that was taken.
    pub fn poll_batch(&self, cx: &mut Context<'_>) -> Poll<Option<Arc<FanoutBatch>>> {
        let mut st = self.state.lock();
        if let Some(q) = st.queue.pop_front() {
            let before = st.pending;
            st.pending -= q.wanted;
            // Wake paused publishers once there is room for a good batch again.
            if before > self.limit / 2 && st.pending <= self.limit / 2 {
                for w in st.waiting_publishers.drain(..) {
                    w.wake();
                }
            }
            return Poll::Ready(Some(q.batch));
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

    /// Why the queue was evicted, if it was (see `Fanout::evict_lagging`).
    pub fn eviction(&self) -> Option<String> {
        self.state.lock().evicted.clone()
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
    max_lag: Duration,
    evictions: IntCounter,
}

impl Fanout {
    /// `limit`: events queued per subscriber before its topics' publishers wait;
    /// `max_lag`: how far behind a subscriber may fall before it is evicted;
    /// `evictions`: counts them.
    pub fn new(limit: usize, max_lag: Duration, evictions: IntCounter) -> Self {
        Fanout {
            subs: RwLock::new(Vec::new()),
            count: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            limit: limit.max(1),
            max_lag,
            evictions,
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
                evicted: None,
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
        let now = Instant::now();
        for sub in self.subs.read().iter() {
            let n = batch.events.iter().filter(|e| sub.wants(&e.topic)).count();
            if n == 0 {
                continue;
            }
            let mut st = sub.state.lock();
            if st.closed {
                continue;
            }
            st.queue.push_back(Queued {
                batch: batch.clone(),
                wanted: n,
                at: now,
            });
            st.pending += n;
            if let Some(w) = st.consumer.take() {
                w.wake();
            }
        }
    }

    /// True if every subscriber of these topics has room; otherwise registers the
    /// publisher's waker with the first full one and returns false. Subscribers of
    /// other topics are not looked at: they never slow this publisher.
    pub fn poll_room(&self, topics: &[TopicKey], cx: &mut Context<'_>) -> bool {
        if !self.has_subscribers() {
            return true;
        }
        for sub in self.subs.read().iter() {
            if !sub.wants_any(topics) {
                continue;
            }
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

    /// How often the watchdog should call `evict_lagging`.
    pub fn check_interval(&self) -> Duration {
        (self.max_lag / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// Evicts the subscribers whose oldest queued event has waited longer than
    /// `max_lag`, so that a slow reader cannot hold its topics' publishers back
    /// indefinitely. Their clients get an explicit `RESOURCE_EXHAUSTED` after what was
    /// already queued, never a silent gap.
    pub fn evict_lagging(&self) {
        for sub in self.subs.read().iter() {
            let mut st = sub.state.lock();
            let Some(lag) = st.queue.front().map(|q| q.at.elapsed()) else {
                continue;
            };
            if st.closed || lag < self.max_lag {
                continue;
            }
            let queued = st.pending;
            st.evicted = Some(format!(
                "subscriber fell behind by more than {} ms ({queued} events queued); \
                 closing its stream",
                self.max_lag.as_millis()
            ));
            drop(st);
            self.evictions.inc();
            tracing::warn!(
                subscriber = sub.id,
                queued,
                lag_ms = lag.as_millis() as u64,
                max_lag_ms = self.max_lag.as_millis() as u64,
                topics = sub.topics.len(),
                "evicting a subscriber that fell behind"
            );
            sub.close();
        }
    }

    /// Ends every subscription (server shutdown).
    pub fn close_all(&self) {
        for sub in self.subs.read().iter() {
            sub.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn key(b: u8) -> TopicKey {
        TopicKey([b; 16])
    }

    fn batch(topic: TopicKey, n: usize) -> FanoutBatch {
        FanoutBatch {
            events: (0..n)
                .map(|_| FanoutEvent {
                    topic,
                    wrapper: EventWrapper::default(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_full_subscriber_holds_back_only_its_own_topics() {
        let fanout = Fanout::new(
            8,
            Duration::from_secs(60),
            IntCounter::new("e", "e").unwrap(),
        );
        let (a, b) = (key(1), key(2));
        let sub = fanout.subscribe([a].into_iter().collect());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fanout.poll_room(&[a], &mut cx));
        fanout.deliver(batch(a, 8));
        assert!(!fanout.poll_room(&[a], &mut cx), "A's publishers wait");
        assert!(
            fanout.poll_room(&[b], &mut cx),
            "B's publishers never wait for A's subscriber"
        );
        assert!(!fanout.poll_room(&[b, a], &mut cx));
        assert!(matches!(sub.poll_batch(&mut cx), Poll::Ready(Some(_))));
        assert!(fanout.poll_room(&[a], &mut cx));
    }

    #[test]
    fn a_lagging_subscriber_is_evicted_and_counted() {
        let evictions = IntCounter::new("e", "e").unwrap();
        let fanout = Fanout::new(8, Duration::ZERO, evictions.clone());
        let sub = fanout.subscribe([key(1)].into_iter().collect());
        let idle = fanout.subscribe([key(2)].into_iter().collect());
        fanout.deliver(batch(key(1), 3));
        fanout.evict_lagging();
        assert_eq!(evictions.get(), 1);
        assert!(sub.eviction().unwrap().contains("fell behind"));
        assert!(idle.eviction().is_none(), "nothing queued: not behind");
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            matches!(sub.poll_batch(&mut cx), Poll::Ready(Some(_))),
            "queued events first"
        );
        assert!(matches!(sub.poll_batch(&mut cx), Poll::Ready(None)));
    }
}
