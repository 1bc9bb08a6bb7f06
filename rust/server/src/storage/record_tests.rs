//! Tests of the record format: framing, every check of a frame header, the largest
//! record, scanning for the next header, torn-tail shapes and the file header.

use super::*;

fn event_record(topic: &TopicKey, rlid: &Rlid, id: &PublishId, wrapper: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    let start = begin_event(&mut buf, topic, rlid, id);
    buf.put_slice(wrapper);
    finish(&mut buf, start);
    buf.freeze()
}

/// A frame header with any fields, its own checksum computed.
fn raw_header(sync: u32, len: u32, body_crc: u32) -> [u8; FRAME_HEADER] {
    let mut h = [0u8; FRAME_HEADER];
    h[..4].copy_from_slice(&sync.to_le_bytes());
    h[4..8].copy_from_slice(&len.to_le_bytes());
    h[8..12].copy_from_slice(&body_crc.to_le_bytes());
    let c = crc32fast::hash(&h[..12]);
    h[12..].copy_from_slice(&c.to_le_bytes());
    h
}

#[test]
fn records_roundtrip_in_sequence() {
    let key = TopicKey([7; 16]);
    let rlid = Rlid::new(1, 2);
    let id = PublishId {
        scope: 0x1122_3344_5566_7788,
        local_id: [9; 16],
    };
    let mut data = BytesMut::new();
    data.put_slice(&event_record(&key, &rlid, &id, b"wrapper"));
    data.put_slice(&topic_create(&api::Topic {
        name: "t".into(),
        ..Default::default()
    }));
    data.put_slice(&topic_delete(&key));
    let data = data.freeze();
    let Parsed::Record(f, next) = parse(&data, 0, 100) else {
        panic!("event")
    };
    assert_eq!(f.kind, KIND_EVENT);
    assert_eq!(&f.payload[..16], &key.0);
    assert_eq!(&f.payload[16..26], rlid.as_bytes());
    assert_eq!(&f.payload[26..34], &id.scope.to_le_bytes());
    assert_eq!(&f.payload[34..50], &id.local_id);
    assert_eq!(&f.payload[EVENT_PREFIX..], b"wrapper");
    assert_eq!(f.payload_offset, 100 + FRAME_HEADER as u64 + 1);
    assert_eq!(
        f.payload_offset + EVENT_PREFIX as u64,
        100 + EVENT_BODY_OFFSET as u64
    );
    let Parsed::Record(f2, next2) = parse(&data, next, 0) else {
        panic!("create")
    };
    assert_eq!(f2.kind, KIND_TOPIC_CREATE);
    let Parsed::Record(f3, end) = parse(&data, next2, 0) else {
        panic!("delete")
    };
    assert_eq!((f3.kind, f3.payload), (KIND_TOPIC_DELETE, &key.0[..]));
    assert!(matches!(parse(&data, end, 0), Parsed::End));
    assert_eq!(end, data.len());
}

#[test]
fn cut_flipped_and_garbage_records_are_told_apart() {
    let rec = topic_delete(&TopicKey([1; 16]));
    for cut in 1..rec.len() {
        assert!(
            matches!(parse(&rec[..cut], 0, 0), Parsed::Short),
            "cut at {cut}"
        );
    }
    // The same cuts after a whole record: the header check counts from `pos`, not from 0.
    let mut two = rec.to_vec();
    two.extend_from_slice(&rec);
    for cut in 1..rec.len() {
        let data = &two[..rec.len() + cut];
        assert!(
            matches!(parse(data, rec.len(), 0), Parsed::Short),
            "second record cut at {cut}"
        );
    }
    for i in 0..rec.len() {
        let mut bad = rec.to_vec();
        bad[i] ^= 0x10;
        match parse(&bad, 0, 0) {
            Parsed::BadHeader => assert!(i < FRAME_HEADER, "byte {i}"),
            Parsed::BadBody { next } => {
                assert!(i >= FRAME_HEADER, "byte {i}");
                assert_eq!(next, rec.len());
            }
            other => panic!("byte {i}: {other:?}"),
        }
    }
}

#[test]
fn every_field_of_a_frame_header_is_checked() {
    let ok = raw_header(SYNC, 10, 0);
    assert_eq!(header_at(&ok, 0), Some(10));
    // A wrong sync word with a matching header checksum.
    assert_eq!(header_at(&raw_header(SYNC ^ 1, 10, 0), 0), None);
    // A right sync word with a wrong header checksum.
    let mut bad = ok;
    bad[12] ^= 1;
    assert_eq!(header_at(&bad, 0), None);
    // Lengths: zero and past the limit are refused, the limit itself is not.
    assert_eq!(header_at(&raw_header(SYNC, 0, 0), 0), None);
    assert_eq!(header_at(&raw_header(SYNC, 1, 0), 0), Some(1));
    let max = MAX_RECORD as u32;
    assert_eq!(header_at(&raw_header(SYNC, max, 0), 0), Some(MAX_RECORD));
    assert_eq!(header_at(&raw_header(SYNC, max + 1, 0), 0), None);
    assert_eq!(header_at(&raw_header(SYNC, u32::MAX, 0), 0), None);
    // Not enough bytes for a header, at any position.
    assert_eq!(header_at(&ok[..15], 0), None);
    assert_eq!(header_at(&ok, 1), None);
    assert_eq!(header_at(&ok, usize::MAX - 3), None);
}

