//! The Quarterdeck endpoints as a strict HTTP client sees them: status codes, headers
//! (byte for byte where go-ensign compares them), error bodies, Go-style request
//! decoding, `last_login`, the rate limit (429, Retry-After, X-RateLimit-*), and the
//! slow-client deadlines of the HTTP listener.

mod common;

use std::time::Duration;

use common::*;
use ensign_server::ServerHandle;
use ensign_server::{ApiKeySpec, AuthConfig, ConnectionLimits, RateLimit, ServerConfig};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const JSON: &str = "application/json; charset=utf-8";
const LOG_BACK_IN: &str = "Logged out of your account - please log back in!";

struct Resp {
    code: u16,
    /// Header lines as sent ("Name: value").
    headers: Vec<String>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|l| {
            let (n, v) = l.split_once(": ")?;
            n.eq_ignore_ascii_case(name).then_some(v)
        })
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(h: &ServerHandle, method: &str, path: &str, body: &str) -> Resp {
    let url = h.auth_url().unwrap();
    let host = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    bounded(s.read_to_string(&mut raw)).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let code = lines.next().unwrap()[9..12].parse().unwrap();
    Resp {
        code,
        headers: lines.map(str::to_string).collect(),
        body: body.to_string(),
    }
}

async fn server(rate_limit: Option<RateLimit>, limits: ConnectionLimits) -> ServerHandle {
    start(ServerConfig {
        auth: Some(AuthConfig {
            rate_limit,
            extra_keys: vec![ApiKeySpec {
                client_id: "reader".into(),
                client_secret: "reader-secret".into(),
                permissions: vec!["topics:read".into()],
            }],
            access_ttl: std::time::Duration::from_secs(600),
            ..Default::default()
        }),
        connections: limits,
        ..Default::default()
    })
    .await
}

fn creds(h: &ServerHandle) -> String {
    json!({"client_id": h.client_id().unwrap(), "client_secret": h.client_secret().unwrap()})
        .to_string()
}

