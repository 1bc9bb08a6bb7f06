//! The Quarterdeck HTTP endpoints the SDKs call (semantics §3.2): authenticate with
//! client id and secret, refresh, the JWK set, and status. Errors use Quarterdeck's
//! `{"success": false, "error": "..."}` shape and status codes.
//!
//! Concurrency: an axum router on its own listener, sharing `Arc<Auth>`; handlers are
//! short and CPU-bound (one RSA signature per token).

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::keys::ApiKey;
use super::Auth;

#[derive(Clone)]
struct Ctx {
    auth: Arc<Auth>,
    started: Instant,
    version: String,
}

pub fn router(auth: Arc<Auth>, started: Instant, version: String) -> Router {
    Router::new()
        .route("/v1/authenticate", post(authenticate))
        .route("/v1/refresh", post(refresh))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/status", get(status))
        .with_state(Ctx {
            auth,
            started,
            version,
        })
}

fn error(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({"success": false, "error": msg}))).into_response()
}

fn tokens(auth: &Auth, key: &ApiKey) -> Response {
    let (access, refresh) = auth.issue(key);
    Json(json!({
        "access_token": access,
        "refresh_token": refresh,
        "last_login": "",
    }))
    .into_response()
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

async fn authenticate(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let Ok(login) = serde_json::from_slice::<Login>(&body) else {
        return error(StatusCode::BAD_REQUEST, "could not parse request");
    };
    if login.client_id.is_empty() || login.client_secret.is_empty() {
        return error(StatusCode::BAD_REQUEST, "missing credentials");
    }
    match ctx.auth.login(&login.client_id, &login.client_secret) {
        Some(key) => tokens(&ctx.auth, key),
        None => error(StatusCode::FORBIDDEN, "invalid credentials"),
    }
}

#[derive(Deserialize)]
struct Refresh {
    #[serde(default)]
    refresh_token: String,
}

async fn refresh(State(ctx): State<Ctx>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<Refresh>(&body) else {
        return error(StatusCode::BAD_REQUEST, "could not parse request");
    };
    if req.refresh_token.is_empty() {
        return error(StatusCode::BAD_REQUEST, "missing credentials");
    }
    match ctx.auth.check_refresh(&req.refresh_token) {
        Ok(key) => tokens(&ctx.auth, key),
        Err(why) => {
            tracing::debug!(reason = why, "refresh refused");
            error(
                StatusCode::FORBIDDEN,
                "could not verify refresh token, please log back in",
            )
        }
    }
}

async fn jwks(State(ctx): State<Ctx>) -> Response {
    Json(ctx.auth.pair.jwks.clone()).into_response()
}

async fn status(State(ctx): State<Ctx>) -> Response {
    Json(json!({
        "status": "ok",
        "uptime": format!("{:?}", ctx.started.elapsed()),
        "version": ctx.version,
    }))
    .into_response()
}
