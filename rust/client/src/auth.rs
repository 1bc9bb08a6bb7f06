//! Quarterdeck authentication: exchanges API key credentials for JWT access tokens,
//! refreshes them in the background before they expire, and hands every RPC a cached
//! `authorization: Bearer …` value without waiting.
//!
//! Concurrency: the cached header sits behind a `parking_lot::RwLock` (read on every
//! RPC, written once per refresh). Logins and refreshes are serialised by an async
//! mutex, so that a burst of RPCs at start-up triggers one login, not one each. A
//! background task (holding only a `Weak`) refreshes ahead of expiry; an RPC only waits
//! on the network when no valid token exists at all (first call, or after an outage).

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use parking_lot::RwLock;
use serde::Deserialize;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};

use crate::config::{Credentials, Secret};
use crate::error::{Error, Result};

/// Refresh this long before the access token expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// A token this close to expiry is not handed to a new RPC (a tenth of the lifetime for
/// short-lived tokens).
const MIN_REMAINING: Duration = Duration::from_secs(15);

#[derive(Clone)]
struct Tokens {
    header: AsciiMetadataValue,
    access_exp: u64,
    /// Stop handing the token out this many seconds before `access_exp`.
    min_remaining: u64,
    refresh: Secret,
    refresh_nbf: u64,
    refresh_exp: u64,
}

/// Gets and keeps fresh the tokens of one set of credentials.
pub struct Authenticator {
    http: reqwest::Client,
    creds: Credentials,
    current: RwLock<Option<Tokens>>,
    login: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("auth_url", &self.creds.auth_url)
            .field("client_id", &self.creds.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorReply {
    error: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    exp: Option<u64>,
    nbf: Option<u64>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads `exp` and `nbf` from a JWT without verifying it (the server verifies).
fn claims(token: &str) -> Result<Claims> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or_else(|| Error::Auth("authentication server returned a malformed token".into()))?;
    let raw = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| Error::Auth("authentication server returned a malformed token".into()))?;
    serde_json::from_slice(&raw)
        .map_err(|_| Error::Auth("authentication server returned a malformed token".into()))
}

impl Authenticator {
    /// Creates the authenticator; nothing is requested until the first RPC.
    pub fn new(creds: Credentials, user_agent: &str) -> Result<Arc<Self>> {
        crate::transport::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        let mut creds = creds;
        while creds.auth_url.ends_with('/') {
            creds.auth_url.pop();
        }
        Ok(Arc::new(Authenticator {
            http,
            creds,
            current: RwLock::new(None),
            login: tokio::sync::Mutex::new(()),
        }))
    }

    /// The `authorization` header value for an RPC, logging in or refreshing only when
    /// no usable token is cached.
    pub async fn bearer(self: &Arc<Self>) -> Result<AsciiMetadataValue> {
        if let Some(h) = self.cached() {
            return Ok(h);
        }
        let _guard = self.login.lock().await;
        if let Some(h) = self.cached() {
            return Ok(h);
        }
        let first = self.current.read().is_none();
        self.renew().await?;
        if first {
            self.spawn_refresher();
        }
        self.cached()
            .ok_or_else(|| Error::Auth("authentication server returned an expired token".into()))
    }

    fn cached(&self) -> Option<AsciiMetadataValue> {
        let cur = self.current.read();
        let t = cur.as_ref()?;
        (t.access_exp > now() + t.min_remaining).then(|| t.header.clone())
    }

    /// Refreshes when the refresh token is usable, else logs in again.
    async fn renew(&self) -> Result<()> {
        let refresh = {
            let cur = self.current.read();
            cur.as_ref().and_then(|t| {
                let n = now();
                (t.refresh_nbf <= n && n < t.refresh_exp).then(|| t.refresh.clone())
            })
        };
        if let Some(rt) = refresh {
            let body = serde_json::json!({ "refresh_token": rt.expose() });
            match self.post("/v1/refresh", body).await {
                Ok(t) => return self.store(t),
                Err(e) => tracing::debug!("token refresh failed, logging in again: {e}"),
            }
        }
        let body = serde_json::json!({
            "client_id": self.creds.client_id,
            "client_secret": self.creds.client_secret.expose(),
        });
        let t = self.post("/v1/authenticate", body).await?;
        self.store(t)
    }

