//! The hand parser of acks must agree with prost on every input it accepts, and step
//! aside (return `None`) on everything else.

use ensign_proto::api::{publisher_reply, Ack, Nack, PublisherReply};
use ensign_proto::Timestamp;
use prost::Message;

use bytes::Buf;

use super::{decode_frame, parse_ack, Reply};

fn ack_reply(id: &[u8], committed: Option<(i64, i32)>) -> Vec<u8> {
    PublisherReply {
        embed: Some(publisher_reply::Embed::Ack(Ack {
            id: id.to_vec().into(),
            committed: committed.map(|(seconds, nanos)| Timestamp { seconds, nanos }),
        })),
    }
    .encode_to_vec()
}

fn nack_reply() -> Vec<u8> {
    PublisherReply {
        embed: Some(publisher_reply::Embed::Nack(Nack {
            id: vec![1u8; 16].into(),
            code: 3,
            error: "x".into(),
        })),
    }
    .encode_to_vec()
}

/// What prost makes of `buf`, in the same form (`None` if it is not an ack of 16 bytes).
fn via_prost(buf: &[u8]) -> Option<Reply> {
    let reply = PublisherReply::decode(buf).ok()?;
    match reply.embed {
        Some(publisher_reply::Embed::Ack(ack)) => {
            let ts = ack.committed.unwrap_or_default();
            Some(Reply::Ack {
                id: ack.id.as_ref().try_into().ok()?,
                seconds: ts.seconds,
                nanos: ts.nanos,
            })
        }
        _ => None,
    }
}

#[test]
fn acks_parse_like_prost() {
    let id = *b"0123456789abcdef";
    for committed in [
        None,
        Some((0, 0)),
        Some((1_700_000_000, 123_456_789)),
        Some((-62_135_596_800, 0)),
        Some((i64::MAX, 999_999_999)),
        Some((i64::MIN, -1)),
        Some((0, i32::MIN)),
    ] {
        let buf = ack_reply(&id, committed);
        let got = parse_ack(&buf);
        assert!(got.is_some(), "{committed:?}");
        assert_eq!(got, via_prost(&buf), "{committed:?}");
    }
}

#[test]
fn other_replies_and_other_ids_are_left_to_prost() {
    for id in [&b""[..], &b"short"[..], &[7u8; 17][..]] {
        assert_eq!(parse_ack(&ack_reply(id, Some((1, 2)))), None);
    }
    assert_eq!(parse_ack(&nack_reply()), None);
    assert_eq!(parse_ack(&[]), None);
    // An unknown field inside the ack: prost skips it; the parser steps aside.
    let mut with_unknown = vec![0x0A];
    let mut inner = Ack {
        id: vec![1u8; 16].into(),
        committed: None,
    }
    .encode_to_vec();
    inner.extend_from_slice(&[0x18, 0x01]); // field 3, varint 1
    with_unknown.push(inner.len() as u8);
    with_unknown.extend_from_slice(&inner);
    assert!(PublisherReply::decode(&with_unknown[..]).is_ok());
    assert_eq!(parse_ack(&with_unknown), None);
}

#[test]
fn repeated_fields_resolve_as_protobuf_does() {
    // Two ids (the last wins) and two committed messages (merged field by field).
    let mut inner = Vec::new();
    inner.extend_from_slice(&[0x0A, 16]);
    inner.extend_from_slice(&[1u8; 16]);
    inner.extend_from_slice(&[0x12, 2, 0x08, 9]); // committed { seconds: 9 }
    inner.extend_from_slice(&[0x0A, 16]);
    inner.extend_from_slice(&[2u8; 16]);
    inner.extend_from_slice(&[0x12, 2, 0x10, 4]); // committed { nanos: 4 }
    let mut buf = vec![0x0A, inner.len() as u8];
    buf.extend_from_slice(&inner);
    let got = parse_ack(&buf);
    assert_eq!(
        got,
        Some(Reply::Ack {
            id: [2u8; 16],
            seconds: 9,
            nanos: 4
        })
    );
    assert_eq!(got, via_prost(&buf));
}

