//! JSON Web Tokens, RS256 only: Quarterdeck's claim set, compact encoding, signing and
//! signature checks. Time and audience checks are the caller's (`interceptor`), since
//! access and refresh tokens are checked differently.
//!
//! Concurrency: pure functions; keys are shared read-only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use serde::{Deserialize, Serialize};

/// Quarterdeck's claims (`tokens.Claims`): the registered ones plus org, project,
/// permissions and account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JwtClaims {
    pub sub: String,
    #[serde(deserialize_with = "string_or_list")]
    pub aud: Vec<String>,
    pub iss: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub org: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
}

/// `aud` may be one string or a list (RFC 7519 §4.1.3).
fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Aud::deserialize(d)? {
        Aud::One(s) => vec![s],
        Aud::Many(v) => v,
    })
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    #[serde(default)]
    kid: String,
}

/// Encodes and signs a token with header `{"alg":"RS256","typ":"JWT","kid":kid}`.
pub fn sign(key: &SigningKey<Sha256>, kid: &str, claims: &JwtClaims) -> String {
    let header = Header {
        alg: "RS256".into(),
        typ: "JWT".into(),
        kid: kid.into(),
    };
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("plain struct"));
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("plain struct")));
    let sig = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(sig.to_bytes()));
    token
}

/// Checks the header (RS256, our `kid`) and the signature, and decodes the claims.
pub fn verify(
    key: &VerifyingKey<Sha256>,
    kid: &str,
    token: &str,
) -> Result<JwtClaims, &'static str> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed token");
    };
    let header: Header = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("malformed header")?;
    if header.alg != "RS256" {
        return Err("unexpected signing algorithm");
    }
    if header.kid != kid {
        return Err("unknown signing key");
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "malformed signature")?;
    let sig = Signature::try_from(sig.as_slice()).map_err(|_| "malformed signature")?;
    let signed = &token[..h.len() + 1 + c.len()];
    key.verify(signed.as_bytes(), &sig)
        .map_err(|_| "bad signature")?;
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("malformed claims")
}

/// Reads `exp` and `nbf` without checking anything, as the SDKs do.
pub fn peek(token: &str) -> Option<JwtClaims> {
    let c = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(c).ok()?).ok()
}
