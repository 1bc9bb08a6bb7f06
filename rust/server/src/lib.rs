//! A local, durable, Ensign-compatible server: the `ensign.v1beta1.Ensign` gRPC service
//! (publish/subscribe with acks, topics, EnSQL, info, status), in memory or on disk,
//! with an optional token auth mode that also serves the Quarterdeck endpoints.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ensign_server::ServerError> {
//! let server = ensign_server::start(ensign_server::ServerConfig::default()).await?;
//! println!("listening on {}", server.endpoint());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod broker;
pub mod config;
pub mod dedup;
pub mod ensql;
pub mod error;
pub mod event_index;
pub mod fanout;
pub mod grpc;
pub mod handle;
pub mod idempotence;
pub mod info;
pub mod listener;
pub mod metrics;
pub mod monitoring;
pub mod service;
pub mod startup;
pub mod state;
pub mod storage;
pub mod topics;

pub use config::{ApiKeySpec, AuthConfig, ConnectionLimits, RateLimit, ServerConfig};
pub use error::ServerError;
pub use handle::ServerHandle;
pub use startup::start;
