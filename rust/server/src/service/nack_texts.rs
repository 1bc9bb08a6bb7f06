//! The texts of the nacks the server sends, as the real server words them.
//!
//! Concurrency: pure functions.

use ensign_proto::api::nack::Code;

/// The real server's default Nack texts (`DefaultNackMessage`).
pub fn default_nack_message(code: Code) -> &'static str {
    match code {
        Code::MaxEventSizeExceeded => "maximum event size has been exceeded",
        Code::TopicUnknown => "topic unknown or unhandled",
        Code::TopicArchived => "cannot publish to an archived topic",
        Code::TopicDeleted => "topic is currently being deleted",
        Code::PermissionDenied => "not authorized to perform this action",
        Code::Internal => "internal error, please wait and try again",
        _ => "unknown error",
    }
}
