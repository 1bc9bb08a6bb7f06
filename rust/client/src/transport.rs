//! The gRPC channel to an Ensign server (TLS by default, plaintext on request) and the
//! per-call metadata (bearer token). The channel connects lazily and reconnects by
//! itself; streams above it decide when to reopen.

use std::sync::{Arc, Once};
use std::time::Duration;

use ensign_proto::api::ensign_client::EnsignClient;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::Request;

use crate::auth::Authenticator;
use crate::config::ClientConfig;
use crate::error::{Error, Result};

/// NOTE: events may be up to 5,243,000 bytes (the server's limit), above tonic's 4 MiB
/// default, and an EnSQL result carries whole events.
pub const MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Makes ring the process-wide rustls provider (TLS and Quarterdeck HTTPS), once.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Another library may have installed one first; any provider will do.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A channel plus the authentication that goes on every call.
#[derive(Clone, Debug)]
pub struct Transport {
    channel: Channel,
    auth: Option<Arc<Authenticator>>,
}

impl Transport {
    /// Builds the (lazy) channel. Must run inside a tokio runtime.
    pub fn new(cfg: &ClientConfig) -> Result<Self> {
        cfg.validate()?;
        install_crypto_provider();
        let scheme = if cfg.insecure { "http" } else { "https" };
        let uri = format!("{scheme}://{}", cfg.endpoint);
        let bad = |e: tonic::transport::Error| {
            Error::Config(format!("invalid endpoint {:?}: {e}", cfg.endpoint))
        };
        let mut ep = Endpoint::from_shared(uri)
            .map_err(bad)?
            .user_agent(cfg.user_agent.clone())
            .map_err(bad)?
            .connect_timeout(cfg.connect_timeout)
            .tcp_nodelay(true)
            // Dead peers are noticed within ~40 s even on an idle stream.
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true)
            .initial_stream_window_size(4 * 1024 * 1024)
            .initial_connection_window_size(8 * 1024 * 1024);
        if !cfg.insecure {
            let host = cfg
                .endpoint
                .rsplit_once(':')
                .map(|(h, _)| h)
                .unwrap_or(&cfg.endpoint);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let tls = ClientTlsConfig::new()
                .with_native_roots()
                .with_webpki_roots()
                .domain_name(host.to_string());
            ep = ep.tls_config(tls).map_err(bad)?;
        }
        let auth = match &cfg.credentials {
            Some(c) => Some(Authenticator::new(c.clone(), &cfg.user_agent)?),
            None => None,
        };
        Ok(Transport {
            channel: ep.connect_lazy(),
            auth,
        })
    }

    /// The raw channel, for custom codecs.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// The generated client over this channel.
    pub fn ensign(&self) -> EnsignClient<Channel> {
        EnsignClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// Wraps a message into a request that carries the bearer token, if any.
    pub async fn request<T>(&self, msg: T) -> Result<Request<T>> {
        let mut req = Request::new(msg);
        if let Some(auth) = &self.auth {
            req.metadata_mut()
                .insert("authorization", auth.bearer().await?);
        }
        Ok(req)
    }
}