#[test]
fn the_largest_event_fits_a_record() {
    // An 8 MiB gRPC message (the server's limit) plus the record's fields.
    const { assert!(MAX_RECORD > 8 * 1024 * 1024 + EVENT_BODY_OFFSET + 4096) };
    let big = vec![0xAB; 8 * 1024 * 1024];
    let rec = event_record(
        &TopicKey([2; 16]),
        &Rlid::new(5, 6),
        &PublishId::default(),
        &big,
    );
    let Parsed::Record(f, next) = parse(&rec, 0, 0) else {
        panic!("an 8 MiB event is one record")
    };
    assert_eq!(next, rec.len());
    assert_eq!(f.payload.len(), EVENT_PREFIX + big.len());
}

#[test]
fn scanning_finds_the_next_valid_header_only() {
    let rec = topic_delete(&TopicKey([3; 16]));
    let sync0 = SYNC.to_le_bytes()[0];
    let mut data = vec![sync0, 0, sync0, sync0, 1, 2, 3];
    let at = data.len();
    data.extend_from_slice(&rec);
    assert_eq!(find_header(&data, 0), Some(at));
    assert_eq!(find_header(&data, at), Some(at));
    assert_eq!(find_header(&data, at + 1), None);
    // A header that ends exactly at the end of the data is found.
    let h = raw_header(SYNC, 4, 0);
    let mut tail = vec![1u8, 2, 3];
    tail.extend_from_slice(&h);
    assert_eq!(find_header(&tail, 0), Some(3));
    assert_eq!(find_header(&tail[..tail.len() - 1], 0), None);
    assert_eq!(find_header(&[], 0), None);
}

#[test]
fn torn_tails_look_like_a_record_start_or_zeros() {
    let sync = SYNC.to_le_bytes();
    assert!(could_be_torn(&sync[..1]));
    assert!(could_be_torn(&sync[..3]));
    assert!(could_be_torn(&[sync[0], sync[1], sync[2], sync[3], 9, 9]));
    assert!(could_be_torn(&[0, 0, 0, 0, 0]));
    assert!(could_be_torn(&[]));
    assert!(!could_be_torn(&[sync[0], 0, 0]));
    assert!(!could_be_torn(&[1, 0, 0, 0]));
}

#[test]
fn file_headers_carry_the_project_and_check() {
    let p = Ulid::new();
    let h = file_header(p);
    assert_eq!(&h[..12], MAGIC);
    assert_eq!(parse_file_header(&h), Some(p));
    for i in 0..FILE_HEADER {
        let mut bad = h;
        bad[i] ^= 0x40;
        assert_eq!(parse_file_header(&bad), None, "byte {i}");
    }
    assert_eq!(parse_file_header(&h[..31]), None);
    let mut v1 = h;
    v1[..12].copy_from_slice(MAGIC_V1);
    assert_eq!(parse_file_header(&v1), None);
}

#[test]
fn duplicates_records_hold_pairs() {
    let key = TopicKey([4; 16]);
    let pairs = [
        (Rlid::new(1, 2), Rlid::new(1, 1)),
        (Rlid::new(3, 4), Rlid::new(1, 1)),
    ];
    let rec = duplicates(&key, &pairs);
    let Parsed::Record(f, _) = parse(&rec, 0, 0) else {
        panic!()
    };
    assert_eq!(f.kind, KIND_DUPLICATES);
    assert_eq!(f.payload.len(), 16 + 2 * 20);
    assert_eq!(&f.payload[16..26], pairs[0].0.as_bytes());
    assert_eq!(&f.payload[26..36], pairs[0].1.as_bytes());
    assert!(PublishId::default().is_none());
    assert!(!PublishId {
        scope: 0,
        local_id: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    }
    .is_none());
}

#[test]
fn a_bare_header_is_short_and_sixteen_garbage_bytes_are_not() {
    let h = raw_header(SYNC, 4, 0);
    assert!(matches!(parse(&h, 0, 0), Parsed::Short));
    assert!(matches!(parse(&[7u8; 16], 0, 0), Parsed::BadHeader));
    assert!(matches!(parse(&[7u8; 15], 0, 0), Parsed::Short));
}
