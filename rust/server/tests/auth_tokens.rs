//! The token and credential checks of auth mode, at the server's own level (`Auth`),
//! with the clock put where each check has its edge: expired, not-yet-valid, issued in
//! the future, cached and then expired, revoked; forged headers, keys, issuers and
//! audiences; the login path (every check of it) and the refresh path.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ensign_server::auth::interceptor::now_secs;
use ensign_server::auth::tokens::{peek, JwtClaims};
use ensign_server::auth::Auth;
use ensign_server::{ApiKeySpec, AuthConfig};
use tonic::metadata::MetadataMap;
use tonic::Code;
use ulid::Ulid;

const T0: i64 = 1_700_000_000;

fn new_auth() -> Auth {
    let config = AuthConfig {
        client_id: Some("main-client".into()),
        client_secret: Some("main-secret-0123456789".into()),
        extra_keys: vec![ApiKeySpec {
            client_id: "reader".into(),
            client_secret: "reader-secret".into(),
            permissions: vec!["topics:read".into()],
        }],
        ..Default::default()
    };
    Auth::new(config, None, Ulid::new()).unwrap()
}

/// One RSA key for the read-only tests (generating one costs ~0.1-1 s).
fn shared() -> &'static Auth {
    static AUTH: OnceLock<Auth> = OnceLock::new();
    AUTH.get_or_init(new_auth)
}

fn claims(a: &Auth, iat: i64, nbf: i64, exp: i64) -> JwtClaims {
    JwtClaims {
        sub: a.main_key().id.clone(),
        aud: vec![a.config.audience.clone()],
        iss: a.config.issuer.clone(),
        iat,
        nbf,
        exp,
        jti: Ulid::new().to_string().to_lowercase(),
        org: a.org.to_string(),
        project: a.project.to_string(),
        permissions: vec!["topics:read".into()],
        account: "sandbox".into(),
    }
}

/// A valid access token from T0 to T0 + 60.
fn token(a: &Auth) -> String {
    a.sign(claims(a, T0, T0, T0 + 60))
}

fn ok(a: &Auth, token: &str, now: i64) -> bool {
    a.verify_access_at(token, now).is_some()
}

fn md(values: &[&str]) -> MetadataMap {
    let mut md = MetadataMap::new();
    for v in values {
        md.append("authorization", v.parse().unwrap());
    }
    md
}

#[test]
fn token_times_have_no_leeway() {
    let a = shared();
    let t = token(a);
    assert!(ok(a, &t, T0), "valid from its iat/nbf second");
    assert!(ok(a, &t, T0 + 59), "valid in its last second");
    assert!(
        !ok(a, &t, T0 + 60),
        "invalid at exp (Go: now must be before exp)"
    );
    assert!(!ok(a, &t, T0 + 3600));
    // Not yet valid: nbf in the future, or issued in the future.
    let later = a.sign(claims(a, T0, T0 + 10, T0 + 60));
    assert!(!ok(a, &later, T0 + 9));
    assert!(ok(a, &later, T0 + 10));
    let future = a.sign(claims(a, T0 + 10, T0, T0 + 60));
    assert!(!ok(a, &future, T0 + 9));
    assert!(ok(a, &future, T0 + 10));
}

#[test]
fn a_cached_token_still_expires() {
    let a = new_auth();
    let t = token(&a);
    assert!(ok(&a, &t, T0 + 30));
    assert_eq!(a.cached_tokens(), 1, "verified once, then cached");
    assert_eq!(a.cache_hits(), 0);
    assert!(ok(&a, &t, T0 + 59), "served from the cache");
    assert_eq!(a.cache_hits(), 1, "the second check skips the signature");
    assert!(!ok(&a, &t, T0 + 60), "the cache must not outlive exp");
    assert_eq!(a.cache_hits(), 1, "an expired entry is no hit");
    assert!(!ok(&a, &t, T0 + 600));
    let other = token(&a);
    assert!(ok(&a, &other, T0 + 1));
    assert_eq!(a.cached_tokens(), 2, "each token has its own entry");
}

