//! Errors of starting, running and stopping the server. RPC errors are `tonic::Status`
//! values built where they happen; these are the errors a caller of `start` sees.
//!
//! Concurrency: plain values. No variant ever carries a secret.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not start (or had to stop).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The host is not a valid address.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost { host: String, reason: String },
    /// The port could not be bound (in use, no permission...).
    #[error("could not listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// The data directory cannot be created, read or written.
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Another server holds the data directory.
    #[error("data directory {path} is in use by another server")]
    DataDirLocked { path: PathBuf },
    /// A data file is damaged or not ours.
    #[error("data file {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// Data files are missing or damaged in a way that loses data; starting anyway needs
    /// an explicit repair.
    #[error(
        "data file {path}: {reason}. To start anyway, repair the data directory \
         (`pyensign-fast serve --repair`, `LocalEnsign(repair=True)`, `ServerConfig::repair`)"
    )]
    NeedsRepair { path: PathBuf, reason: String },
    /// Auth mode could not be set up (key generation, bad credentials...).
    #[error("auth setup failed: {0}")]
    Auth(String),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Storage failed while running.
    #[error("storage error: {0}")]
    Storage(String),
}

impl ServerError {
    /// True for errors caused by a bad argument (as opposed to the environment).
    pub fn is_invalid_argument(&self) -> bool {
        matches!(
            self,
            ServerError::InvalidHost { .. } | ServerError::Config(_) | ServerError::Auth(_)
        )
    }

    /// True for data files that exist but cannot be read back.
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self,
            ServerError::Corrupt { .. } | ServerError::NeedsRepair { .. }
        )
    }

    /// True when starting with `repair` would get past this error.
    pub fn needs_repair(&self) -> bool {
        matches!(self, ServerError::NeedsRepair { .. })
    }
}
