//! Auth mode: API keys, RS256 tokens with Quarterdeck's claims and lifetimes, the
//! Quarterdeck HTTP endpoints, and the per-RPC bearer token check.
//!
//! * `keys`: the signing key and the API keys (made up, or kept in the data directory).
//! * `tokens`: JWT encoding, signing and signature checks.
//! * `interceptor`: what every RPC does with its `authorization` metadata.
//! * `quarterdeck`: `/v1/authenticate`, `/v1/refresh`, `/.well-known/jwks.json`,
//!   `/v1/status`, answering as Quarterdeck does.
//! * `ratelimit`: Quarterdeck's rate limit of those endpoints.
//! * `go_compat`: Go's JSON decoding and time formats, as Quarterdeck shows them.
//!
//! Concurrency: `Auth` is immutable after start except for a small verified-token
//! cache, the revoked keys, the last logins and the rate-limit buckets, each behind a
//! mutex.

pub mod go_compat;
pub mod interceptor;
pub mod keys;
pub mod quarterdeck;
pub mod ratelimit;
pub mod tokens;

use ulid::Ulid;

pub use interceptor::Auth;

/// The Ensign permissions an API key can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    TopicsCreate,
    TopicsEdit,
    TopicsDestroy,
    TopicsRead,
    MetricsRead,
    Publisher,
    Subscriber,
}

impl Perm {
    pub const ALL: [Perm; 7] = [
        Perm::TopicsCreate,
        Perm::TopicsEdit,
        Perm::TopicsDestroy,
        Perm::TopicsRead,
        Perm::MetricsRead,
        Perm::Publisher,
        Perm::Subscriber,
    ];

    /// The permission's name in token claims.
    pub fn as_str(self) -> &'static str {
        match self {
            Perm::TopicsCreate => "topics:create",
            Perm::TopicsEdit => "topics:edit",
            Perm::TopicsDestroy => "topics:destroy",
            Perm::TopicsRead => "topics:read",
            Perm::MetricsRead => "metrics:read",
            Perm::Publisher => "publisher",
            Perm::Subscriber => "subscriber",
        }
    }

    pub fn parse(s: &str) -> Option<Perm> {
        Perm::ALL.into_iter().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// What the server uses from a verified token: who, which project, which permissions.
#[derive(Clone, Debug)]
pub struct Claims {
    /// `sub`: the API key id, used as the publisher id.
    pub sub: String,
    /// `project`; `None` when missing or not a ULID.
    pub project: Option<Ulid>,
    perms: u8,
}

impl Claims {
    /// No-auth mode: the one project and every permission.
    pub fn all(project: Ulid) -> Self {
        Claims {
            sub: String::new(),
            project: Some(project),
            perms: u8::MAX,
        }
    }

    pub fn new(sub: String, project: Option<Ulid>, permissions: &[String]) -> Self {
        let perms = permissions
            .iter()
            .filter_map(|p| Perm::parse(p))
            .fold(0, |acc, p| acc | p.bit());
        Claims {
            sub,
            project,
            perms,
        }
    }

    pub fn has(&self, p: Perm) -> bool {
        self.perms & p.bit() != 0
    }

    pub fn has_any(&self, ps: &[Perm]) -> bool {
        ps.iter().any(|p| self.has(*p))
    }
}
