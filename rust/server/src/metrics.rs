//! Prometheus metrics of one server, with the real Ensign server's names and labels
//! (`pkg/ensign/o11y`, ecosystem.md §7), served as Prometheus text (format 0.0.4) at
//! `/metrics` when `ServerConfig::metrics_addr` is set:
//!
//! | name | type | labels | what |
//! |------|------|--------|------|
//! | `ensign_events` | counter | `node`, `region` | events stored and acked |
//! | `ensign_online_publishers` | gauge | | open publish streams |
//! | `ensign_online_subscribers` | gauge | | open subscribe streams |
//! | `grpc_server_started_total` | counter | `type`, `service`, `method` | RPCs started |
//! | `grpc_server_handled_total` | counter | `type`, `service`, `method`, `code` | RPCs finished, by gRPC code (all 17 pre-registered) |
//! | `grpc_server_handler_duration` | histogram (s) | `type`, `service`, `method` | RPC duration (a stream's lifetime) |
//! | `grpc_server_stream_messages_sent` | counter | `type`, `service`, `method` | messages sent on streams |
//! | `grpc_server_stream_messages_recv` | counter | `type`, `service`, `method` | messages received on streams |
//!
//! Ours, for operators (not in the real server):
//!
//! | name | type | labels | what |
//! |------|------|--------|------|
//! | `ensign_subscriber_evictions_total` | counter | | subscribers evicted for falling behind |
//! | `ensign_storage_errors_total` | counter | | writes (event batches or topic changes) storage failed |
//! | `ensign_events_nacked_total` | counter | `code` | events the server nacked, by nack code |
//!
//! The `grpc_server_*` series are defined and updated by one tower layer
//! (`grpc::metrics`, registered in this registry), never by handlers. `node` is the
//! server id (`unk` when empty) and `region` is `unk`, as the real server reports them.
//!
//! Concurrency: every series is resolved once, at start, into a handle that is an
//! atomic; updating one takes no lock. Publish streams add their acks once per batch.

use std::sync::Arc;

use ensign_proto::api::nack::Code as NackCode;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The nack codes a server sends (0 through `INTERNAL`).
const NACK_CODES: usize = NackCode::Internal as usize + 1;

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    pub events: IntCounter,
    pub online_publishers: IntGauge,
    pub online_subscribers: IntGauge,
    pub subscriber_evictions: IntCounter,
    pub storage_errors: IntCounter,
    nacked: Vec<IntCounter>,
}

pub(crate) fn register<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, m: T) -> T {
    r.register(Box::new(m.clone()))
        .expect("metric names are unique and valid");
    m
}

impl Metrics {
    /// A registry for a server whose id is `node` (`unk` when empty).
    pub fn new(node: &str) -> Arc<Self> {
        let r = Registry::new();
        let node = if node.is_empty() { "unk" } else { node };
        let events = register(
            &r,
            IntCounterVec::new(
                Opts::new("ensign_events", "events stored and acknowledged"),
                &["node", "region"],
            )
            .expect("valid"),
        );
        let gauge =
            |name: &str, help: &str| register(&r, IntGauge::new(name, help).expect("valid"));
        let counter =
            |name: &str, help: &str| register(&r, IntCounter::new(name, help).expect("valid"));
        let online_publishers = gauge("ensign_online_publishers", "open publish streams");
        let online_subscribers = gauge("ensign_online_subscribers", "open subscribe streams");
        let subscriber_evictions = counter(
            "ensign_subscriber_evictions_total",
            "subscribers evicted because they fell behind",
        );
        let storage_errors = counter(
            "ensign_storage_errors_total",
            "writes (event batches or topic changes) that storage failed",
        );
        let nacked_vec = register(
            &r,
            IntCounterVec::new(
                Opts::new("ensign_events_nacked_total", "events nacked by the server"),
                &["code"],
            )
            .expect("valid"),
        );
        let nacked = (0..NACK_CODES as i32)
            .map(|c| {
                let name = NackCode::try_from(c).map_or("UNKNOWN", |c| c.as_str_name());
                nacked_vec.with_label_values(&[name])
            })
            .collect();
        Arc::new(Metrics {
            events: events.with_label_values(&[node, "unk"]),
            online_publishers,
            online_subscribers,
            subscriber_evictions,
            storage_errors,
            nacked,
            registry: r,
        })
    }

    /// The registry, for series defined elsewhere (`grpc::metrics`).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts an event nacked by the server.
    pub fn nacked(&self, code: NackCode) {
        if let Some(c) = self.nacked.get(code as usize) {
            c.inc();
        }
    }

    /// Everything, as Prometheus text (format 0.0.4).
    pub fn encode(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not encode the metrics");
                String::new()
            })
    }
}

/// A gauge raised while a value of this type lives (an open stream).
pub struct Online(IntGauge);

impl Online {
    pub fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Online(gauge.clone())
    }
}

impl Drop for Online {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics` (Prometheus text) and `GET /healthz`.
pub fn http_router(metrics: Arc<Metrics>) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    let body = tokio::task::spawn_blocking(move || metrics.encode())
                        .await
                        .unwrap_or_default();
                    ([(CONTENT_TYPE, prometheus::TEXT_FORMAT)], body)
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_of_the_real_server() {
        let m = Metrics::new("");
        m.events.inc_by(3);
        m.nacked(NackCode::TopicUnknown);
        let text = m.encode();
        assert!(
            text.contains("ensign_events{node=\"unk\",region=\"unk\"} 3"),
            "{text}"
        );
        assert!(text.contains("# TYPE ensign_events counter"));
        assert!(text.contains("ensign_events_nacked_total{code=\"TOPIC_UNKNOWN\"} 1"));
        assert!(text.contains("ensign_online_publishers 0"));
    }
}
