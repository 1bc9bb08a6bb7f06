//! What a Go server's JSON and time formats look like from outside, for the Quarterdeck
//! endpoints: request bodies decoded as Go's `encoding/json` decodes them into a struct
//! of string fields, `time.Duration.String()` and `time.Time.Format(time.RFC3339Nano)`.
//!
//! Concurrency: pure functions.

use std::fmt;
use std::time::Duration;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// The entries of a JSON object, in document order.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A body Go would fail to decode (Quarterdeck: 400 "could not parse request").
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("could not parse request")]
pub struct Unparsable;

/// Decodes the string fields `names` from a request body the way Go's
/// `json.NewDecoder(body).Decode(&struct)` does (gin's `BindJSON`):
///
/// * only the first JSON value counts; whatever follows it is ignored;
/// * it must be an object; keys match field names exactly or, failing that, ignoring
///   ASCII case; a later key overwrites an earlier one; unknown keys are ignored;
/// * `null` leaves a field as it was; any other non-string value is an error.
///
/// A field is `None` when absent or null. Go also replaces invalid UTF-8 where this
/// refuses it, and panics on a top-level `null`.
pub fn decode_string_fields<const N: usize>(
    body: &[u8],
    names: [&str; N],
) -> Result<[Option<String>; N], Unparsable> {
    let first = serde_json::Deserializer::from_slice(body)
        .into_iter::<Entries>()
        .next();
    let Some(Ok(Entries(entries))) = first else {
        return Err(Unparsable);
    };
    let mut out: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in entries {
        let field = names
            .iter()
            .position(|n| *n == key)
            .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(&key)));
        let Some(i) = field else { continue };
        match value {
            Value::String(s) => out[i] = Some(s),
            Value::Null => {}
            _ => return Err(Unparsable),
        }
    }
    Ok(out)
}

/// Go's `time.Duration.String()`: "0s", "850ns", "1.5µs", "12.3ms", "4.05s", "3m0.5s",
/// "2h0m1s".
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", decimal(ns, 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", decimal(ns, 1_000_000, 6));
    }
    let (hour, minute) = (3_600_000_000_000u128, 60_000_000_000u128);
    let secs = format!("{}s", decimal(ns % minute, 1_000_000_000, 9));
    match (ns / hour, ns % hour / minute) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// `v / unit` with its fraction (`digits` wide), trailing zeros dropped.
fn decimal(v: u128, unit: u128, digits: usize) -> String {
    let (int, frac) = (v / unit, v % unit);
    if frac == 0 {
        return int.to_string();
    }
    let frac = format!("{frac:0digits$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// Go's `t.UTC().Format(time.RFC3339Nano)` for a Unix time: "2024-05-01T12:00:00Z",
/// "2024-05-01T12:00:00.5Z".
pub fn rfc3339_nano(unix_secs: i64, nanos: u32) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_go() {
        let f = |b: &str| decode_string_fields(b.as_bytes(), ["client_id", "client_secret"]);
        let some = |s: &str| Some(s.to_string());
        assert_eq!(
            f(r#"{"client_id":"a","client_secret":"b"}"#),
            Ok([some("a"), some("b")])
        );
        assert_eq!(
            f(r#" {"CLIENT_ID":"a","extra":5,"client_secret":null} trailing"#),
            Ok([some("a"), None])
        );
        assert_eq!(
            f(r#"{"client_id":"a","Client_Id":"b","client_secret":""}"#),
            Ok([some("b"), some("")])
        );
        for bad in ["", "[]", "\"x\"", "5", "null", "{", r#"{"client_id":5}"#] {
            assert_eq!(f(bad), Err(Unparsable), "{bad:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        let d = |ns: u64| go_duration(Duration::from_nanos(ns));
        assert_eq!(d(0), "0s");
        assert_eq!(d(850), "850ns");
        assert_eq!(d(1_500), "1.5µs");
        assert_eq!(d(12_300_000), "12.3ms");
        assert_eq!(d(4_050_000_000), "4.05s");
        assert_eq!(d(180_500_000_000), "3m0.5s");
        assert_eq!(d(7_201_000_000_000), "2h0m1s");
        assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_714_564_800, 500_000_000),
            "2024-05-01T12:00:00.5Z"
        );
        assert_eq!(rfc3339_nano(951_782_400, 0), "2000-02-29T00:00:00Z");
    }
}