    fn store(&self, reply: TokenReply) -> Result<()> {
        let access = reply
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Auth("Missing access_token in response".into()))?;
        let ac = claims(&access)?;
        let header: AsciiMetadataValue = MetadataValue::try_from(format!("Bearer {access}"))
            .map_err(|_| Error::Auth("authentication server returned a malformed token".into()))?;
        let (refresh, rnbf, rexp) = match reply.refresh_token.filter(|t| !t.is_empty()) {
            Some(r) => {
                let rc = claims(&r)?;
                (Secret::new(r), rc.nbf.unwrap_or(0), rc.exp.unwrap_or(0))
            }
            None => (Secret::default(), 0, 0),
        };
        let access_exp = ac.exp.unwrap_or(u64::MAX);
        let lifetime = access_exp.saturating_sub(now());
        *self.current.write() = Some(Tokens {
            header,
            access_exp,
            min_remaining: MIN_REMAINING.as_secs().min(lifetime / 10).max(1),
            refresh,
            refresh_nbf: rnbf,
            refresh_exp: rexp,
        });
        Ok(())
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<TokenReply> {
        let url = format!("{}{}", self.creds.auth_url, path);
        let rep = self.http.post(&url).json(&body).send().await.map_err(|e| {
            Error::Auth(format!(
                "Failed to connect to authentication server: {}",
                describe_http_error(&e)
            ))
        })?;
        let status = rep.status();
        if !status.is_success() {
            let detail = rep
                .json::<ErrorReply>()
                .await
                .ok()
                .and_then(|e| e.error)
                .map(|e| format!(" ({e})"))
                .unwrap_or_default();
            let msg = format!(
                "Failed to authenticate with API credentials: {} error returned{detail}",
                status.as_u16()
            );
            // Refused credentials will not get better by retrying; an overloaded or
            // failing service might.
            return Err(if status.is_client_error() && status.as_u16() != 429 {
                Error::AuthRefused(msg)
            } else {
                Error::Auth(msg)
            });
        }
        rep.json::<TokenReply>()
            .await
            .map_err(|_| Error::Auth("authentication server returned an unreadable reply".into()))
    }

    /// Keeps the token fresh in the background so that RPCs never wait for a refresh.
    fn spawn_refresher(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let wake = {
                    let Some(me) = weak.upgrade() else { return };
                    let cur = me.current.read();
                    let Some(t) = cur.as_ref() else { return };
                    // Short-lived tokens (tests, custom servers) refresh at half-life.
                    let left = t.access_exp.saturating_sub(now());
                    let margin = REFRESH_MARGIN.as_secs().min(left / 2);
                    t.access_exp.saturating_sub(margin)
                };
                let wait = wake.saturating_sub(now());
                tokio::time::sleep(Duration::from_secs(wait.max(1))).await;
                let Some(me) = weak.upgrade() else { return };
                let _guard = me.login.lock().await;
                if let Err(e) = me.renew().await {
                    // The next RPC retries inline; back off so an outage is not hammered.
                    tracing::warn!("background token refresh failed: {e}");
                    drop(_guard);
                    drop(me);
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        });
    }
}

fn describe_http_error(e: &reqwest::Error) -> String {
    // reqwest errors name the URL, which never holds a secret; the chain holds the cause.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(payload))
    }

    #[test]
    fn reads_claims_without_verifying() {
        let c = claims(&jwt(r#"{"exp": 100, "nbf": 50, "sub": "x"}"#)).unwrap();
        assert_eq!(c.exp, Some(100));
        assert_eq!(c.nbf, Some(50));
        assert!(claims("garbage").is_err());
        assert!(claims(&jwt("not json")).is_err());
    }
}
