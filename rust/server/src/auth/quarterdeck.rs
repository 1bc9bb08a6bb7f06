//! The Quarterdeck HTTP endpoints the SDKs call (semantics §3.2), answering as
//! Quarterdeck (gin on Go's net/http) does where a client can see it; the details and
//! the few deliberate differences are in `docs/quarterdeck.md`:
//!
//! * JSON bodies with `Content-Type: application/json; charset=utf-8` (go-ensign
//!   refuses anything else), fields in Quarterdeck's order, empty `last_login` left out;
//! * errors as `{"success":false,"error":"..."}` with Quarterdeck's codes and messages;
//!   a body that does not decode gets 400 with `text/plain; charset=utf-8`, because gin
//!   commits the headers before the JSON renderer can set its type;
//! * request bodies decoded as Go decodes them (`go_compat`);
//! * `X-RateLimit-*` headers on every answer, 429 with `Retry-After` beyond the limit
//!   (`ratelimit`); 503 `{"status":"stopping"}` while the server shuts down;
//! * 404/405 as JSON; `/v1/status` answers GET and HEAD.
//!
//! Concurrency: an axum router on its own listener (`listener::http`), sharing
//! `Arc<Auth>`; handlers are short and CPU-bound (one RSA signature per token).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use ulid::Ulid;

use super::go_compat::{decode_string_fields, go_duration, rfc3339_nano, Unparsable};
use super::keys::ApiKey;
use super::ratelimit::{Decision, LimitKey};
use super::{tokens, Auth};
use crate::listener::http::PeerAddr;

const JSON: &str = "application/json; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
/// Quarterdeck's `responses.ErrLogBackIn`, its answer to every refused refresh.
pub const LOG_BACK_IN: &str = "Logged out of your account - please log back in!";
pub const RATE_LIMITED: &str = "rate limit reached: too many requests";

#[derive(Clone)]
struct Ctx {
    auth: Arc<Auth>,
    started: Instant,
    version: String,
    stopping: CancellationToken,
}

pub fn router(
    auth: Arc<Auth>,
    started: Instant,
    version: String,
    stopping: CancellationToken,
) -> Router {
    Router::new()
        .route("/v1/authenticate", post(authenticate))
        .route("/v1/refresh", post(refresh))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/status", get(status))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .with_state(Ctx {
            auth,
            started,
            version,
            stopping,
        })
}

/// `api.Reply`.
#[derive(Serialize)]
struct ErrorReply<'a> {
    success: bool,
    error: &'a str,
}

/// `api.LoginReply`.
#[derive(Serialize)]
struct LoginReply {
    access_token: String,
    refresh_token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    last_login: String,
}

/// `api.StatusReply`.
#[derive(Serialize)]
struct StatusReply<'a> {
    status: &'a str,
    uptime: String,
    version: &'a str,
}

fn reply(code: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json<T: Serialize>(code: StatusCode, body: &T) -> Response {
    reply(code, JSON, serde_json::to_vec(body).expect("plain struct"))
}

fn error(code: StatusCode, msg: &str) -> Response {
    json(
        code,
        &ErrorReply {
            success: false,
            error: msg,
        },
    )
}

/// A body gin's `BindJSON` could not decode: 400, and the JSON error goes out as
/// text/plain (gin has already written the headers when the handler renders it).
fn unparsable(msg: &str) -> Response {
    let body = ErrorReply {
        success: false,
        error: msg,
    };
    reply(
        StatusCode::BAD_REQUEST,
        TEXT,
        serde_json::to_vec(&body).expect("plain struct"),
    )
}

fn peer_ip(peer: Option<Extension<PeerAddr>>) -> IpAddr {
    peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(p)| p.0.ip())
}

fn set(r: &mut Response, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(name, v);
    }
}

/// Spends `key`'s rate limit, then answers with `respond` (or 429, or 503 while the
/// server stops), with the `X-RateLimit-*` headers Quarterdeck sends.
fn limited(ctx: &Ctx, key: LimitKey, respond: impl FnOnce() -> Response) -> Response {
    let Some(limiter) = &ctx.auth.limiter else {
        return available(ctx).unwrap_or_else(respond);
    };
    let (mut r, remaining) = match limiter.check(key, tokio::time::Instant::now()) {
        Decision::Allowed { remaining } => (available(ctx).unwrap_or_else(respond), remaining),
        Decision::Limited {
            retry_after,
            remaining,
        } => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED);
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            set(&mut r, "retry-after", secs.to_string());
            (r, remaining)
        }
    };
    set(
        &mut r,
        "x-ratelimit-limit",
        limiter.conf().burst.to_string(),
    );
    set(&mut r, "x-ratelimit-remaining", format!("{remaining:.0}"));
    set(&mut r, "x-ratelimit-reset", "1".into());
    r
}

