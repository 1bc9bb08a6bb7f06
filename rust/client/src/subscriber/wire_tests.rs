//! Tests of the hand-written wire reader: it reads what prost writes, field for field,
//! and rejects damaged or truncated messages instead of misreading them.

use super::*;
use ensign_proto::api;
use prost::Message;

fn full_event() -> api::Event {
    api::Event {
        data: Bytes::from_static(b"hello"),
        metadata: [("k".to_string(), "v".to_string()), ("a".into(), "".into())].into(),
        mimetype: 514,
        r#type: Some(api::Type {
            name: "Thing".into(),
            major_version: 1,
            minor_version: 300,
            patch_version: 3,
        }),
        created: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 999_999_999,
        }),
    }
}

#[test]
fn reads_what_prost_writes() {
    let ev = full_event();
    let w = api::EventWrapper {
        id: Bytes::from_static(b"0123456789"),
        topic_id: Bytes::from_static(&[7; 16]),
        offset: u64::MAX,
        epoch: 3,
        region: 5,
        publisher: Some(api::Publisher {
            publisher_id: "p".into(),
            client_id: "c".into(),
            ipaddr: "1.2.3.4".into(),
            user_agent: "ua".into(),
        }),
        key: Bytes::from_static(b"key"),
        shard: 9,
        event: ev.encode_to_vec().into(),
        is_duplicate: true,
        committed: Some(prost_types::Timestamp {
            seconds: -5,
            nanos: 7,
        }),
        local_id: Bytes::from_static(&[1; 16]),
        ..Default::default()
    };
    let encoded = api::SubscribeReply {
        embed: Some(api::subscribe_reply::Embed::Event(w.clone())),
    }
    .encode_to_vec();
    let ReplyRef::Event(raw) = reply(&encoded).unwrap() else {
        panic!("an event");
    };
    let got = wrapper(raw).unwrap();
    assert_eq!(got.id, &w.id[..]);
    assert_eq!(got.topic_id, &w.topic_id[..]);
    assert_eq!((got.offset, got.epoch), (u64::MAX, 3));
    assert_eq!(got.committed, Some((-5, 7)));
    let e = event(got.event).unwrap();
    assert_eq!(e.data, b"hello");
    assert_eq!(e.metadata, ev.metadata);
    assert_eq!(e.mimetype, 514);
    assert_eq!(e.type_name, b"Thing");
    assert_eq!(e.type_version, (1, 300, 3));
    assert_eq!(e.created, Some((1_700_000_000, 999_999_999)));
}

#[test]
fn empty_and_other_replies() {
    assert_eq!(event(&[]).unwrap(), EventRef::default());
    let ready = api::SubscribeReply {
        embed: Some(api::subscribe_reply::Embed::Ready(api::StreamReady {
            client_id: "c".into(),
            ..Default::default()
        })),
    }
    .encode_to_vec();
    let ReplyRef::Ready(raw) = reply(&ready).unwrap() else {
        panic!("ready");
    };
    assert_eq!(api::StreamReady::decode(raw).unwrap().client_id, "c");
    let close = api::SubscribeReply {
        embed: Some(api::subscribe_reply::Embed::CloseStream(Default::default())),
    }
    .encode_to_vec();
    assert_eq!(reply(&close).unwrap(), ReplyRef::CloseStream);
    assert_eq!(reply(&[]).unwrap(), ReplyRef::Empty);
}

#[test]
fn garbage_is_rejected_not_misread() {
    assert!(event(b"\xff\xff\xff").is_err());
    assert!(
        event(&[0x12, 0x05, b'a']).is_err(),
        "data runs past the end"
    );
    assert!(event(&[0x20, 0x80]).is_err(), "truncated varint");
    assert!(event(&[0x13]).is_err(), "groups are not supported");
    assert!(event(&[0x22, 0x00]).is_err(), "mimetype must be a varint");
    assert!(wrapper(&[0x00, 0x00]).is_err(), "field 0 does not exist");
    // A valid Event with a field this client does not know is fine.
    let mut b = full_event().encode_to_vec();
    b.extend_from_slice(&[0xf8, 0x01, 0x05]); // field 31, varint 5
    assert_eq!(event(&b).unwrap().data, b"hello");
}
