//! A received event: the `EventWrapper` a subscriber or an EnSQL query gets, with its
//! `Event` payload decoded in Rust (on the runtime thread, never on the Python thread).
//!
//! What to do with an event whose payload cannot be delivered (pyensign-api.md K9:
//! pyensign's iterator died on those): an **empty** payload (`event` bytes empty, or an
//! `Event` with empty `data`) decodes to a valid, empty `Event` and is delivered as is;
//! a **garbled** payload (bytes that are not an `Event`) cannot be turned into anything
//! honest, so it is skipped, counted and reported as a warning (and a subscriber nacks
//! it with `UNKNOWN_TYPE`). Neither ends the stream.

use bytes::Bytes;
use ensign_proto::api::{self, EventWrapper};
use prost::Message;

/// Per-event bookkeeping overhead counted against the prefetch buffer's byte budget.
const OVERHEAD: usize = 96;

/// One event as received from the server.
#[derive(Clone, Debug)]
pub struct Received {
    /// The server's event id: a 10-byte RLID (semantics.md §2.2).
    pub id: Bytes,
    /// The 16-byte topic id.
    pub topic_id: Bytes,
    /// The decoded payload.
    pub event: api::Event,
    /// When the server committed it, as (seconds, nanos); live events have it, EnSQL
    /// results normally do not (semantics.md §9 #16).
    pub committed: Option<(i64, i32)>,
    /// Never assigned by the server (semantics.md §2.4), passed through.
    pub offset: u64,
    /// Never assigned by the server (semantics.md §2.4), passed through.
    pub epoch: u64,
}

impl Received {
    /// Bytes counted against the prefetch buffer.
    pub fn size(&self) -> usize {
        self.event.data.len() + OVERHEAD
    }

    /// `created` as nanoseconds since the Unix epoch (0 when unset).
    pub fn created_ns(&self) -> i64 {
        timestamp_ns(self.event.created.as_ref().map(|t| (t.seconds, t.nanos)))
    }

    /// `committed` as nanoseconds since the Unix epoch.
    pub fn committed_ns(&self) -> Option<i64> {
        self.committed.map(|c| timestamp_ns(Some(c)))
    }
}

fn timestamp_ns(ts: Option<(i64, i32)>) -> i64 {
    match ts {
        Some((s, n)) => s.saturating_mul(1_000_000_000).saturating_add(n as i64),
        None => 0,
    }
}

/// The result of decoding one wrapper.
#[derive(Debug)]
pub enum Decoded {
    /// Deliverable (possibly with empty data).
    Event(Received),
    /// The payload is not a valid `Event`: skip it and say so.
    Garbled { id: Bytes, reason: String },
}

/// Decodes the `Event` inside a wrapper; the payload bytes are shared, not copied.
pub fn decode(w: EventWrapper) -> Decoded {
    match api::Event::decode(w.event.clone()) {
        Ok(event) => Decoded::Event(Received {
            committed: w.committed.map(|t| (t.seconds, t.nanos)),
            id: w.id,
            topic_id: w.topic_id,
            event,
            offset: w.offset,
            epoch: w.epoch,
        }),
        Err(e) => Decoded::Garbled {
            reason: format!(
                "skipped event {} on topic {}: its payload is not a valid Event ({e})",
                show_id(&w.id),
                show_id(&w.topic_id)
            ),
            id: w.id,
        },
    }
}

/// An id for messages: the RLID string for 10 bytes, the ULID for 16, else hex.
pub fn show_id(b: &[u8]) -> String {
    if let Some(r) = ensign_proto::rlid::Rlid::from_slice(b) {
        return r.to_string();
    }
    if let Ok(a) = <[u8; 16]>::try_from(b) {
        return ulid::Ulid::from_bytes(a).to_string();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapper(event: Bytes) -> EventWrapper {
        EventWrapper {
            id: Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 2]),
            topic_id: Bytes::from_static(&[7; 16]),
            event,
            committed: Some(prost_types::Timestamp {
                seconds: 2,
                nanos: 5,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn empty_payloads_are_delivered() {
        let Decoded::Event(r) = decode(wrapper(Bytes::new())) else {
            panic!("an empty payload is a valid, empty Event");
        };
        assert!(r.event.data.is_empty());
        assert_eq!(r.committed_ns(), Some(2_000_000_005));
        assert_eq!(r.created_ns(), 0);
    }

    #[test]
    fn garbled_payloads_are_reported() {
        let Decoded::Garbled { reason, id } = decode(wrapper(Bytes::from_static(b"\xff\xff\xff")))
        else {
            panic!("garbage must not decode");
        };
        assert_eq!(id.len(), 10);
        assert!(reason.contains("not a valid Event"), "{reason}");
    }

    #[test]
    fn payload_fields_are_decoded() {
        let ev = api::Event {
            data: Bytes::from_static(b"hello"),
            mimetype: 50,
            r#type: Some(api::Type {
                name: "T".into(),
                major_version: 1,
                ..Default::default()
            }),
            ..Default::default()
        };
        let Decoded::Event(r) = decode(wrapper(ev.encode_to_vec().into())) else {
            panic!("valid");
        };
        assert_eq!(&r.event.data[..], b"hello");
        assert_eq!(r.event.r#type.unwrap().major_version, 1);
    }
}
