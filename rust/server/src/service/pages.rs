//! Page tokens of ListTopics and TopicNames: the last key of the page (a topic id or a
//! name hash), an expiry 24 h out and the page size, as unpadded base64url (the real
//! server's cursor carries the same three things in a protobuf).
//!
//! Concurrency: pure functions.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tonic::Status;

use crate::auth::interceptor::now_secs;

/// `page_size` 0 means 100 (`pagination.DefaultPageSize`).
pub const DEFAULT_PAGE_SIZE: usize = 100;
const LIFETIME_SECS: i64 = 24 * 3600;

pub fn encode(last: [u8; 16], size: usize) -> String {
    let mut raw = Vec::with_capacity(28);
    raw.extend_from_slice(&last);
    raw.extend_from_slice(&(now_secs() + LIFETIME_SECS).to_be_bytes());
    raw.extend_from_slice(&(size as u32).to_be_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

/// `None` for an empty token (first page). A token that does not parse or has expired
/// is `INVALID_ARGUMENT` (the real server answers `INTERNAL`, with a TODO to change it).
pub fn decode(token: &str) -> Result<Option<[u8; 16]>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Status::invalid_argument("invalid page token");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    if raw.len() != 28 {
        return Err(invalid());
    }
    let expires = i64::from_be_bytes(raw[16..24].try_into().expect("8 bytes"));
    if expires < now_secs() {
        return Err(Status::invalid_argument("page token has expired"));
    }
    Ok(Some(raw[..16].try_into().expect("16 bytes")))
}