#[test]
fn damaged_input_never_panics_and_never_disagrees_with_prost() {
    // Every truncation and every single-byte change of a valid ack, plus seeded noise:
    // whatever the parser accepts, prost reads the same way.
    let valid = ack_reply(b"fedcba9876543210", Some((1_700_000_001, 42)));
    let mut cases: Vec<Vec<u8>> = (0..valid.len()).map(|n| valid[..n].to_vec()).collect();
    for i in 0..valid.len() {
        for b in [0x00, 0x01, 0x0A, 0x12, 0x7F, 0x80, 0xFF] {
            let mut c = valid.clone();
            c[i] = b;
            cases.push(c);
        }
    }
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 48) as usize;
        let mut c = valid.clone();
        c.truncate(len.min(c.len()));
        for (k, byte) in c.iter_mut().enumerate() {
            if (seed >> (k % 64)) & 7 == 0 {
                *byte = (seed >> 8) as u8 ^ k as u8;
            }
        }
        cases.push(c);
    }
    for c in cases {
        if let Some(got) = parse_ack(&c) {
            assert_eq!(Some(got), via_prost(&c), "{c:?}");
        }
    }
    // Varints: ten bytes at most, and no more than 64 bits.
    let mut long = vec![0x0A, 12, 0x0A];
    long.extend_from_slice(&[0xFF; 11]);
    assert_eq!(parse_ack(&long), None);
}

#[test]
fn a_ten_byte_varint_is_read_up_to_64_bits_like_prost() {
    // `committed.seconds` as a ten-byte varint whose last byte is `last`: 0 and 1 are
    // valid (non-canonical) encodings that prost accepts; 2 and above overflow 64 bits.
    let frame = |last: u8| {
        let mut ts = vec![0x08];
        ts.extend_from_slice(&[0x80; 9]);
        ts.push(last);
        let mut ack = vec![0x0A, 16];
        ack.extend_from_slice(b"0123456789abcdef");
        ack.extend_from_slice(&[0x12, ts.len() as u8]);
        ack.extend_from_slice(&ts);
        let mut reply = vec![0x0A, ack.len() as u8];
        reply.extend_from_slice(&ack);
        reply
    };
    for (last, seconds) in [(0u8, 0i64), (1, i64::MIN)] {
        let buf = frame(last);
        let got = parse_ack(&buf);
        assert!(
            matches!(got, Some(Reply::Ack { seconds: s, .. }) if s == seconds),
            "{last}"
        );
        assert_eq!(got, via_prost(&buf));
    }
    for last in [2u8, 0x7F] {
        assert_eq!(parse_ack(&frame(last)), None, "{last}");
        assert!(PublisherReply::decode(&frame(last)[..]).is_err());
    }
}

#[test]
fn frames_decode_to_fast_acks_when_whole_and_through_prost_when_split() {
    let buf = ack_reply(b"0123456789abcdef", Some((7, 8)));
    let whole = decode_frame(&mut &buf[..]).unwrap();
    assert_eq!(whole, parse_ack(&buf).unwrap());
    // A frame in two pieces is read by prost, with the same content.
    for cut in [1, buf.len() / 2, buf.len() - 1] {
        let mut split = (&buf[..cut]).chain(&buf[cut..]);
        let Reply::Other(msg) = decode_frame(&mut split).unwrap() else {
            panic!("a split frame goes through prost");
        };
        assert_eq!(msg.encode_to_vec(), buf);
        assert_eq!(split.remaining(), 0);
    }
    // Anything else goes through prost too, and damage is an error, never a panic.
    let nack = nack_reply();
    assert!(matches!(decode_frame(&mut &nack[..]), Ok(Reply::Other(_))));
    let err = decode_frame(&mut &buf[..buf.len() - 3]).unwrap_err();
    assert_eq!(err.code(), tonic::Code::Internal);
}