#[test]
fn revoked_keys_lose_their_tokens_logins_and_refreshes() {
    let a = new_auth();
    let t = token(&a);
    assert!(ok(&a, &t, T0), "cached before the revocation");
    let reader = a.key_by_client_id("reader").unwrap().clone();
    let (_, reader_refresh) = a.issue(&reader);
    assert!(!a.revoke("nobody"));
    assert!(a.revoke("main-client"));
    assert!(!ok(&a, &t, T0), "cached token of a revoked key");
    assert!(!ok(&a, &token(&a), T0), "fresh token of a revoked key");
    assert!(a.login("main-client", "main-secret-0123456789").is_none());
    let (_, refresh) = {
        let key = a.main_key().clone();
        a.issue(&key)
    };
    let nbf = peek(&refresh).unwrap().nbf;
    assert!(a.check_refresh_at(&refresh, nbf).is_err());
    // The other key is untouched.
    assert!(a.login("reader", "reader-secret").is_some());
    let at = peek(&reader_refresh).unwrap().nbf;
    assert!(a.check_refresh_at(&reader_refresh, at).is_ok());
}

#[test]
fn forged_or_foreign_tokens_are_refused() {
    let a = shared();
    let good = claims(a, T0, T0, T0 + 60);
    let mut wrong_iss = good.clone();
    wrong_iss.iss = "https://evil.example".into();
    assert!(!ok(a, &a.sign(wrong_iss), T0));
    let mut wrong_aud = good.clone();
    wrong_aud.aud = vec!["https://other.example".into()];
    assert!(!ok(a, &a.sign(wrong_aud), T0));
    // Another server's key (same kid is impossible; a valid signature of another key).
    let other = new_auth();
    assert!(!ok(a, &other.sign(good.clone()), T0));
    // A token whose signature does not match its payload.
    let t = a.sign(good.clone());
    let mut parts: Vec<&str> = t.split('.').collect();
    let forged_payload = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&JwtClaims {
            permissions: vec!["topics:destroy".into()],
            ..good.clone()
        })
        .unwrap(),
    );
    parts[1] = &forged_payload;
    assert!(!ok(a, &parts.join("."), T0));
    // alg "none" and HS256 are refused before any signature check.
    for alg in ["none", "HS256"] {
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"{alg}","typ":"JWT","kid":"{}"}}"#,
            a.pair.kid
        ));
        let body = t.split('.').nth(1).unwrap();
        assert!(!ok(a, &format!("{header}.{body}."), T0), "{alg}");
    }
    assert!(!ok(a, "not-a-token", T0));
    assert!(!ok(a, "a.b.c.d", T0));
}

#[test]
fn the_authorization_metadata() {
    let a = shared();
    let now = now_secs();
    let t = a.mint(&["topics:read"], 60);
    let err = a.authenticate_at(&md(&[]), now).unwrap_err();
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unauthenticated, "missing credentials")
    );
    for bad in [t.clone(), format!("bearer {t}"), format!("Basic {t}")] {
        let err = a.authenticate_at(&md(&[&bad]), now).unwrap_err();
        assert_eq!(err.message(), "invalid credentials", "{bad:.20}");
    }
    // Any value that verifies is enough, in any position.
    let c = a
        .authenticate_at(&md(&["Bearer garbage", &format!("Bearer {t}")]), now)
        .unwrap();
    assert_eq!(c.sub, a.main_key().id);
    // The real clock: a fresh token passes `authenticate`, whether minted by the server
    // or signed here with times from this process's clock.
    assert!(a.authenticate(&md(&[&format!("Bearer {t}")])).is_ok());
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let own = a.sign(claims(a, wall - 5, wall - 5, wall + 60));
    assert!(a.authenticate(&md(&[&format!("Bearer {own}")])).is_ok());
    assert!((now_secs() - wall).abs() <= 1);
    let expired = a.mint(&["topics:read"], -10);
    assert!(a
        .authenticate(&md(&[&format!("Bearer {expired}")]))
        .is_err());
}

