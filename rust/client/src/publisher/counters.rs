//! The publisher's statistics: counts of published, acked and nacked events, bytes
//! written, reconnects, and an HDR histogram of ack latencies (admission → ack).
//!
//! Concurrency: the counters live in the ack tracker, behind the publisher's lock that
//! every place updating them already holds (admission, a batch of replies, a reconnect),
//! so they cost a plain add and no synchronisation of their own; reading them
//! ([`super::Publisher::stats`]) takes that lock once.
//!
//! NOTE: one `Instant::now()` per admitted batch and one per batch of up to 512 replies;
//! the latency of an event is the reply batch's clock minus its batch's admission time.
//! Recording into the histogram is a few adds per ack (measured in
//! `benches/results/observability.md`); a separate lock per event was never needed.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Latencies up to an hour, in microseconds, with 2 significant digits (~1% error).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Running counts, kept inside the tracker.
pub struct Counters {
    /// Events handed to the publisher (admitted, or refused as too large: each has an outcome).
    pub published: u64,
    pub acked: u64,
    pub nacked: u64,
    /// Bytes of `PublisherRequest` frames written to streams (re-sends included).
    pub bytes_sent: u64,
    /// Times a broken publish stream was opened again.
    pub reconnects: u64,
    /// The time of the reply batch being applied.
    pub clock: Instant,
    latency: Histogram<u64>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            published: 0,
            acked: 0,
            nacked: 0,
            bytes_sent: 0,
            reconnects: 0,
            clock: Instant::now(),
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 2)
                .expect("valid histogram bounds"),
        }
    }
}

impl Counters {
    /// Records one ack of an event admitted at `admitted`.
    pub fn ack(&mut self, admitted: Instant) {
        self.acked += 1;
        let us = self.clock.saturating_duration_since(admitted).as_micros() as u64;
        self.latency.saturating_record(us.max(1));
    }

    /// A snapshot, with the window state given by the tracker.
    pub fn snapshot(&self, in_flight: usize, in_flight_bytes: usize) -> PublishStats {
        let h = &self.latency;
        let q = |p: f64| {
            Duration::from_micros(if h.is_empty() {
                0
            } else {
                h.value_at_quantile(p)
            })
        };
        PublishStats {
            published: self.published,
            acked: self.acked,
            nacked: self.nacked,
            in_flight: in_flight as u64,
            in_flight_bytes: in_flight_bytes as u64,
            bytes_sent: self.bytes_sent,
            reconnects: self.reconnects,
            ack_latency_count: h.len(),
            ack_latency_p50: q(0.5),
            ack_latency_p99: q(0.99),
            ack_latency_max: Duration::from_micros(if h.is_empty() { 0 } else { h.max() }),
            ack_latency_sum: Duration::from_micros((h.mean() * h.len() as f64) as u64),
        }
    }
}

/// What [`super::Publisher::stats`] returns. Latencies are cumulative since the client
/// started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublishStats {
    pub published: u64,
    pub acked: u64,
    pub nacked: u64,
    pub in_flight: u64,
    pub in_flight_bytes: u64,
    pub bytes_sent: u64,
    pub reconnects: u64,
    pub ack_latency_count: u64,
    pub ack_latency_p50: Duration,
    pub ack_latency_p99: Duration,
    pub ack_latency_max: Duration,
    /// Approximate (the histogram's mean times its count), for a Prometheus summary.
    pub ack_latency_sum: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_come_from_the_recorded_acks() {
        let mut c = Counters::default();
        let start = c.clock;
        for ms in 1..=100u64 {
            c.clock = start + Duration::from_millis(ms);
            c.ack(start);
        }
        let s = c.snapshot(3, 30);
        assert_eq!(
            (s.acked, s.ack_latency_count, s.in_flight, s.in_flight_bytes),
            (100, 100, 3, 30)
        );
        let p50 = s.ack_latency_p50.as_micros();
        let p99 = s.ack_latency_p99.as_micros();
        assert!((49_000..=51_000).contains(&p50), "{p50}");
        assert!((98_000..=100_500).contains(&p99), "{p99}");
        assert!(s.ack_latency_max >= Duration::from_millis(99));
    }

    /// The cost of counting one ack (benches/results/observability.md).
    #[test]
    #[ignore = "measurement: cargo test --release -p ensign-client ack_cost -- --ignored --nocapture"]
    fn ack_cost() {
        let mut c = Counters::default();
        let start = Instant::now();
        let n = 20_000_000u64;
        for i in 0..n {
            // Latencies spread over 1 µs .. 65 ms, as a real run's.
            c.clock = start + Duration::from_micros(1 + (i * 7919) % 65_536);
            c.ack(std::hint::black_box(start));
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        println!(
            "Counters::ack: {ns:.1} ns per ack ({} recorded)",
            c.snapshot(0, 0).ack_latency_count
        );
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        let s = Counters::default().snapshot(0, 0);
        assert_eq!(s.ack_latency_p50, Duration::ZERO);
        assert_eq!(s.ack_latency_max, Duration::ZERO);
    }
}
