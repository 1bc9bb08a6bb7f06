//! The monitoring tasks of a running server: the watchdog that evicts subscribers that
//! fell behind (`Fanout::evict_lagging`), and the Prometheus endpoint (`/metrics`,
//! `/healthz`) when `ServerConfig::metrics_addr` is set.
//!
//! Concurrency: two tasks on the server's runtime, both stopped by its shutdown token.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::ServerError;
use crate::fanout::Fanout;
use crate::listener::accept::Protocol;
use crate::listener::{Acceptor, ConnectionLimits, ListenerStats};
use crate::metrics::{self, Metrics};

/// Checks subscriber lag every `Fanout::check_interval` until `stop`.
pub fn spawn_lag_watchdog(fanout: Arc<Fanout>, stop: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(fanout.check_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => fanout.evict_lagging(),
            }
        }
    })
}

/// Serves `/metrics` on `listener` until `stop`, with the same connection limits and
/// timeouts as the other listeners.
pub fn spawn_metrics_server(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    limits: ConnectionLimits,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let timeout = limits.handshake_timeout;
    let stats = Arc::new(ListenerStats::default());
    let acceptor = Acceptor::new(listener, Protocol::Http, limits, stats);
    tokio::spawn(crate::listener::http::serve(
        acceptor,
        metrics::http_router(metrics),
        timeout,
        stop,
    ))
}

/// Splits "HOST:PORT" (`[::1]:PORT` for IPv6; an empty host means `default_host`).
pub fn split_host_port(addr: &str, default_host: &str) -> Result<(String, u16), ServerError> {
    let bad = || ServerError::Config(format!("invalid metrics address {addr:?}: want HOST:PORT"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { default_host } else { host };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("0.0.0.0:1205", "h").unwrap(),
            ("0.0.0.0".into(), 1205)
        );
        assert_eq!(split_host_port(":1205", "h").unwrap(), ("h".into(), 1205));
        assert_eq!(split_host_port("[::1]:0", "h").unwrap(), ("::1".into(), 0));
        assert!(split_host_port("1205", "h").is_err());
        assert!(split_host_port("h:99999", "h").is_err());
    }
}
