//! Starting a server: `start` opens storage, sets up auth, binds the gRPC (and HTTP)
//! listeners and spawns them on the current tokio runtime, and returns the
//! `ServerHandle` (`handle`) that reports where it listens and stops it.
//!
//! Concurrency: spawned tasks (gRPC, the auth HTTP endpoints, the metrics endpoint, the
//! subscriber-lag watchdog) plus the log writer thread in disk mode, all watching one
//! cancellation token that the handle holds.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use crate::auth::{quarterdeck, Auth};
use crate::broker::Broker;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::fanout::Fanout;
use crate::grpc;
use crate::handle::ServerHandle;
use crate::idempotence::PublishedIndex;
use crate::listener::accept::Protocol;
use crate::listener::{Acceptor, ActivityLayer, ListenerStats};
use crate::metrics::Metrics;
use crate::monitoring;
use crate::state::ServerState;
use crate::storage::datadir::DirOptions;
use crate::storage::replay::{Recovered, ReplayOptions};
use crate::storage::{DiskLog, DiskOptions, Storage};
use crate::topics::{TopicEntry, TopicTable};

async fn resolve_host(host: &str, port: u16) -> Result<SocketAddr, ServerError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let invalid = |reason: String| ServerError::InvalidHost {
        host: host.to_string(),
        reason,
    };
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| invalid(e.to_string()))?;
    // Prefer IPv4: the SDKs want "host:port" with a single colon.
    let all: Vec<SocketAddr> = addrs.by_ref().collect();
    all.iter()
        .find(|a| a.is_ipv4())
        .or(all.first())
        .copied()
        .ok_or_else(|| invalid("no address found".into()))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

fn table_from(recovered: Recovered) -> TopicTable {
    let mut table = TopicTable::default();
    for (_, t) in recovered.topics {
        let entry = TopicEntry::new(t.topic);
        {
            let mut ev = entry.events.write();
            ev.events = t.events;
            ev.replace_duplicates(t.duplicates);
        }
        table.insert(entry);
    }
    table
}