fn assert_error(r: &Resp, code: u16, content_type: &str, msg: &str) {
    assert_eq!(
        (r.code, r.header("content-type"), r.json()),
        (
            code,
            Some(content_type),
            json!({"success": false, "error": msg})
        ),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn answers_as_quarterdeck_does() {
    let h = server(None, ConnectionLimits::default()).await;
    // Status: GET and HEAD, the JSON content type byte for byte, Go-cased header names.
    let r = send(&h, "GET", "/v1/status", "").await;
    assert_eq!(r.code, 200);
    assert!(
        r.headers
            .iter()
            .any(|l| l == &format!("Content-Type: {JSON}")),
        "{:?}",
        r.headers
    );
    let status = r.json();
    assert_eq!(status["status"], "ok");
    assert!(status["uptime"].as_str().unwrap().ends_with('s'));
    assert!(status["version"].as_str().unwrap().starts_with("0.12"));
    let head = send(&h, "HEAD", "/v1/status", "").await;
    assert_eq!(
        (head.code, head.header("content-type"), head.body.as_str()),
        (200, Some(JSON), "")
    );
    // go-ensign's Status() POSTs: Quarterdeck answers 405, as JSON.
    assert_error(
        &send(&h, "POST", "/v1/status", "").await,
        405,
        JSON,
        "method not allowed",
    );
    assert_error(
        &send(&h, "GET", "/v1/authenticate", "").await,
        405,
        JSON,
        "method not allowed",
    );
    assert_error(
        &send(&h, "GET", "/v1/nothing", "").await,
        404,
        JSON,
        "resource not found",
    );
    let jwks = send(&h, "GET", "/.well-known/jwks.json", "").await;
    assert_eq!((jwks.code, jwks.header("content-type")), (200, Some(JSON)));
    assert_eq!(jwks.json()["keys"][0]["kty"], "RSA");

    // Login: fields in Quarterdeck's order; last_login left out the first time, then
    // the previous login's time.
    let first = send(&h, "POST", "/v1/authenticate", &creds(&h)).await;
    assert_eq!(
        (first.code, first.header("content-type")),
        (200, Some(JSON))
    );
    assert!(
        first.body.starts_with(r#"{"access_token":"#),
        "{}",
        first.body
    );
    assert!(first.json().get("last_login").is_none());
    let second = send(&h, "POST", "/v1/authenticate", &creds(&h))
        .await
        .json();
    let last = second["last_login"].as_str().unwrap();
    assert!(
        last.len() >= 20 && last.ends_with('Z') && last.contains('T'),
        "{last}"
    );

    // Refresh: last_login is the refresh token's iat; the reply has both tokens.
    let tokens = first.json();
    let body = json!({"refresh_token": tokens["refresh_token"], "access_token": tokens["access_token"], "last_login": ""});
    let r = send(&h, "POST", "/v1/refresh", &body.to_string()).await;
    assert_eq!(
        (r.code, r.header("content-type")),
        (200, Some(JSON)),
        "{}",
        r.body
    );
    let fresh = r.json();
    assert!(fresh["refresh_token"].as_str().unwrap().len() > 100);
    assert!(fresh["last_login"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn error_answers_of_the_login_and_refresh_paths() {
    let h = server(None, ConnectionLimits::default()).await;
    let id = h.client_id().unwrap().to_string();
    let login = |body: String| {
        let h = &h;
        async move { send(h, "POST", "/v1/authenticate", &body).await }
    };
    for missing in [
        json!({}),
        json!({"client_id": id}),
        json!({"client_secret": "x"}),
        json!({"client_id": "", "client_secret": null}),
    ] {
        assert_error(
            &login(missing.to_string()).await,
            400,
            JSON,
            "missing credentials",
        );
    }
    // Bodies gin cannot bind: 400, and the JSON goes out as text/plain (gin quirk).
    for bad in ["", "not json", "[]", r#"{"client_id": 5}"#, "{"] {
        assert_error(
            &login(bad.into()).await,
            400,
            "text/plain; charset=utf-8",
            "could not parse request",
        );
    }
    for (cid, secret) in [
        (id.as_str(), "wrong"),
        ("reader", h.client_secret().unwrap()),
        ("nobody", "x"),
    ] {
        let body = json!({"client_id": cid, "client_secret": secret}).to_string();
        assert_error(&login(body).await, 403, JSON, "invalid credentials");
    }
    // Go decodes keys case-insensitively, ignores unknown keys and trailing data.
    let loose = format!(
        r#"{{"Client_ID": "{id}", "CLIENT_SECRET": "{}", "extra": [1]}} trailing"#,
        h.client_secret().unwrap()
    );
    assert_eq!(login(loose).await.code, 200);

    let refresh = |body: String| {
        let h = &h;
        async move { send(h, "POST", "/v1/refresh", &body).await }
    };
    assert_error(&refresh("{}".into()).await, 400, JSON, LOG_BACK_IN);
    assert_error(
        &refresh("nope".into()).await,
        400,
        "text/plain; charset=utf-8",
        LOG_BACK_IN,
    );
    let tokens = login(creds(&h)).await.json();
    let rt = tokens["refresh_token"].as_str().unwrap();
    let bad_org = json!({"refresh_token": rt, "org_id": "not-a-ulid"}).to_string();
    assert_error(
        &refresh(bad_org).await,
        400,
        "text/plain; charset=utf-8",
        LOG_BACK_IN,
    );
    let other_org = json!({"refresh_token": rt, "org_id": ulid::Ulid::new().to_string()});
    assert_error(
        &refresh(other_org.to_string()).await,
        403,
        JSON,
        LOG_BACK_IN,
    );
    let access = json!({"refresh_token": tokens["access_token"]}).to_string();
    assert_error(&refresh(access).await, 403, JSON, LOG_BACK_IN);
    let expired = json!({"refresh_token": h.mint_access_token(&[], -10).unwrap()});
    assert_error(&refresh(expired.to_string()).await, 403, JSON, LOG_BACK_IN);
    // A revoked key can neither log in nor refresh.
    assert!(h.revoke_api_key(&id));
    assert_error(&login(creds(&h)).await, 403, JSON, "invalid credentials");
    assert_error(
        &refresh(json!({"refresh_token": rt}).to_string()).await,
        403,
        JSON,
        LOG_BACK_IN,
    );
}

#[tokio::test]
async fn the_rate_limit_is_per_client_id_then_per_peer() {
    let h = server(
        Some(RateLimit {
            per_second: 0.01,
            burst: 3,
        }),
        ConnectionLimits::default(),
    )
    .await;
    for left in ["2", "1", "0"] {
        let r = send(&h, "POST", "/v1/authenticate", &creds(&h)).await;
        assert_eq!(r.code, 200);
        assert_eq!(
            (
                r.header("x-ratelimit-limit"),
                r.header("x-ratelimit-remaining"),
                r.header("x-ratelimit-reset")
            ),
            (Some("3"), Some(left), Some("1"))
        );
    }
    let r = send(&h, "POST", "/v1/authenticate", &creds(&h)).await;
    assert_error(&r, 429, JSON, "rate limit reached: too many requests");
    assert_eq!(r.header("retry-after"), Some("100"));
    // Wrong secrets of the same client spend the same budget.
    let wrong = json!({"client_id": h.client_id().unwrap(), "client_secret": "guess"});
    assert_eq!(
        send(&h, "POST", "/v1/authenticate", &wrong.to_string())
            .await
            .code,
        429
    );
    // Another known client has its own budget...
    let reader = json!({"client_id": "reader", "client_secret": "reader-secret"}).to_string();
    assert_eq!(
        send(&h, "POST", "/v1/authenticate", &reader).await.code,
        200
    );
    // ...and so does the peer, for unknown ids and the other endpoints.
    let unknown = json!({"client_id": "nobody", "client_secret": "x"}).to_string();
    assert_eq!(
        send(&h, "POST", "/v1/authenticate", &unknown).await.code,
        403
    );
    assert_eq!(send(&h, "GET", "/v1/status", "").await.code, 200);
    assert_eq!(send(&h, "GET", "/v1/status", "").await.code, 200);
    assert_eq!(send(&h, "GET", "/v1/status", "").await.code, 429);
    assert_eq!(h.auth_rate_limited(), 3);
}

#[tokio::test]
async fn slow_http_clients_are_cut_off() {
    let h = server(
        None,
        ConnectionLimits {
            handshake_timeout: Duration::from_millis(250),
            max_connections: 3,
            ..Default::default()
        },
    )
    .await;
    let addr = h
        .auth_url()
        .unwrap()
        .trim_start_matches("http://")
        .to_string();
    let read_all = |mut s: TcpStream| async move {
        let mut out = Vec::new();
        let _ = bounded(s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).to_string()
    };
    // Silent: closed without an answer.
    let silent = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(read_all(silent).await, "");
    // A head sent byte by byte (the attack: 40 ms a byte, 1.6 s in all).
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    for b in b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n" {
        if slow.write_all(&[*b]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(
        !read_all(slow).await.contains("200"),
        "answered a slowloris head"
    );
    // A body that never comes.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(b"POST /v1/authenticate HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"client_id\"")
        .await
        .unwrap();
    assert!(!read_all(stalled).await.contains("200"));
    // An idle keep-alive connection after a full exchange.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(read_all(kept).await.starts_with("HTTP/1.1 200 OK"));
    // Beyond max_connections: closed at once, while the others are served.
    bounded(async {
        while h.http_listener_stats().open > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let held: Vec<TcpStream> =
        futures_util::future::join_all((0..3).map(|_| TcpStream::connect(&addr)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    extra
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_all(extra).await, "");
    assert!(h.http_listener_stats().refused >= 1);
    drop(held);
}
