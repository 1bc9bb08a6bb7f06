//! The auth state of a server in auth mode and the check every RPC runs on its
//! `authorization` metadata, as the real server's authenticator does (semantics §3.1):
//! `Bearer <jwt>`, RS256 with our `kid`, exp/nbf/iat with no leeway (golang-jwt v4:
//! `iat <= now`, `nbf <= now`, `now < exp`, in whole seconds), our audience and issuer.
//! Missing → `UNAUTHENTICATED "missing credentials"`; nothing verifies →
//! `UNAUTHENTICATED "invalid credentials"`. Streams are checked once, when they open.
//!
//! Beyond the real server: an API key revoked on this server (`revoke`) stops its
//! access tokens at once, where Ensign accepts them until they expire.
//!
//! Every check has an `_at(now)` form so that tests can put the clock anywhere.
//!
//! Concurrency: immutable except the verified-token cache (mutex, bounded), which
//! saves an RSA verification (~40 µs) on every call of a client reusing its token, and
//! the revoked keys and last logins (mutexes, one entry per API key).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rsa::sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::Status;
use ulid::Ulid;

use super::keys::{self, ApiKey, SigningPair};
use super::ratelimit::Limiter;
use super::tokens::{self, JwtClaims};
use super::Claims;
use crate::config::AuthConfig;
use crate::error::ServerError;

/// NOTE: 4096 tokens of ~1 KB: ~5 MiB at most; a client reuses one token for an hour.
const CACHE_LIMIT: usize = 4096;

/// The current Unix time in whole seconds (the resolution of token times).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Why a refresh token is refused (logged at debug; clients all see "log back in").
pub type RefreshRefusal = &'static str;

pub struct Auth {
    pub pair: SigningPair,
    pub org: Ulid,
    pub project: Ulid,
    /// The main key first, then `AuthConfig::extra_keys`.
    pub keys: Vec<ApiKey>,
    pub config: AuthConfig,
    /// The rate limit of the Quarterdeck endpoints (`None`: unlimited).
    pub limiter: Option<Limiter>,
    /// Verified access tokens: their claims and `exp`.
    cache: Mutex<HashMap<String, (Claims, i64)>>,
    /// Verifications answered from `cache` (no RSA check): what the cache is for.
    cache_hits: AtomicU64,
    /// Ids of revoked API keys.
    revoked: Mutex<HashSet<String>>,
    /// API key id → its last login or refresh, as Quarterdeck reports it.
    last_used: Mutex<HashMap<String, String>>,
}

impl Auth {
    pub fn new(config: AuthConfig, dir: Option<&Path>, project: Ulid) -> Result<Self, ServerError> {
        let (pair, org, main) =
            keys::load_or_create(dir, config.client_id.clone(), config.client_secret.clone())?;
        let mut keys = vec![main];
        for extra in &config.extra_keys {
            for p in &extra.permissions {
                if super::Perm::parse(p).is_none() {
                    return Err(ServerError::Auth(format!("unknown permission {p:?}")));
                }
            }
            keys.push(ApiKey {
                id: Ulid::new().to_string(),
                client_id: extra.client_id.clone(),
                client_secret: extra.client_secret.clone(),
                permissions: extra.permissions.clone(),
            });
        }
        Ok(Auth {
            pair,
            org,
            project,
            keys,
            limiter: config.rate_limit.map(Limiter::new),
            config,
            cache: Mutex::new(HashMap::new()),
            cache_hits: AtomicU64::new(0),
            revoked: Mutex::new(HashSet::new()),
            last_used: Mutex::new(HashMap::new()),
        })
    }

    pub fn main_key(&self) -> &ApiKey {
        &self.keys[0]
    }

    fn refresh_audience(&self) -> String {
        format!("{}/v1/refresh", self.config.issuer)
    }

    /// Checks the bearer token(s) of a call.
    pub fn authenticate(&self, md: &MetadataMap) -> Result<Claims, Status> {
        self.authenticate_at(md, now_secs())
    }

