//! The gRPC channel to an Ensign server (TLS by default, plaintext on request) and the
//! per-call metadata (bearer token). The channel connects lazily and reconnects by
//! itself; streams above it decide when to reopen.

use std::sync::{Arc, Once};

use parking_lot::RwLock;
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

/// A channel plus the authentication that goes on every call. Clones share the
/// channel; [`Transport::close`] drops it for all of them.
#[derive(Clone, Debug)]
pub struct Transport {
    channel: Arc<RwLock<Option<Channel>>>,
    endpoint: String,
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
            channel: Arc::new(RwLock::new(Some(ep.connect_lazy()))),
            endpoint: cfg.endpoint.clone(),
            auth,
        })
    }

    /// The channel, unless the transport was closed.
    pub fn channel(&self) -> Result<Channel> {
        self.channel.read().clone().ok_or(Error::Closed)
    }

    /// The generated client over this channel.
    pub fn ensign(&self) -> Result<EnsignClient<Channel>> {
        Ok(EnsignClient::new(self.channel()?)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE))
    }

    /// A ready gRPC client over the channel, for calls with their own codec (streams).
    pub async fn grpc(&self) -> Result<tonic::client::Grpc<Channel>> {
        let mut grpc =
            tonic::client::Grpc::new(self.channel()?).max_decoding_message_size(MAX_MESSAGE_SIZE);
        grpc.ready().await.map_err(|e| Error::Connect {
            endpoint: self.endpoint.clone(),
            reason: e.to_string(),
        })?;
        Ok(grpc)
    }

    /// Drops the channel: the connection closes as soon as the calls in flight end, and
    /// later calls fail with [`Error::Closed`].
    pub fn close(&self) {
        self.channel.write().take();
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
