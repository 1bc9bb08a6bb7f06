//! Auth mode: Quarterdeck endpoints, token claims and lifetimes, UNAUTHENTICATED and
//! PERMISSION_DENIED on the RPCs, Status without a token.

mod common;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::*;
use ensign_proto::api::{self, topic_mod::Operation};
use ensign_server::{ApiKeySpec, AuthConfig, ServerConfig, ServerHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;

async fn http(url: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let host = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    bounded(s.read_to_string(&mut resp)).await.unwrap();
    let code = resp[9..12].parse().unwrap();
    let json = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (code, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn auth_server(access_ttl: Duration) -> ServerHandle {
    start(ServerConfig {
        auth: Some(AuthConfig {
            access_ttl,
            extra_keys: vec![ApiKeySpec {
                client_id: "reader".into(),
                client_secret: "reader-secret".into(),
                permissions: vec!["topics:read".into()],
            }],
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

#[tokio::test]
async fn quarterdeck_endpoints_and_token_claims() {
    let h = auth_server(Duration::from_secs(3600)).await;
    let url = h.auth_url().unwrap();
    let (code, body) = http(&url, "GET", "/v1/status", None).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("ok")));
    let (code, jwks) = http(&url, "GET", "/.well-known/jwks.json", None).await;
    assert_eq!(code, 200);
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["alg"].as_str(),
            key["use"].as_str(),
            key["kty"].as_str()
        ),
        (Some("RS256"), Some("sig"), Some("RSA"))
    );

    let creds =
        json!({"client_id": h.client_id().unwrap(), "client_secret": h.client_secret().unwrap()});
    let (code, tokens) = http(&url, "POST", "/v1/authenticate", Some(creds)).await;
    assert_eq!(code, 200);
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let a = claims(access);
    assert_eq!(a["project"].as_str().unwrap(), h.project_id().to_string());
    assert_eq!(
        a["exp"].as_i64().unwrap() - a["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(a["nbf"], a["iat"]);
    assert!(a["permissions"].as_array().unwrap().len() == 7);
    let r = claims(refresh);
    assert!(r.get("permissions").is_none());
    assert_eq!(r["nbf"].as_i64().unwrap(), a["exp"].as_i64().unwrap() - 900);
    assert_eq!(
        r["exp"].as_i64().unwrap() - r["iat"].as_i64().unwrap(),
        7200
    );

    let (code, body) = http(
        &url,
        "POST",
        "/v1/authenticate",
        Some(json!({"client_id": "x", "client_secret": "y"})),
    )
    .await;
    assert_eq!(
        (code, body["success"].as_bool(), body["error"].as_str()),
        (403, Some(false), Some("invalid credentials"))
    );
    let (code, body) = http(&url, "POST", "/v1/authenticate", Some(json!({}))).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (400, Some("missing credentials"))
    );
    // A refresh token is not valid before its nbf (45 minutes after issue).
    let (code, _) = http(
        &url,
        "POST",
        "/v1/refresh",
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(code, 403);

    // The token works on the RPCs.
    let mut c = connect(&h.endpoint()).await;
    c.create_topic(with_token(
        api::Topic {
            name: "orders".into(),
            ..Default::default()
        },
        access,
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn refresh_within_its_window() {
    // With a 10-minute access token the refresh token is valid at once.
    let h = auth_server(Duration::from_secs(600)).await;
    let url = h.auth_url().unwrap();
    let creds =
        json!({"client_id": h.client_id().unwrap(), "client_secret": h.client_secret().unwrap()});
    let (_, tokens) = http(&url, "POST", "/v1/authenticate", Some(creds)).await;
    let body =
        json!({"refresh_token": tokens["refresh_token"], "access_token": tokens["access_token"]});
    let (code, fresh) = http(&url, "POST", "/v1/refresh", Some(body)).await;
    assert_eq!(code, 200, "{fresh}");
    assert!(fresh["access_token"].as_str().unwrap().len() > 100);
    let (code, _) = http(
        &url,
        "POST",
        "/v1/refresh",
        Some(json!({"refresh_token": tokens["access_token"]})),
    )
    .await;
    assert_eq!(code, 403, "an access token is not a refresh token");
}

#[tokio::test]
async fn rpcs_check_tokens_and_permissions() {
    let h = auth_server(Duration::from_secs(3600)).await;
    let mut c = connect(&h.endpoint()).await;
    // Status needs no token.
    c.status(api::HealthCheck::default()).await.unwrap();
    let err = c.list_topics(api::PageInfo::default()).await.unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unauthenticated, "missing credentials")
    );
    let err = c
        .list_topics(with_token(api::PageInfo::default(), "garbage"))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unauthenticated, "invalid credentials")
    );
    let expired = h.mint_access_token(&["topics:read"], -10).unwrap();
    let err = c
        .list_topics(with_token(api::PageInfo::default(), &expired))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let mut req = tonic::Request::new(api::PageInfo::default());
    req.metadata_mut()
        .insert("authorization", "Basic abc".parse().unwrap());
    assert_eq!(
        c.list_topics(req).await.unwrap_err().message(),
        "invalid credentials"
    );

    let all = h
        .mint_access_token(&["topics:create", "topics:read"], 60)
        .unwrap();
    c.create_topic(with_token(
        api::Topic {
            name: "orders".into(),
            ..Default::default()
        },
        &all,
    ))
    .await
    .unwrap();
    let reader = h.mint_access_token(&["topics:read"], 60).unwrap();
    c.list_topics(with_token(api::PageInfo::default(), &reader))
        .await
        .unwrap();
    let denied = [
        c.create_topic(with_token(
            api::Topic {
                name: "x".into(),
                ..Default::default()
            },
            &reader,
        ))
        .await
        .unwrap_err(),
        c.info(with_token(api::InfoRequest::default(), &reader))
            .await
            .unwrap_err(),
        c.explain(with_token(api::Query::default(), &reader))
            .await
            .unwrap_err(),
        c.set_topic_policy(with_token(api::TopicPolicy::default(), &reader))
            .await
            .unwrap_err(),
        c.delete_topic(with_token(
            api::TopicMod {
                id: "x".into(),
                operation: Operation::Destroy as i32,
            },
            &reader,
        ))
        .await
        .unwrap_err(),
    ];
    for err in denied {
        assert_eq!(
            (err.code(), err.message()),
            (
                Code::PermissionDenied,
                "not authorized to perform this action"
            )
        );
    }
    // The operation is checked before the permission, as by the real server.
    let err = c
        .delete_topic(with_token(api::TopicMod::default(), &reader))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(open_req(&[])).await.unwrap();
    let err = c
        .publish(with_token(
            tokio_stream::wrappers::ReceiverStream::new(rx),
            &reader,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // The reader key authenticates over HTTP and gets only its permission.
    let (_, tokens) = http(
        &h.auth_url().unwrap(),
        "POST",
        "/v1/authenticate",
        Some(json!({"client_id": "reader", "client_secret": "reader-secret"})),
    )
    .await;
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["permissions"],
        json!(["topics:read"])
    );
    let dbg = format!("{h:?}");
    assert!(
        !dbg.contains(h.client_secret().unwrap()),
        "no secret in Debug"
    );
}
