//! The client's error type. gRPC failures keep their status code and message so that the
//! bindings can raise pyensign's exceptions with the same names, codes and details.

pub use tonic::Code;

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a gRPC status.
    #[error("received gRPC error from Ensign: {}: {} ({})", code_name(.0.code()), .0.message(), .0.code() as i32)]
    Rpc(tonic::Status),
    /// Could not reach or talk to the server.
    #[error("could not connect to Ensign at {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    /// Quarterdeck could not be reached or failed (worth retrying).
    #[error("{0}")]
    Auth(String),
    /// Quarterdeck refused the credentials (retrying will not help).
    #[error("{0}")]
    AuthRefused(String),
    /// Bad configuration.
    #[error("{0}")]
    Config(String),
    /// The topic name or id is not known to the server.
    #[error("unknown topic: {0}, please specify the name or ID of a topic in your project")]
    UnknownTopic(String),
    /// Bad input given to the client.
    #[error("{0}")]
    InvalidArgument(String),
    /// The server sent something the protocol does not allow.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An operation did not finish in time.
    #[error("{0}")]
    Timeout(String),
    /// The client (or the stream) was closed.
    #[error("the client is closed")]
    Closed,
    /// An EnSQL query returned no results.
    #[error("query returned no rows")]
    NoRows,
}

impl Error {
    /// The gRPC code, when the error came from the server.
    pub fn code(&self) -> Option<Code> {
        match self {
            Error::Rpc(s) => Some(s.code()),
            _ => None,
        }
    }

    /// Whether retrying the stream later may succeed (network trouble, server restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Rpc(s) => matches!(
                s.code(),
                Code::Unavailable
                    | Code::Unknown
                    | Code::Internal
                    | Code::Aborted
                    | Code::Cancelled
                    | Code::DeadlineExceeded
                    | Code::ResourceExhausted
                    | Code::Unauthenticated
            ),
            // A server shutting down may close a stream before its handshake ends.
            Error::Connect { .. } | Error::Timeout(_) | Error::Protocol(_) => true,
            // A Quarterdeck outage is transient; refused credentials are not.
            Error::Auth(_) => true,
            _ => false,
        }
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        Error::Rpc(s)
    }
}

/// The upper-case name of a gRPC code, as grpcio spells it (`INVALID_ARGUMENT`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
