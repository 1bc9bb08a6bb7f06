//! Key material of auth mode: the RSA signing key (with its `kid` and JWK set) and the
//! API keys (client id, secret, permissions). With a data directory they are kept in
//! `auth.json` (mode 0600) so that a restarted server accepts the same credentials and
//! the tokens it issued before.
//!
//! Concurrency: built once at start, then read-only. Secrets never reach `Debug`.

use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use rsa::pkcs1v15::{SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::error::ServerError;
use crate::storage::disk::write_atomic;

pub const AUTH_FILE: &str = "auth.json";

/// The RSA key that signs tokens.
pub struct SigningPair {
    pub kid: String,
    pub signing: SigningKey<Sha256>,
    pub verifying: VerifyingKey<Sha256>,
    /// `/.well-known/jwks.json`.
    pub jwks: serde_json::Value,
    pem: String,
}

impl fmt::Debug for SigningPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningPair {{ kid: {:?} }}", self.kid)
    }
}

impl SigningPair {
    pub fn generate() -> Result<Self, ServerError> {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| ServerError::Auth(format!("could not generate an RSA key: {e}")))?;
        Self::from_key(Ulid::new().to_string(), key)
    }

    fn from_pem(kid: String, pem: &str) -> Result<Self, ServerError> {
        let key = RsaPrivateKey::from_pkcs8_pem(pem)
            .map_err(|_| ServerError::Auth("the stored signing key cannot be read".into()))?;
        Self::from_key(kid, key)
    }

    fn from_key(kid: String, key: RsaPrivateKey) -> Result<Self, ServerError> {
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| ServerError::Auth(format!("could not encode the signing key: {e}")))?
            .to_string();
        let public = key.to_public_key();
        let jwks = serde_json::json!({"keys": [{
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
        }]});
        Ok(SigningPair {
            kid,
            signing: SigningKey::<Sha256>::new(key),
            verifying: VerifyingKey::<Sha256>::new(public),
            jwks,
            pem,
        })
    }
}

/// An API key.
#[derive(Clone, Serialize, Deserialize)]
pub struct ApiKey {
    /// The key's id: `sub` of its tokens.
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
    pub permissions: Vec<String>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("permissions", &self.permissions)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// A key with every Ensign permission and Quarterdeck-shaped credentials
    /// (32-letter client id, 64-character secret).
    pub fn generate(client_id: Option<String>, client_secret: Option<String>) -> Self {
        let mut rng = rand::rng();
        ApiKey {
            id: Ulid::new().to_string(),
            client_id: client_id.unwrap_or_else(|| {
                Alphanumeric
                    .sample_string(&mut rng, 64)
                    .chars()
                    .filter(char::is_ascii_alphabetic)
                    .take(32)
                    .collect()
            }),
            client_secret: client_secret
                .unwrap_or_else(|| Alphanumeric.sample_string(&mut rng, 64)),
            permissions: super::Perm::ALL
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
        }
    }
}

/// What `auth.json` holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    kid: String,
    private_key_pem: String,
    org_id: String,
    key: ApiKey,
}

/// Loads the stored key material, or makes it up (and stores it when `dir` is set).
/// Caller-given credentials replace the stored ones.
pub fn load_or_create(
    dir: Option<&Path>,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<(SigningPair, Ulid, ApiKey), ServerError> {
    let path = dir.map(|d| d.join(AUTH_FILE));
    let stored: Option<Stored> = match &path {
        Some(p) if p.exists() => {
            let text = std::fs::read_to_string(p).map_err(|source| ServerError::DataDir {
                path: p.clone(),
                source,
            })?;
            Some(
                serde_json::from_str(&text).map_err(|e| ServerError::Corrupt {
                    path: p.clone(),
                    reason: e.to_string(),
                })?,
            )
        }
        _ => None,
    };
    let (pair, org, mut key) = match stored {
        Some(s) => {
            let org = Ulid::from_string(&s.org_id).map_err(|_| ServerError::Corrupt {
                path: path.clone().unwrap_or_default(),
                reason: "org_id is not a ULID".into(),
            })?;
            (
                SigningPair::from_pem(s.kid, &s.private_key_pem)?,
                org,
                s.key,
            )
        }
        None => (
            SigningPair::generate()?,
            Ulid::new(),
            ApiKey::generate(None, None),
        ),
    };
    let changed = client_id.is_some() || client_secret.is_some();
    if let Some(id) = client_id {
        key.client_id = id;
    }
    if let Some(secret) = client_secret {
        key.client_secret = secret;
    }
    if key.client_id.is_empty() || key.client_secret.is_empty() {
        return Err(ServerError::Auth(
            "client id and secret must not be empty".into(),
        ));
    }
    if let Some(p) = &path {
        if changed || !p.exists() {
            let stored = Stored {
                kid: pair.kid.clone(),
                private_key_pem: pair.pem.clone(),
                org_id: org.to_string(),
                key: key.clone(),
            };
            let text = serde_json::to_vec_pretty(&stored).expect("plain struct");
            write_atomic(p, &text).map_err(|source| ServerError::DataDir {
                path: p.clone(),
                source,
            })?;
        }
    }
    Ok((pair, org, key))
}
