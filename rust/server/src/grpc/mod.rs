//! The gRPC front of the server: the `ensign.v1beta1.Ensign` service and the tower
//! layers every call goes through before it, outermost first: metrics (`metrics`, so
//! that refused calls are counted too), then authorization (`auth`). `startup::start`
//! puts them on its `tonic` server builder in that order.
//!
//! Concurrency: tonic runs each call as its own task; the layers keep no per-call state
//! beyond what they put in the request.

pub mod auth;
pub mod body;
pub mod methods;
pub mod metrics;
pub mod recv;

use std::sync::Arc;

use ensign_proto::api::ensign_server::EnsignServer;

use crate::service::EnsignService;
use crate::state::ServerState;
use auth::AuthLayer;
use metrics::{GrpcMetrics, MetricsLayer};

/// The Ensign service of a server.
pub fn service(state: &Arc<ServerState>, max_message_size: usize) -> EnsignServer<EnsignService> {
    EnsignServer::new(EnsignService::new(state.clone())).max_decoding_message_size(max_message_size)
}

/// The metrics layer, its series registered in the server's registry.
pub fn metrics_layer(state: &ServerState) -> MetricsLayer {
    MetricsLayer::new(GrpcMetrics::new(state.metrics.registry()))
}

/// The authorization layer of the server's auth mode (or of no-auth mode).
pub fn auth_layer(state: &ServerState) -> AuthLayer {
    AuthLayer::new(state.auth.clone(), state.project_id)
}