/// Starts a server on the current tokio runtime; returns once it is listening.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, ServerError> {
    if config.publish_window == 0 || config.subscriber_buffer == 0 {
        return Err(ServerError::Config(
            "publish_window and subscriber_buffer must be > 0".into(),
        ));
    }
    config.connections.validate().map_err(ServerError::Config)?;
    let addr = resolve_host(&config.host, config.port).await?;
    let metrics_addr = match &config.metrics_addr {
        None => None,
        Some(a) => {
            let (host, port) = monitoring::split_host_port(a, &config.host)?;
            Some(resolve_host(&host, port).await?)
        }
    };
    let metrics = Metrics::new(&config.server_id);
    let fanout = Arc::new(Fanout::new(
        config.subscriber_buffer,
        config.subscriber_max_lag,
        metrics.subscriber_evictions.clone(),
    ));
    let published = Arc::new(PublishedIndex::new(config.resend_window));
    let (storage, project_id, mut recovered) = match &config.data_dir {
        None => (
            Storage::Memory,
            Ulid::new(),
            Recovered::new(config.resend_window),
        ),
        Some(dir) => {
            let opts = DiskOptions {
                dir: DirOptions {
                    fs: config.storage_fs.clone(),
                    repair: config.repair,
                    replay: ReplayOptions {
                        chunk: config.replay_chunk,
                        resend_keys: PublishedIndex::index_capacity(config.resend_window),
                    },
                },
                retry_max: config.storage_retry_max,
            };
            let (dir, fan, idx) = (dir.clone(), fanout.clone(), published.clone());
            let (log, project, rec) =
                tokio::task::spawn_blocking(move || DiskLog::open(&dir, fan, idx, &opts))
                    .await
                    .map_err(|e| ServerError::Storage(e.to_string()))??;
            rec.report.log();
            tracing::info!(dir = %log.dir().display(), recovery = %rec.report, "event log replayed");
            (Storage::Disk(log), project, rec)
        }
    };
    let storage = Arc::new(storage);
    let last_rlid = recovered.max_rlid;
    published.restore(std::mem::take(&mut recovered.resend));
    let recovery = Arc::new(std::mem::take(&mut recovered.report));
    let auth = match config.auth.clone() {
        None => None,
        Some(cfg) => {
            let dir = config.data_dir.clone();
            let auth =
                tokio::task::spawn_blocking(move || Auth::new(cfg, dir.as_deref(), project_id))
                    .await
                    .map_err(|e| ServerError::Auth(e.to_string()))??;
            Some(Arc::new(auth))
        }
    };
    let listener = bind(addr).await?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let http_listener = match &config.auth {
        Some(a) => Some(bind(SocketAddr::new(addr.ip(), a.http_port)).await?),
        None => None,
    };
    let metrics_listener = match metrics_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let token = CancellationToken::new();
    let state = Arc::new(ServerState {
        project_id,
        topics: RwLock::new(table_from(recovered)),
        broker: Broker::new(storage.clone(), fanout, last_rlid, published),
        storage,
        info: Default::default(),
        auth: auth.clone(),
        metrics: metrics.clone(),
        server_id: config.server_id.clone(),
        started: Instant::now(),
        shutdown: token.clone(),
        publish_window: config.publish_window,
        max_query_bytes: config.max_query_bytes,
    });

    let service = grpc::service(&state, config.max_message_size);
    let (metrics_layer, auth_layer) = (grpc::metrics_layer(&state), grpc::auth_layer(&state));
    let limits = config.connections.clone();
    let grpc_stats = Arc::new(ListenerStats::default());
    let incoming =
        Acceptor::new(listener, Protocol::Grpc, limits.clone(), grpc_stats.clone()).into_stream();
    let stop = token.clone();
    let grpc = tokio::spawn(async move {
        let res = tonic::transport::Server::builder()
            // NOTE: 4 MiB per stream / 16 MiB per connection lets a client keep ~25k
            // events of 100 B in flight per stream without waiting for window updates.
            .initial_stream_window_size(Some(4 << 20))
            .initial_connection_window_size(Some(16 << 20))
            .max_concurrent_streams(Some(limits.max_concurrent_streams))
            .http2_keepalive_interval(limits.keepalive_interval)
            .http2_keepalive_timeout(Some(limits.keepalive_timeout))
            // Outermost: counts each connection's open requests for its idle close and
            // gives handlers `Request::remote_addr`. Then every RPC goes through the
            // metrics and authorization layers (see `grpc`).
            .layer(ActivityLayer)
            .layer(metrics_layer)
            .layer(auth_layer)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await;
        if let Err(e) = res {
            tracing::error!(error = %e, "gRPC server stopped with an error");
        }
    });
    let watchdog = monitoring::spawn_lag_watchdog(state.broker.fanout.clone(), token.clone());
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
    let metrics_server = metrics_listener.map(|l| {
        let limits = config.connections.clone();
        monitoring::spawn_metrics_server(l, metrics.clone(), limits, token.clone())
    });
    let mut http_addr = None;
    let http_stats = Arc::new(ListenerStats::default());
    let http = match (http_listener, &auth) {
        (Some(l), Some(auth)) => {
            http_addr = l.local_addr().ok();
            let router = quarterdeck::router(
                auth.clone(),
                state.started,
                ServerState::version(),
                token.clone(),
            );
            let limits = config.connections.clone();
            let timeout = limits.handshake_timeout;
            let acceptor = Acceptor::new(l, Protocol::Http, limits, http_stats.clone());
            Some(tokio::spawn(crate::listener::http::serve(
                acceptor,
                router,
                timeout,
                token.clone(),
            )))
        }
        _ => None,
    };
    // A rehash cut short by a stop or crash left its topic PENDING: run it again.
    let pending: Vec<_> = state
        .topics
        .read()
        .all()
        .filter(|t| t.meta.read().status == ensign_proto::api::TopicState::Pending as i32)
        .cloned()
        .collect();
    for topic in pending {
        crate::dedup::spawn_rehash(state.storage.clone(), topic);
    }
    tracing::info!(
        endpoint = %local_addr,
        auth = auth.is_some(),
        storage = if config.data_dir.is_some() { "disk" } else { "memory" },
        data_dir = ?config.data_dir,
        metrics = ?metrics_addr,
        "Ensign server listening"
    );
    Ok(ServerHandle {
        state,
        addr: local_addr,
        http_addr,
        metrics_addr,
        tasks: vec![Some(grpc), http, Some(watchdog), metrics_server]
            .into_iter()
            .flatten()
            .collect(),
        token,
        grace: config.shutdown_grace,
        grpc_stats,
        http_stats,
        recovery,
    })
}
