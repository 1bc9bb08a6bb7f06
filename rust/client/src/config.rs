//! Client configuration: endpoint, TLS, credentials and the publish stream's tuning.
//! Plain data, validated once by [`ClientConfig::validate`]; secrets are redacted in `Debug`.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};

/// The hosted Ensign endpoint.
pub const DEFAULT_ENDPOINT: &str = "ensign.rotational.app:443";
/// The hosted Quarterdeck (authentication) service.
pub const DEFAULT_AUTH_URL: &str = "https://auth.rotational.app";
/// How long to wait between reconnect attempts (pyensign's and go-ensign's default).
pub const DEFAULT_RECONNECT_TICK: Duration = Duration::from_millis(750);
/// How long an outage may last before in-flight events fail (pyensign's default).
pub const DEFAULT_RECONNECT_TIMEOUT: Duration = Duration::from_secs(300);
/// NOTE: the real server keeps at most 16,384 results per stream and drops the rest
/// (semantics.md §4.4); 8,192 in flight is far above the bandwidth-delay product of any
/// link we care about (75–500 events at 150–250 k ev/s) and keeps memory bounded.
pub const DEFAULT_MAX_INFLIGHT_EVENTS: usize = 8192;
/// Bytes of encoded events in flight before `publish` waits.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 64 * 1024 * 1024;
/// NOTE: the real server keeps grpc-go's default limit of 4 MiB per received message
/// (semantics.md §1); a larger message aborts the whole stream, so the client refuses
/// such events itself (nack `MAX_EVENT_SIZE_EXCEEDED`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// A string that never shows up in logs, `Debug` output or error messages.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

/// API key credentials checked against a Quarterdeck service.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Base URL of the authentication service, e.g. `https://auth.rotational.app`.
    pub auth_url: String,
    /// The API key's client id.
    pub client_id: String,
    /// The API key's secret.
    pub client_secret: Secret,
}

/// Everything a [`crate::Client`] needs.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `host:port` of the Ensign server.
    pub endpoint: String,
    /// Plaintext HTTP/2 instead of TLS.
    pub insecure: bool,
    /// `None` means no authentication (local servers and mocks).
    pub credentials: Option<Credentials>,
    /// Pause between reconnect attempts.
    pub reconnect_tick: Duration,
    /// Give up reconnecting (and fail in-flight events) after this long.
    pub reconnect_timeout: Duration,
    /// In-flight window of the publish stream, in events.
    pub max_inflight_events: usize,
    /// In-flight window of the publish stream, in encoded bytes.
    pub max_inflight_bytes: usize,
    /// Largest message sent to the server; larger events are nacked by the client.
    pub max_message_bytes: usize,
    /// Sent as the gRPC and HTTP user agent.
    pub user_agent: String,
    /// Time allowed to establish a connection.
    pub connect_timeout: Duration,
    /// The client id put in OpenStream and Subscription messages; a fresh ULID if empty.
    pub stream_client_id: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            insecure: false,
            credentials: None,
            reconnect_tick: DEFAULT_RECONNECT_TICK,
            reconnect_timeout: DEFAULT_RECONNECT_TIMEOUT,
            max_inflight_events: DEFAULT_MAX_INFLIGHT_EVENTS,
            max_inflight_bytes: DEFAULT_MAX_INFLIGHT_BYTES,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            user_agent: concat!("pyensign-fast/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(10),
            stream_client_id: String::new(),
        }
    }
}

impl ClientConfig {
    /// A configuration for a local server: plaintext and no authentication.
    pub fn local(endpoint: impl Into<String>) -> Self {
        ClientConfig {
            endpoint: endpoint.into(),
            insecure: true,
            ..Default::default()
        }
    }

    /// Checks the values that would otherwise fail later and obscurely.
    pub fn validate(&self) -> Result<()> {
        let (host, port) = self.endpoint.rsplit_once(':').ok_or_else(|| {
            Error::Config(format!(
                "endpoint must be host:port, got {:?}",
                self.endpoint
            ))
        })?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(Error::Config(format!(
                "endpoint must be host:port, got {:?}",
                self.endpoint
            )));
        }
        if let Some(c) = &self.credentials {
            if c.client_id.is_empty() || c.client_secret.is_empty() {
                return Err(Error::Config(
                    "client_id and client_secret are required".into(),
                ));
            }
            if !(c.auth_url.starts_with("http://") || c.auth_url.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "auth_url must start with http:// or https://, got {:?}",
                    c.auth_url
                )));
            }
        }
        if self.max_inflight_events == 0 || self.max_inflight_bytes == 0 {
            return Err(Error::Config(
                "the in-flight window must be positive".into(),
            ));
        }
        if self.reconnect_tick.is_zero() {
            return Err(Error::Config("reconnect_tick must be positive".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let c = Credentials {
            auth_url: "http://x".into(),
            client_id: "id".into(),
            client_secret: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn endpoint_must_have_a_port() {
        assert!(ClientConfig::local("localhost").validate().is_err());
        assert!(ClientConfig::local("localhost:x").validate().is_err());
        assert!(ClientConfig::local("127.0.0.1:5356").validate().is_ok());
        assert!(ClientConfig::local("[::1]:5356").validate().is_ok());
    }
}
