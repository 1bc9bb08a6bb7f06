//! The RPCs of `ensign.v1beta1.Ensign` as the layers in front of the service see them:
//! their path, whether they stream, and who may call them (semantics §1). The
//! authorization layer and the metrics layer both look calls up here, once per call.
//!
//! Concurrency: constant data.

use crate::auth::Perm;

/// The gRPC service name (the `service` label of the metrics).
pub const SERVICE: &str = "ensign.v1beta1.Ensign";

/// Unary call, or a stream in either direction (the `type` label of the metrics, as
/// the real server's monitoring interceptor sets it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Unary,
    Stream,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::Stream => "stream",
        }
    }
}

/// Who may call an RPC. Checked by `grpc::auth` before the handler runs.
#[derive(Clone, Copy, Debug)]
pub enum Access {
    /// No token needed (Status).
    Public,
    /// A valid token; the handler checks permissions that depend on the request
    /// (DeleteTopic: ARCHIVE needs `topics:edit`, DESTROY `topics:destroy`).
    Authenticated,
    /// A valid token holding every one of these permissions.
    All(&'static [Perm]),
    /// A valid token holding at least one of these permissions.
    Any(&'static [Perm]),
}

/// One RPC of the service.
#[derive(Debug)]
pub struct Method {
    pub name: &'static str,
    pub kind: Kind,
    pub access: Access,
    /// The token's project must be this server's project (`PERMISSION_DENIED`
    /// otherwise), checked right after the permissions. `false` where the handler
    /// answers a foreign project its own way (an empty page, `INVALID_ARGUMENT` for a
    /// missing project in the request...).
    pub own_project: bool,
    /// The service counts the messages it receives itself (`recv::Inbound`): the
    /// client streams it reads message by message.
    pub counts_recv: bool,
}

const fn m(name: &'static str, kind: Kind, access: Access, own_project: bool) -> Method {
    Method {
        name,
        kind,
        access,
        own_project,
        counts_recv: false,
    }
}

/// A client stream read through `recv::Inbound`.
const fn inbound(m: Method) -> Method {
    Method {
        counts_recv: true,
        ..m
    }
}

use Access::*;
use Kind::*;
use Perm::*;

const READERS: &[Perm] = &[TopicsRead, Publisher, Subscriber];

/// Every RPC, in the order of the proto file.
pub static METHODS: [Method; 13] = [
    inbound(m("Publish", Stream, All(&[Publisher]), true)),
    inbound(m("Subscribe", Stream, All(&[Subscriber]), true)),
    m("EnSQL", Stream, Any(&[Subscriber, TopicsRead]), true),
    m("Explain", Unary, All(&[Subscriber]), true),
    m("ListTopics", Unary, All(&[TopicsRead]), true),
    m("CreateTopic", Unary, All(&[TopicsCreate]), false),
    m("RetrieveTopic", Unary, All(&[TopicsRead]), true),
    m("DeleteTopic", Unary, Authenticated, false),
    m("TopicNames", Unary, Any(READERS), false),
    m("TopicExists", Unary, Any(READERS), false),
    m("SetTopicPolicy", Unary, All(&[TopicsEdit]), true),
    m("Info", Unary, All(&[TopicsRead, MetricsRead]), true),
    m("Status", Unary, Public, false),
];

/// The RPC of a request path (`/ensign.v1beta1.Ensign/Publish`) and its index in
/// `METHODS`; `None` for anything else (tonic answers `UNIMPLEMENTED`).
pub fn lookup(path: &str) -> Option<(usize, &'static Method)> {
    let name = path
        .strip_prefix('/')?
        .strip_prefix(SERVICE)?
        .strip_prefix('/')?;
    METHODS.iter().enumerate().find(|(_, m)| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let (i, m) = lookup("/ensign.v1beta1.Ensign/Publish").unwrap();
        assert_eq!((i, m.name, m.kind), (0, "Publish", Kind::Stream));
        assert_eq!(lookup("/ensign.v1beta1.Ensign/Status").unwrap().0, 12);
        assert!(lookup("/ensign.v1beta1.Ensign/Nope").is_none());
        assert!(lookup("/grpc.health.v1.Health/Check").is_none());
        assert!(lookup("/ensign.v1beta1.EnsignX/Publish").is_none());
    }

    #[test]
    fn the_services_count_what_publish_and_subscribe_receive() {
        let counting: Vec<_> = METHODS
            .iter()
            .filter(|m| m.counts_recv)
            .map(|m| m.name)
            .collect();
        assert_eq!(counting, ["Publish", "Subscribe"]);
    }
}