    /// `authenticate` with the clock at `now` (Unix seconds).
    pub fn authenticate_at(&self, md: &MetadataMap, now: i64) -> Result<Claims, Status> {
        let mut any = false;
        for value in md.get_all("authorization") {
            any = true;
            let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
                continue;
            };
            if let Some(claims) = self.verify_access_at(token, now) {
                return Ok(claims);
            }
        }
        if any {
            Err(Status::unauthenticated("invalid credentials"))
        } else {
            Err(Status::unauthenticated("missing credentials"))
        }
    }

    /// The claims of a valid access token at `now`, from the cache when it was
    /// verified before.
    pub fn verify_access_at(&self, token: &str, now: i64) -> Option<Claims> {
        let cached = self.cache.lock().get(token).cloned();
        let claims = match cached {
            Some((claims, exp)) if now < exp => {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                claims
            }
            _ => self.verify_uncached(token, now)?,
        };
        (!self.revoked.lock().contains(&claims.sub)).then_some(claims)
    }

    fn verify_uncached(&self, token: &str, now: i64) -> Option<Claims> {
        let c = tokens::verify(&self.pair.verifying, &self.pair.kid, token).ok()?;
        if !times_valid(&c, now) || c.iss != self.config.issuer {
            return None;
        }
        if !c.aud.contains(&self.config.audience) {
            return None;
        }
        let claims = Claims::new(c.sub, Ulid::from_string(&c.project).ok(), &c.permissions);
        let mut cache = self.cache.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(token.to_string(), (claims.clone(), c.exp));
        Some(claims)
    }

    /// Access tokens in the verified-token cache now.
    #[doc(hidden)]
    pub fn cached_tokens(&self) -> usize {
        self.cache.lock().len()
    }

    /// Verifications answered from the cache so far.
    #[doc(hidden)]
    pub fn cache_hits(&self) -> u64 {
        self.cache_hits.load(Ordering::Relaxed)
    }

    /// The key with these credentials (POST /v1/authenticate), unless revoked. The
    /// secret is compared in constant time, whatever its length.
    pub fn login(&self, client_id: &str, secret: &str) -> Option<&ApiKey> {
        let key = self.keys.iter().find(|k| k.client_id == client_id)?;
        if !secret_matches(&key.client_secret, secret) {
            return None;
        }
        (!self.revoked.lock().contains(&key.id)).then_some(key)
    }

    /// The key a client id names (revoked or not): whose rate limit a login spends.
    pub fn key_by_client_id(&self, client_id: &str) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.client_id == client_id)
    }

    /// The key with this id (a token's `sub`).
    pub fn key_by_id(&self, id: &str) -> Option<&ApiKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The key a refresh token was issued to (POST /v1/refresh).
    pub fn check_refresh(&self, token: &str) -> Result<(&ApiKey, JwtClaims), RefreshRefusal> {
        self.check_refresh_at(token, now_secs())
    }

    /// `check_refresh` with the clock at `now`.
    pub fn check_refresh_at(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(&ApiKey, JwtClaims), RefreshRefusal> {
        let c = tokens::verify(&self.pair.verifying, &self.pair.kid, token)?;
        if !times_valid(&c, now) {
            return Err("refresh token is expired or not yet valid");
        }
        if c.iss != self.config.issuer || !c.aud.contains(&self.config.audience) {
            return Err("refresh token of another issuer or audience");
        }
        if !c.aud.contains(&self.refresh_audience()) {
            return Err("not a refresh token");
        }
        let key = self
            .key_by_id(&c.sub)
            .ok_or("the api key of this token no longer exists")?;
        if self.revoked.lock().contains(&key.id) {
            return Err("the api key of this token was revoked");
        }
        Ok((key, c))
    }

    /// Revokes an API key: its logins, refreshes and access tokens are refused from
    /// now on (until the server restarts). False if no key has this client id.
    pub fn revoke(&self, client_id: &str) -> bool {
        let Some(key) = self.key_by_client_id(client_id) else {
            return false;
        };
        self.revoked.lock().insert(key.id.clone());
        tracing::info!(client_id, "api key revoked");
        true
    }

    /// Records a login or refresh of `key` at `now`; returns the one before, as
    /// Quarterdeck's `last_login` (empty the first time).
    pub fn touch(&self, key: &ApiKey, now: String) -> String {
        self.last_used
            .lock()
            .insert(key.id.clone(), now)
            .unwrap_or_default()
    }

    /// A new access and refresh token pair for a key (Quarterdeck lifetimes: access
    /// 1 h; refresh valid from 15 minutes before the access token expires, for 2 h).
    pub fn issue(&self, key: &ApiKey) -> (String, String) {
        let now = now_secs();
        let access_exp = now + self.config.access_ttl.as_secs() as i64;
        let jti = Ulid::new().to_string().to_lowercase();
        let access = JwtClaims {
            sub: key.id.clone(),
            aud: vec![self.config.audience.clone()],
            iss: self.config.issuer.clone(),
            iat: now,
            nbf: now,
            exp: access_exp,
            jti: jti.clone(),
            org: self.org.to_string(),
            project: self.project.to_string(),
            permissions: key.permissions.clone(),
            account: "sandbox".into(),
        };
        let refresh = JwtClaims {
            aud: vec![self.config.audience.clone(), self.refresh_audience()],
            nbf: (access_exp - 15 * 60).max(now),
            exp: now + self.config.refresh_ttl.as_secs() as i64,
            permissions: Vec::new(),
            account: String::new(),
            ..access.clone()
        };
        (
            tokens::sign(&self.pair.signing, &self.pair.kid, &access),
            tokens::sign(&self.pair.signing, &self.pair.kid, &refresh),
        )
    }

    /// An access token of the main key with any permissions and lifetime (negative =
    /// already expired).
    pub fn mint(&self, permissions: &[&str], ttl_secs: i64) -> String {
        let now = now_secs();
        self.sign(JwtClaims {
            sub: self.main_key().id.clone(),
            aud: vec![self.config.audience.clone()],
            iss: self.config.issuer.clone(),
            iat: now.min(now + ttl_secs),
            nbf: now.min(now + ttl_secs),
            exp: now + ttl_secs,
            jti: Ulid::new().to_string().to_lowercase(),
            org: self.org.to_string(),
            project: self.project.to_string(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            account: "sandbox".into(),
        })
    }

    /// Signs any claims with this server's key (tests forge tokens with it).
    pub fn sign(&self, claims: JwtClaims) -> String {
        tokens::sign(&self.pair.signing, &self.pair.kid, &claims)
    }
}

/// golang-jwt v4 with no leeway, in whole seconds: `iat <= now`, `nbf <= now`,
/// `now < exp` (Go compares `time.Now()` before `exp`, so the second of `exp` is out).
fn times_valid(c: &JwtClaims, now: i64) -> bool {
    c.iat <= now && c.nbf <= now && now < c.exp
}

/// Compares SHA-256 digests in constant time: neither the contents nor the length of
/// the stored secret leak through timing.
fn secret_matches(stored: &str, given: &str) -> bool {
    let (a, b) = (Sha256::digest(stored), Sha256::digest(given));
    a.ct_eq(&b).into()
}
