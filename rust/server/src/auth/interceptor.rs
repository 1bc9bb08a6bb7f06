//! The auth state of a server in auth mode and the check every RPC runs on its
//! `authorization` metadata, as the real server's authenticator does (semantics §3.1):
//! `Bearer <jwt>`, RS256 with our `kid`, exp/nbf/iat with no leeway, our audience and
//! issuer. Missing → `UNAUTHENTICATED "missing credentials"`; nothing verifies →
//! `UNAUTHENTICATED "invalid credentials"`. Streams are checked once, when they open.
//!
//! Concurrency: immutable except the verified-token cache (mutex, bounded), which
//! saves an RSA verification (~40 µs) on every call of a client reusing its token.

use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tonic::metadata::MetadataMap;
use tonic::Status;
use ulid::Ulid;

use super::keys::{self, ApiKey, SigningPair};
use super::tokens::{self, JwtClaims};
use super::Claims;
use crate::config::AuthConfig;
use crate::error::ServerError;

const CACHE_LIMIT: usize = 4096;

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub struct Auth {
    pub pair: SigningPair,
    pub org: Ulid,
    pub project: Ulid,
    /// The main key first, then `AuthConfig::extra_keys`.
    pub keys: Vec<ApiKey>,
    pub config: AuthConfig,
    cache: Mutex<HashMap<String, (Claims, i64)>>,
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
            config,
            cache: Mutex::new(HashMap::new()),
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
        let mut any = false;
        for value in md.get_all("authorization") {
            any = true;
            let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
                continue;
            };
            if let Some(claims) = self.verify_access(token) {
                return Ok(claims);
            }
        }
        if any {
            Err(Status::unauthenticated("invalid credentials"))
        } else {
            Err(Status::unauthenticated("missing credentials"))
        }
    }

    fn verify_access(&self, token: &str) -> Option<Claims> {
        let now = now_secs();
        if let Some((claims, exp)) = self.cache.lock().get(token) {
            if now <= *exp {
                return Some(claims.clone());
            }
        }
        let c = tokens::verify(&self.pair.verifying, &self.pair.kid, token).ok()?;
        if !self.times_valid(&c, now) || c.iss != self.config.issuer {
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

    /// golang-jwt v4 with no leeway: `iat <= now`, `nbf <= now`, `now <= exp`.
    fn times_valid(&self, c: &JwtClaims, now: i64) -> bool {
        c.iat <= now && c.nbf <= now && now <= c.exp
    }

    /// The key with these credentials (POST /v1/authenticate).
    pub fn login(&self, client_id: &str, secret: &str) -> Option<&ApiKey> {
        self.keys
            .iter()
            .find(|k| k.client_id == client_id && constant_eq(&k.client_secret, secret))
    }

    /// The key a refresh token was issued to (POST /v1/refresh).
    pub fn check_refresh(&self, token: &str) -> Result<&ApiKey, &'static str> {
        let c = tokens::verify(&self.pair.verifying, &self.pair.kid, token)?;
        if !self.times_valid(&c, now_secs()) {
            return Err("refresh token is expired or not yet valid");
        }
        if c.iss != self.config.issuer || !c.aud.contains(&self.refresh_audience()) {
            return Err("not a refresh token");
        }
        self.keys
            .iter()
            .find(|k| k.id == c.sub)
            .ok_or("the api key of this token no longer exists")
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

    /// An access token with any permissions and lifetime (negative = already expired).
    pub fn mint(&self, permissions: &[&str], ttl_secs: i64) -> String {
        let now = now_secs();
        let claims = JwtClaims {
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
        };
        tokens::sign(&self.pair.signing, &self.pair.kid, &claims)
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
