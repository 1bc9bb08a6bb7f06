//! Rate limiting of the Quarterdeck endpoints, like Quarterdeck's (token buckets of
//! 10 requests/s with a burst of 30, `golang.org/x/time/rate` semantics), keyed by the
//! API key's client id when the request names a known one, else by the peer's address.
//!
//! Memory is bounded: at most `MAX_KEYS` buckets. A bucket that has refilled to its
//! burst is the same as no bucket, so a full table first drops those (one scan at most
//! every `PURGE_EVERY`); if every bucket is still in use, the newcomers share one
//! overflow bucket (logged), so an address-spraying client can neither grow the table
//! nor escape the limit.
//!
//! Concurrency: one mutex around the table, held for a hash lookup per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

/// NOTE: 10,000 buckets of ~100 B each: ~1 MiB at most.
pub const MAX_KEYS: usize = 10_000;
/// NOTE: a scan of 10,000 buckets takes ~100 µs; once a second bounds its cost.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Requests per second and burst of each key (Quarterdeck: 10 and 30).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: 10.0,
            burst: 30,
        }
    }
}

/// Whose budget a request spends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// A known API key, by client id.
    Client(String),
    /// Anything else, by peer address.
    Peer(IpAddr),
}

/// The outcome of one request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    /// Go on; `remaining` tokens are left.
    Allowed { remaining: f64 },
    /// Refuse with 429; a token is back after `retry_after`.
    Limited {
        retry_after: Duration,
        remaining: f64,
    },
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, conf: RateLimit) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * conf.per_second).min(f64::from(conf.burst));
        self.at = now;
    }

    fn take(&mut self, now: Instant, conf: RateLimit) -> Decision {
        self.refill(now, conf);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Decision::Allowed {
                remaining: self.tokens,
            }
        } else {
            Decision::Limited {
                retry_after: Duration::from_secs_f64((1.0 - self.tokens) / conf.per_second),
                remaining: self.tokens,
            }
        }
    }
}

/// The buckets of one server.
#[derive(Debug)]
pub struct Limiter {
    conf: RateLimit,
    table: Mutex<Table>,
    limited: AtomicU64,
}

#[derive(Debug)]
struct Table {
    buckets: HashMap<LimitKey, Bucket>,
    overflow: Bucket,
    overflow_logged: bool,
    last_purge: Option<Instant>,
}

impl Limiter {
    pub fn new(conf: RateLimit) -> Self {
        let full = Bucket {
            tokens: f64::from(conf.burst),
            at: Instant::now(),
        };
        Limiter {
            conf,
            table: Mutex::new(Table {
                buckets: HashMap::new(),
                overflow: full,
                overflow_logged: false,
                last_purge: None,
            }),
            limited: AtomicU64::new(0),
        }
    }

    pub fn conf(&self) -> RateLimit {
        self.conf
    }

    /// Requests refused so far.
    pub fn limited(&self) -> u64 {
        self.limited.load(Ordering::Relaxed)
    }

    /// Spends one token of `key`'s bucket.
    pub fn check(&self, key: LimitKey, now: Instant) -> Decision {
        let conf = self.conf;
        let mut t = self.table.lock();
        let decision = if let Some(b) = t.buckets.get_mut(&key) {
            b.take(now, conf)
        } else {
            let due = t
                .last_purge
                .is_none_or(|at| now.saturating_duration_since(at) >= PURGE_EVERY);
            if t.buckets.len() >= MAX_KEYS && due {
                t.last_purge = Some(now);
                t.buckets.retain(|_, b| {
                    b.refill(now, conf);
                    b.tokens < f64::from(conf.burst)
                });
            }
            if t.buckets.len() < MAX_KEYS {
                let mut b = Bucket {
                    tokens: f64::from(conf.burst),
                    at: now,
                };
                let d = b.take(now, conf);
                t.buckets.insert(key, b);
                d
            } else {
                if !t.overflow_logged {
                    tracing::warn!(
                        keys = MAX_KEYS,
                        "auth rate-limit table full: new clients share one bucket"
                    );
                    t.overflow_logged = true;
                }
                t.overflow.take(now, conf)
            }
        };
        if let Decision::Limited { .. } = decision {
            self.limited.fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    /// Buckets held now (for tests of the bound).
    pub fn len(&self) -> usize {
        self.table.lock().buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(i: u32) -> LimitKey {
        LimitKey::Peer(IpAddr::from(i.to_be_bytes()))
    }

    #[test]
    fn burst_then_rate() {
        let l = Limiter::new(RateLimit {
            per_second: 10.0,
            burst: 30,
        });
        let t0 = Instant::now();
        let key = LimitKey::Client("c".into());
        for i in 0..30 {
            assert_eq!(
                l.check(key.clone(), t0),
                Decision::Allowed {
                    remaining: f64::from(29 - i)
                }
            );
        }
        let Decision::Limited { retry_after, .. } = l.check(key.clone(), t0) else {
            panic!("31st request allowed");
        };
        assert_eq!(retry_after, Duration::from_millis(100));
        // Another key has its own bucket.
        assert!(matches!(l.check(peer(1), t0), Decision::Allowed { .. }));
        // 100 ms later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(100);
        assert!(matches!(l.check(key.clone(), t1), Decision::Allowed { .. }));
        assert!(matches!(l.check(key, t1), Decision::Limited { .. }));
        assert_eq!(l.limited(), 2);
    }

    #[test]
    fn the_table_is_bounded_and_overflow_is_limited_too() {
        let conf = RateLimit {
            per_second: 1.0,
            burst: 2,
        };
        let l = Limiter::new(conf);
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS as u32 * 2) {
            l.check(peer(i), t0);
        }
        assert_eq!(l.len(), MAX_KEYS);
        // The overflow bucket has the same limit.
        let extra = MAX_KEYS as u32 * 3;
        let allowed = (0..10)
            .filter(|i| matches!(l.check(peer(extra + i), t0), Decision::Allowed { .. }))
            .count();
        assert_eq!(
            allowed, 0,
            "the overflow bucket was spent by the second half"
        );
        // Once the buckets have refilled they are dropped to make room.
        let later = t0 + Duration::from_secs(10);
        assert!(matches!(
            l.check(peer(extra), later),
            Decision::Allowed { .. }
        ));
        assert_eq!(l.len(), 1);
    }
}
