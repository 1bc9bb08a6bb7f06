//! Tests of the window of recent publishes: rings per stream, the index they move to,
//! superseded streams, bounds, failed writes and restoring from the log.

use std::sync::Arc;

use super::*;

fn key(scope: u64, n: u8) -> ResendKey {
    let mut local_id = [0u8; 16];
    local_id[15] = n;
    local_id[0] = 1;
    ResendKey::new(&PublishId { scope, local_id }, &TopicKey([3; 16])).unwrap()
}

fn index(window: usize) -> Arc<PublishedIndex> {
    Arc::new(PublishedIndex::new(window))
}

#[test]
fn a_stream_alone_never_looks_up_and_its_keys_move_to_the_index_when_it_ends() {
    let idx = index(8);
    let a = idx.open_stream(1);
    {
        let mut w = idx.lock();
        assert!(!w.must_check(a.id));
        w.record(a.id, key(1, 1), 10);
        w.record(a.id, key(1, 2), 11);
    }
    assert_eq!(idx.indexed(), 0, "kept in the stream's ring");
    drop(a);
    assert_eq!(idx.indexed(), 2);
    let b = idx.open_stream(1);
    let other = idx.open_stream(2);
    let mut w = idx.lock();
    assert!(w.must_check(b.id));
    assert!(
        !w.must_check(other.id),
        "another client has nothing indexed"
    );
    assert_eq!(w.lookup(&key(1, 2)), Some(11));
    assert_eq!(w.lookup(&key(1, 3)), None);
    assert_eq!(w.lookup(&key(2, 2)), None, "another publisher's id");
    drop(w);
    assert_eq!(idx.recognised(), 1);
}

#[test]
fn a_new_stream_of_the_same_client_supersedes_the_open_one() {
    let idx = index(8);
    let a = idx.open_stream(1);
    idx.lock().record(a.id, key(1, 1), 1);
    let b = idx.open_stream(1);
    // The old stream is still open (the server has not seen it end yet) and commits
    // more: those keys go to the index at once.
    idx.lock().record(a.id, key(1, 2), 2);
    let mut w = idx.lock();
    assert!(w.must_check(b.id) && w.must_check(a.id));
    assert_eq!(w.lookup(&key(1, 1)), Some(1));
    assert_eq!(w.lookup(&key(1, 2)), Some(2));
    // While the old one is open, the new one writes through too: a late copy on the
    // old stream finds what the new one stored first.
    w.record(b.id, key(1, 3), 3);
    assert_eq!(w.lookup(&key(1, 3)), Some(3));
    drop(w);
    assert_eq!(idx.indexed(), 3);
    drop(a);
    idx.lock().record(b.id, key(1, 4), 4);
    assert_eq!(idx.indexed(), 3, "alone again: b's keys stay in its ring");
    drop(b);
    assert_eq!(idx.indexed(), 4);
}

#[test]
fn rings_and_the_index_are_bounded() {
    let idx = index(2);
    let a = idx.open_stream(1);
    for n in 0..5 {
        idx.lock().record(a.id, key(1, n), u64::from(n));
    }
    drop(a);
    assert_eq!(idx.indexed(), 2, "the last two of the stream");
    let b = idx.open_stream(1);
    assert_eq!(idx.lock().lookup(&key(1, 4)), Some(4));
    assert_eq!(idx.lock().lookup(&key(1, 2)), None);
    // The index holds INDEX_STREAMS rings' worth: older keys leave, and once a scope
    // has none left its streams stop looking up.
    for s in 0..INDEX_STREAMS as u64 {
        let g = idx.open_stream(100 + s);
        idx.lock().record(g.id, key(100 + s, 1), 50);
        idx.lock().record(g.id, key(100 + s, 2), 51);
    }
    assert_eq!(idx.indexed(), 2 * INDEX_STREAMS);
    assert!(!idx.lock().must_check(b.id));
    assert_eq!(idx.lock().lookup(&key(1, 4)), None);
}

#[test]
fn a_failed_first_copy_is_not_a_copy() {
    let idx = index(8);
    let a = idx.open_stream(1);
    idx.lock().record(a.id, key(1, 1), 5);
    drop(a);
    idx.mark_failed([5, 6]);
    assert!(idx.failed(5) && idx.failed(6) && !idx.failed(7) && !idx.failed(4));
    let b = idx.open_stream(1);
    assert_eq!(idx.lock().lookup(&key(1, 1)), None, "stored anew");
    idx.lock().record(b.id, key(1, 1), 8);
    drop(b);
    assert_eq!(idx.indexed(), 1, "same key: one entry");
    assert_eq!(idx.lock().lookup(&key(1, 1)), Some(8));
}

#[test]
fn keys_restored_from_the_log_are_recognised() {
    let idx = index(8);
    idx.restore([key(1, 1), key(1, 2)]);
    let b = idx.open_stream(1);
    let mut w = idx.lock();
    assert!(w.must_check(b.id));
    assert_eq!(w.lookup(&key(1, 2)), Some(0));
}

#[test]
fn a_zero_window_turns_recognition_off() {
    let idx = index(0);
    let a = idx.open_stream(1);
    idx.lock().record(a.id, key(1, 1), 1);
    drop(a);
    idx.restore([key(1, 2)]);
    let b = idx.open_stream(1);
    assert!(!idx.lock().must_check(b.id));
    assert_eq!(idx.indexed(), 0);
    assert!(ResendKey::new(&PublishId::default(), &TopicKey([1; 16])).is_none());
}

#[test]
fn keys_differ_by_scope_topic_and_local_id() {
    let id = PublishId {
        scope: 1,
        local_id: [5; 16],
    };
    let k = ResendKey::new(&id, &TopicKey([1; 16])).unwrap();
    assert_ne!(k, ResendKey::new(&id, &TopicKey([2; 16])).unwrap());
    let other = PublishId { scope: 2, ..id };
    assert_ne!(k, ResendKey::new(&other, &TopicKey([1; 16])).unwrap());
    assert_eq!(k, ResendKey::new(&id, &TopicKey([1; 16])).unwrap());
}

#[test]
fn scopes_are_stable_and_distinct() {
    assert_eq!(publisher_scope("a", "b"), publisher_scope("a", "b"));
    assert_ne!(publisher_scope("a", "b"), publisher_scope("ab", ""));
    assert_ne!(publisher_scope("", "x"), publisher_scope("x", ""));
    // FNV-1a of the empty publisher and client ids (kept on disk: must not change).
    assert_eq!(publisher_scope("", ""), 0xaf64_724c_8602_eb6e);
}