/// Quarterdeck's `Available` middleware: 503 with the status reply while stopping.
fn available(ctx: &Ctx) -> Option<Response> {
    ctx.stopping
        .is_cancelled()
        .then(|| status_reply(ctx, StatusCode::SERVICE_UNAVAILABLE, "stopping"))
}

fn status_reply(ctx: &Ctx, code: StatusCode, status: &str) -> Response {
    json(
        code,
        &StatusReply {
            status,
            uptime: go_duration(ctx.started.elapsed()),
            version: &ctx.version,
        },
    )
}

fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339_nano(now.as_secs() as i64, now.subsec_nanos())
}

fn tokens_reply(auth: &Auth, key: &ApiKey, last_login: String) -> Response {
    let (access_token, refresh_token) = auth.issue(key);
    json(
        StatusCode::OK,
        &LoginReply {
            access_token,
            refresh_token,
            last_login,
        },
    )
}

async fn authenticate(
    State(ctx): State<Ctx>,
    peer: Option<Extension<PeerAddr>>,
    body: Bytes,
) -> Response {
    let fields = decode_string_fields(&body, ["client_id", "client_secret"]);
    // A known client id spends its own budget; anything else its address's.
    let key = match &fields {
        Ok([Some(id), _]) => ctx.auth.key_by_client_id(id),
        _ => None,
    }
    .map_or(LimitKey::Peer(peer_ip(peer)), |k| {
        LimitKey::Client(k.client_id.clone())
    });
    limited(&ctx, key, || {
        let Ok([id, secret]) = fields else {
            return unparsable("could not parse request");
        };
        let (id, secret) = (id.unwrap_or_default(), secret.unwrap_or_default());
        if id.is_empty() || secret.is_empty() {
            return error(StatusCode::BAD_REQUEST, "missing credentials");
        }
        match ctx.auth.login(&id, &secret) {
            Some(key) => {
                let last = ctx.auth.touch(key, now_rfc3339());
                tokens_reply(&ctx.auth, key, last)
            }
            None => error(StatusCode::FORBIDDEN, "invalid credentials"),
        }
    })
}

/// `org_id` decodes into a ULID in Go: when present it must be one.
fn parse_refresh(body: &[u8]) -> Result<(String, Option<Ulid>), Unparsable> {
    let [token, org] = decode_string_fields(body, ["refresh_token", "org_id"])?;
    let org = match org {
        None => None,
        Some(s) => Some(Ulid::from_string(&s).map_err(|_| Unparsable)?),
    };
    Ok((token.unwrap_or_default(), org))
}

async fn refresh(
    State(ctx): State<Ctx>,
    peer: Option<Extension<PeerAddr>>,
    body: Bytes,
) -> Response {
    let parsed = parse_refresh(&body);
    let key = match &parsed {
        Ok((token, _)) => tokens::peek(token).and_then(|c| ctx.auth.key_by_id(&c.sub)),
        Err(Unparsable) => None,
    }
    .map_or(LimitKey::Peer(peer_ip(peer)), |k| {
        LimitKey::Client(k.client_id.clone())
    });
    limited(&ctx, key, || {
        let Ok((token, org)) = parsed else {
            return unparsable(LOG_BACK_IN);
        };
        if token.is_empty() {
            return error(StatusCode::BAD_REQUEST, LOG_BACK_IN);
        }
        let (key, claims) = match ctx.auth.check_refresh(&token) {
            Ok(found) => found,
            Err(why) => {
                tracing::debug!(reason = why, "refresh refused");
                return error(StatusCode::FORBIDDEN, LOG_BACK_IN);
            }
        };
        if org.is_some_and(|o| !o.is_nil() && o != ctx.auth.org) {
            tracing::debug!("refresh refused: another organization");
            return error(StatusCode::FORBIDDEN, LOG_BACK_IN);
        }
        ctx.auth.touch(key, now_rfc3339());
        tokens_reply(&ctx.auth, key, rfc3339_nano(claims.iat, 0))
    })
}

async fn jwks(State(ctx): State<Ctx>, peer: Option<Extension<PeerAddr>>) -> Response {
    limited(&ctx, LimitKey::Peer(peer_ip(peer)), || {
        json(StatusCode::OK, &ctx.auth.pair.jwks)
    })
}

async fn status(State(ctx): State<Ctx>, peer: Option<Extension<PeerAddr>>) -> Response {
    limited(&ctx, LimitKey::Peer(peer_ip(peer)), || {
        status_reply(&ctx, StatusCode::OK, "ok")
    })
}

async fn not_found(State(ctx): State<Ctx>, peer: Option<Extension<PeerAddr>>) -> Response {
    limited(&ctx, LimitKey::Peer(peer_ip(peer)), || {
        error(StatusCode::NOT_FOUND, "resource not found")
    })
}

async fn not_allowed(State(ctx): State<Ctx>, peer: Option<Extension<PeerAddr>>) -> Response {
    limited(&ctx, LimitKey::Peer(peer_ip(peer)), || {
        error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    })
}
