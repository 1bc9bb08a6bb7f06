//! The gRPC server in front of `service::EnsignService`: the transport settings and the
//! tower layers every call goes through, outermost first: metrics (`metrics`, so that
//! refused calls are counted too), authorization (`auth`), then the service.
//! `handle::start` serves the router on its listener.
//!
//! Concurrency: tonic runs each call as its own task; the layers keep no per-call state
//! beyond what they put in the request.

pub mod auth;
pub mod body;
pub mod methods;
pub mod metrics;

use std::sync::Arc;

use ensign_proto::api::ensign_server::EnsignServer;
use tonic::transport::server::Router;
use tower_layer::{Identity, Stack};

use crate::service::EnsignService;
use crate::state::ServerState;
use auth::AuthLayer;
use metrics::{GrpcMetrics, MetricsLayer};

/// The layers of `router`, outermost last (tower's `Stack<Inner, Outer>` order).
pub type Layers = Stack<AuthLayer, Stack<MetricsLayer, Identity>>;

/// The Ensign service behind its layers, ready to serve.
pub fn router(state: &Arc<ServerState>, max_message_size: usize) -> Router<Layers> {
    let service = EnsignServer::new(EnsignService::new(state.clone()))
        .max_decoding_message_size(max_message_size);
    tonic::transport::Server::builder()
        // NOTE: 4 MiB per stream / 16 MiB per connection lets a client keep ~25k
        // events of 100 B in flight per stream without waiting for window updates.
        .initial_stream_window_size(Some(4 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .layer(MetricsLayer::new(GrpcMetrics::new(
            state.metrics.registry(),
        )))
        .layer(AuthLayer::new(state.auth.clone(), state.project_id))
        .add_service(service)
}