#[test]
fn minted_tokens_carry_their_lifetime() {
    let a = shared();
    let live = peek(&a.mint(&["publisher"], 60)).unwrap();
    assert_eq!((live.exp - live.iat, live.nbf), (60, live.iat));
    let dead = peek(&a.mint(&["publisher"], -10)).unwrap();
    assert_eq!((dead.iat, dead.nbf), (dead.exp, dead.exp));
    assert!(dead.exp < now_secs());
    assert_eq!(live.permissions, ["publisher"]);
}

#[test]
fn the_login_path() {
    let a = shared();
    let main = a.login("main-client", "main-secret-0123456789").unwrap();
    assert_eq!(main.id, a.main_key().id);
    assert_eq!(
        a.login("reader", "reader-secret").unwrap().client_id,
        "reader"
    );
    let refused = [
        ("main-client", "main-secret-0123456788"), // right length, last byte off
        ("main-client", "Main-secret-0123456789"), // right length, first byte off
        ("main-client", "main-secret-012345678"),  // a prefix
        ("main-client", "main-secret-01234567890"), // longer
        ("main-client", ""),
        ("main-client", "reader-secret"), // another key's secret
        ("reader", "main-secret-0123456789"),
        ("Reader", "reader-secret"), // client ids are case-sensitive
        ("unknown", "reader-secret"),
        ("", ""),
    ];
    for (id, secret) in refused {
        assert!(a.login(id, secret).is_none(), "{id:?} / {secret:?}");
    }
}

#[test]
fn the_refresh_path() {
    let a = shared();
    let key = a.main_key().clone();
    let (access, refresh) = a.issue(&key);
    let r = peek(&refresh).unwrap();
    // Quarterdeck's refresh token carries no permissions and no account, and its second
    // audience is the issuer's refresh URL (semantics §3.2).
    assert!(r.permissions.is_empty() && r.account.is_empty(), "{r:?}");
    let refresh_aud = format!("{}/v1/refresh", a.config.issuer);
    assert_eq!(r.aud, [a.config.audience.clone(), refresh_aud]);
    assert!(
        a.check_refresh_at(&refresh, r.nbf - 1).is_err(),
        "before nbf"
    );
    let (found, seen) = a.check_refresh_at(&refresh, r.nbf).unwrap();
    assert_eq!((found.id.as_str(), seen.iat), (key.id.as_str(), r.iat));
    assert!(a.check_refresh_at(&refresh, r.exp - 1).is_ok());
    assert!(a.check_refresh_at(&refresh, r.exp).is_err(), "at exp");
    assert!(a.check_refresh(&refresh).is_err(), "now is before its nbf");
    // An access token is not a refresh token.
    let at = peek(&access).unwrap().iat;
    assert!(a.check_refresh_at(&access, at).is_err());
    // A refresh token needs both audiences, our issuer, a known key and iat <= now.
    let base = JwtClaims {
        aud: r.aud.clone(),
        ..claims(a, T0, T0, T0 + 60)
    };
    assert!(a.check_refresh_at(&a.sign(base.clone()), T0).is_ok());
    let forged = [
        JwtClaims {
            aud: vec![r.aud[1].clone()],
            ..base.clone()
        },
        JwtClaims {
            iss: "https://evil.example".into(),
            ..base.clone()
        },
        JwtClaims {
            sub: Ulid::new().to_string(),
            ..base.clone()
        },
        JwtClaims {
            iat: T0 + 1,
            ..base.clone()
        },
    ];
    for c in forged {
        assert!(a.check_refresh_at(&a.sign(c.clone()), T0).is_err(), "{c:?}");
    }
    assert!(a.check_refresh_at("garbage", T0).is_err());
}
