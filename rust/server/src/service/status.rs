//! Status (no token needed) and small formatting helpers shared by the RPCs.
//!
//! Concurrency: pure functions over the immutable parts of `ServerState`.

use ensign_proto::api::{self, service_state};
use ensign_proto::{Duration, Timestamp};

use crate::broker::timestamp_now;
use crate::state::ServerState;

/// `Status`: HEALTHY, the version, the uptime, and the `not_before`/`not_after` hints
/// of the real server (now + 1 min, now + 1 h). Request fields are ignored.
pub fn status(state: &ServerState, _req: &api::HealthCheck) -> api::ServiceState {
    let up = state.started.elapsed();
    let now = timestamp_now();
    let later = |secs: i64| Timestamp {
        seconds: now.seconds + secs,
        nanos: now.nanos,
    };
    api::ServiceState {
        status: service_state::Status::Healthy as i32,
        version: ServerState::version(),
        uptime: Some(Duration {
            seconds: up.as_secs() as i64,
            nanos: up.subsec_nanos() as i32,
        }),
        not_before: Some(later(60)),
        not_after: Some(later(3600)),
    }
}

/// Go's `%q`: a double-quoted string with Go escapes (TopicExists `query`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_quote() {
        assert_eq!(super::go_quote("orders"), "\"orders\"");
        assert_eq!(super::go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
    }
}
