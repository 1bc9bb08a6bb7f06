"""Reference counts on the per-event paths, which count in place instead of through
pyo3 (rust/python/src/conversion/refcount.rs), and the identity memo in front of
``Event.__init__``'s caches (conversion/memo.rs).

A reference taken and not released shows here as a count that stays high (a leak); one
released twice as a count below the baseline (and sooner or later a crash).
"""

from __future__ import annotations

import sys

from pyensign_fast import mimetypes
from pyensign_fast.events import Event
from pyensign_fast.schema import _TYPE_CACHE

N = 100


def fresh(text: str) -> str:
    # A str equal to `text` but not the same object (literals and dict keys are shared).
    return "".join(list(text))


def test_event_init_takes_one_reference_per_stored_object() -> None:
    data = bytes(range(10)) * 3
    meta = {"k": "v"}
    for _ in range(2):  # fills the caches, then the memo
        Event(b"warm", "text/plain", "RefSchema", "1.0.0", meta)
    parts = _TYPE_CACHE["RefSchema"]["1.0.0"]
    before = [sys.getrefcount(o) for o in (data, meta, parts)]
    events = [Event(data, "text/plain", "RefSchema", "1.0.0", meta) for _ in range(N)]
    assert [sys.getrefcount(o) for o in (data, meta, parts)] == [b + N for b in before]
    assert all(e.data is data and e.meta is meta and e._tparts is parts for e in events)
    del events
    assert [sys.getrefcount(o) for o in (data, meta, parts)] == before


def test_the_memo_answers_by_identity_and_follows_the_keys() -> None:
    plain, json_ = fresh("text/plain"), fresh("application/json")
    order = [plain, json_, plain, plain, json_, mimetypes.TextPlain]
    got = [Event(b"x", m).mimetype for m in order]
    assert got == [mimetypes.parse(m) for m in order]
    schemas = [("MemoA", "1.0.0"), ("MemoB", "1.0.0"), ("MemoA", "2.0.0"), ("MemoA", "2.0.0")]
    types = [Event(b"x", "text/plain", n, v).type for n, v in schemas]
    assert [(t.name, t.semver()) for t in types] == schemas


def test_the_memo_holds_only_the_last_keys() -> None:
    first, second = fresh("text/plain"), fresh("text/plain")
    base = sys.getrefcount(first)
    Event(b"x", first)
    assert sys.getrefcount(first) == base + 1  # remembered
    Event(b"x", second)
    assert sys.getrefcount(first) == base  # replaced, so released


def test_the_memo_skips_keys_whose_equality_could_change() -> None:
    class Mime(str):
        pass

    key = Mime("text/plain")
    base = sys.getrefcount(key)
    for _ in range(3):
        assert Event(b"x", key).mimetype == mimetypes.TextPlain
    assert sys.getrefcount(key) == base


def test_publishing_releases_what_it_reads(server) -> None:
    from pyensign_fast.sync import Ensign

    client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    try:
        client.create_topic("refcounts")
        data = bytes(range(20)) * 5
        meta = {"a": "b"}
        before = [sys.getrefcount(data), sys.getrefcount(meta)]
        events = [Event(data, "text/plain", meta=meta) for _ in range(N)]
        counts = [sys.getrefcount(e) for e in events]
        client.publish("refcounts", events)
        assert client.flush(timeout=30) is not False
        assert all(e.acked() for e in events)
        assert [sys.getrefcount(e) for e in events] == counts
        del events
        assert [sys.getrefcount(data), sys.getrefcount(meta)] == before
    finally:
        client.close()


def test_reinitialising_an_event_releases_the_old_values() -> None:
    old, new = bytes(range(7)) * 3, bytes(range(9)) * 3
    base = sys.getrefcount(old)
    ev = Event(old, "text/plain")
    assert sys.getrefcount(old) == base + 1
    ev.__init__(new, "text/plain")  # type: ignore[misc]
    assert ev.data is new
    assert sys.getrefcount(old) == base


def test_publishing_again_releases_the_first_batch(server) -> None:
    from pyensign_fast.sync import Ensign

    client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    try:
        client.create_topic("refcounts")
        events = [Event(b"again", "text/plain") for _ in range(N)]
        client.publish("refcounts", events)
        assert client.flush(timeout=30) is not False
        first = events[0]._batch
        held = sys.getrefcount(first)
        client.publish("refcounts", events)
        assert client.flush(timeout=30) is not False
        assert events[0]._batch is not first
        assert sys.getrefcount(first) == held - N
    finally:
        client.close()


def test_slot_indexes_are_shared_ints_and_released(server) -> None:
    # conversion/ints.rs: the indexes below 8,192 are one int object each, shared by
    # every batch; each event holds one reference to its index while it lives, and the
    # indexes beyond the table are ints of their own.
    from pyensign_fast.sync import Ensign

    client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    try:
        client.create_topic("refcounts")
        n = 8192 + 300
        first = [Event(b"slot", "text/plain") for _ in range(n)]
        client.publish("refcounts", first)
        assert client.flush(timeout=60) is not False
        assert [e._slot for e in first] == list(range(n))
        assert all(e.acked() for e in first)
        shared, own = first[1000]._slot, first[8400]._slot
        held = sys.getrefcount(shared)
        second = [Event(b"slot", "text/plain") for _ in range(n)]
        client.publish("refcounts", second)
        assert client.flush(timeout=60) is not False
        now = sys.getrefcount(shared)  # (pytest's rewritten asserts hold what they show)
        assert now == held + 1
        assert second[1000]._slot is shared
        assert second[8400]._slot == own and second[8400]._slot is not own
        del second
        now = sys.getrefcount(shared)
        assert now == held
    finally:
        client.close()
