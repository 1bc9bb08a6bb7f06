//! The stored body of a published event: its `EventWrapper` as the client sent it, with
//! no id, no local id and no publisher of its own, the commit time (field 15), then the
//! RLID (field 1) and the stream's publisher (field 6) appended. Protobuf readers merge
//! fields in any order, so this decodes as the wrapper with all four set. These bytes
//! are what memory mode keeps, what the log's event records carry and what replay and
//! subscribers read back: their layout must not change.
//!
//! Why not let prost encode the patched wrapper whole: the commit time is the same for
//! every event of a batch, so its field is encoded once per batch (`CommittedField`),
//! and `encode_raw` skips the length pass `Message::encode` makes over every field
//! before writing (the buffer is a growable `BytesMut`, it needs no check).
//!
//! Concurrency: plain functions, called under the broker's append lock.

use bytes::{BufMut, BytesMut};
use ensign_proto::api::EventWrapper;
use ensign_proto::rlid::Rlid;
use ensign_proto::Timestamp;
use prost::Message;

/// `committed` (field 15) of one batch, encoded once.
pub struct CommittedField {
    bytes: BytesMut,
}

impl CommittedField {
    pub fn new(committed: &Timestamp) -> Self {
        let mut bytes = BytesMut::with_capacity(32);
        prost::encoding::message::encode(15, committed, &mut bytes);
        CommittedField { bytes }
    }
}

/// Appends the stored body of `wrapper` to `buf`. The client's `id`, `local_id`,
/// `publisher` and `committed` are cleared in `wrapper` (the caller sets what live
/// subscribers should see afterwards).
pub fn encode(
    buf: &mut BytesMut,
    wrapper: &mut EventWrapper,
    committed: &CommittedField,
    rlid: &Rlid,
    publisher_field: &[u8],
) {
    wrapper.id = Default::default();
    wrapper.local_id = Default::default();
    wrapper.publisher = None;
    wrapper.committed = None;
    // NOTE: fields 2..=13 in order, as prost writes them; `committed` (15) follows and
    // `local_id` (16), the only later field, is empty: the bytes are those prost writes
    // for the wrapper with `committed` set.
    wrapper.encode_raw(buf);
    buf.put_slice(&committed.bytes);
    buf.put_slice(&[0x0a, 10]);
    buf.put_slice(rlid.as_bytes());
    buf.put_slice(publisher_field);
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ensign_proto::api;

    use super::*;

    /// A wrapper with every field a client can set, and the ones the server replaces.
    fn full() -> EventWrapper {
        EventWrapper {
            id: Bytes::from_static(b"client-id"),
            topic_id: Bytes::from_static(&[3; 16]),
            offset: 7,
            epoch: 9,
            region: 2,
            publisher: Some(api::Publisher {
                publisher_id: "spoofed".into(),
                ..Default::default()
            }),
            key: Bytes::from_static(b"k"),
            shard: 4,
            event: Bytes::from(vec![5u8; 300]),
            encryption: Some(api::Encryption {
                public_key_id: "kid".into(),
                ..Default::default()
            }),
            compression: Some(api::Compression {
                level: 3,
                ..Default::default()
            }),
            is_duplicate: true,
            duplicate_id: Bytes::from_static(b"dup"),
            committed: Some(Timestamp {
                seconds: 1,
                nanos: 2,
            }),
            local_id: Bytes::from_static(&[8; 16]),
        }
    }

    #[test]
    fn same_bytes_as_prost_writes_for_the_patched_wrapper() {
        let committed = Timestamp {
            seconds: 1_764_565_000,
            nanos: 123_456_789,
        };
        let rlid = Rlid::new(1_764_565_000_123, 42);
        let publisher = api::Publisher {
            publisher_id: "p".into(),
            client_id: "c".into(),
            ipaddr: "127.0.0.1:5".into(),
            user_agent: "ua".into(),
        };
        let mut field = BytesMut::new();
        prost::encoding::message::encode(6, &publisher, &mut field);
        for w in [full(), EventWrapper::default()] {
            // What the broker wrote before: prost's encoding of the patched wrapper,
            // then the RLID and publisher fields.
            let mut expected = BytesMut::new();
            let mut patched = w.clone();
            patched.id = Bytes::new();
            patched.local_id = Bytes::new();
            patched.publisher = None;
            patched.committed = Some(committed);
            patched.encode(&mut expected).unwrap();
            expected.put_slice(&[0x0a, 10]);
            expected.put_slice(rlid.as_bytes());
            expected.put_slice(&field);

            let mut buf = BytesMut::from(&b"before"[..]);
            let mut w = w;
            encode(
                &mut buf,
                &mut w,
                &CommittedField::new(&committed),
                &rlid,
                &field,
            );
            assert_eq!(&buf[..6], b"before");
            assert_eq!(&buf[6..], &expected[..]);
            let back = EventWrapper::decode(&buf[6..]).unwrap();
            assert_eq!(back.id.as_ref(), rlid.as_bytes());
            assert_eq!(back.committed, Some(committed));
            assert_eq!(back.publisher, Some(publisher.clone()));
            assert!(back.local_id.is_empty());
            assert!(w.publisher.is_none() && w.committed.is_none() && w.id.is_empty());
        }
    }
}
