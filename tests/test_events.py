"""pyensign_fast.events: the Event ↔ core contract (``_batch``/``_slot``, the bridge
waiter, the subscription ack target) with fakes; acking received events; snapshots.
Building, printing and converting events is in ``test_event_values.py``."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import types
from typing import Any, List, Tuple

import pytest

import pyensign_fast
from pyensign_fast import mimetypes as mt
from pyensign_fast import nack
from pyensign_fast.events import Event, EventState, ack_event
from pyensign_fast.exceptions import CouldNotAck, CouldNotNack, NackError, PyEnsignError
from pyensign_fast.messages import Nack
from pyensign_fast.timestamps import Timestamp
from pyensign_fast.utils.rlid import RLID


class FakeBatch:
    """A stand-in for ``_core.PublishBatch`` (docs/architecture.md)."""

    def __init__(self, size: int, batch_id: int = 7) -> None:
        self.id = batch_id
        self.states = [2] * size
        self.local_ids = [bytes([i]) * 16 for i in range(size)]
        self.committeds: List[Tuple[int, int] | None] = [None] * size
        self.nacks: List[Tuple[int, str] | None] = [None] * size
        self.waiters: List[int] = []

    def state(self, i: int) -> int:
        return self.states[i]

    def local_id(self, i: int) -> bytes:
        return self.local_ids[i]

    def committed(self, i: int) -> Tuple[int, int] | None:
        return self.committeds[i]

    def nack(self, i: int) -> Tuple[int, str] | None:
        return self.nacks[i]

    def add_waiter(self, i: int) -> bool:
        if self.states[i] != 2:
            return False
        self.waiters.append(i)
        return True

    # What the core does when the outcome arrives.
    def ack_slot(self, i: int, seconds: int, nanos: int) -> None:
        self.states[i], self.committeds[i] = 4, (seconds, nanos)

    def nack_slot(self, i: int, code: int, error: str) -> None:
        self.states[i], self.nacks[i] = 5, (code, error)


class FakeBridge:
    def __init__(self) -> None:
        self.registered: List[Tuple[int, int, asyncio.Future]] = []
        self._changed: asyncio.Event | None = None

    @property
    def changed(self) -> asyncio.Event:
        # Created on first use, inside the test's loop (Python 3.9 binds it at creation).
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def add_waiter(self, batch_id: int, slot: int, future: asyncio.Future) -> None:
        self.registered.append((batch_id, slot, future))
        self.changed.set()

    def wake(self) -> None:
        # What Bridge.drain does for a WAITER item (kind 3).
        for _, _, future in self.registered:
            if not future.done():
                future.set_result(None)


class FakeSubscription:
    def __init__(self) -> None:
        self.calls: List[Tuple[Any, ...]] = []

    def ack(self, rlid: bytes) -> None:
        self.calls.append(("ack", rlid))

    def nack(self, rlid: bytes, code: int) -> None:
        self.calls.append(("nack", rlid, code))


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> FakeBridge:
    fake = FakeBridge()
    module = types.ModuleType("pyensign_fast._bridge")
    module.get_bridge = lambda: fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyensign_fast._bridge", module)
    monkeypatch.setattr(pyensign_fast, "_bridge", module, raising=False)
    return fake


def published(n: int = 1) -> Tuple[List[Event], FakeBatch]:
    events = [Event(b"payload %d" % i) for i in range(n)]
    batch = FakeBatch(n)
    for i, event in enumerate(events):  # what _core does on admission
        event._batch, event._slot = batch, i
    return events, batch


def received(sub: Any = None) -> Event:
    return Event._received(b"data", 50, {"k": "v"}, ("T", 1, 2, 3), 5, b"\x01" * 10, b"t", sub)


# -- the publish batch ------------------------------------------------------------------
def test_state_and_outcome_come_from_the_batch() -> None:
    (ok, bad, pending), batch = published(3)
    for event in (ok, bad, pending):
        assert event.state is EventState.PUBLISHED and event.published()
        assert event.id is None and event.committed is None and event.error is None
    batch.ack_slot(0, 1700000000, 5)
    batch.nack_slot(1, nack.TopicUnknown, "unknown topic")
    assert ok.acked() and not ok.nacked() and ok.published()
    assert ok.id == batch.local_ids[0]
    assert ok.committed == Timestamp(1700000000, 5)
    assert ok.committed is ok.committed  # cached once read
    assert bad.nacked() and not bad.acked() and bad.id is None
    assert bad.error == Nack(batch.local_ids[1], nack.TopicUnknown, "unknown topic")
    assert bad.nack_error() is bad.error
    assert pending.state is EventState.PUBLISHED
    assert "state: EventState.ACKED" in str(ok) and "committed: 2023-11-14" in str(ok)


def test_user_assignments_win_over_the_batch() -> None:
    (event,), batch = published(1)
    batch.ack_slot(0, 10, 0)
    event.id, event.committed, event.error = "mine", Timestamp(1), "oops"
    assert (event.id, event.committed, event.error) == ("mine", Timestamp(1), "oops")


def test_mark_methods_detach_from_the_batch() -> None:
    (event,), _ = published(1)
    event.mark_nacked(Nack(b"i", 9, "internal"))
    assert event._batch is None and event.nacked() and event.error.code == 9
    event.mark_acked(types.SimpleNamespace(id=b"i", committed=Timestamp(3)))
    assert event.acked() and event.id == b"i" and event.committed == Timestamp(3)
    event.mark_queued()
    assert event.state is EventState.QUEUED and not event.published()
    event.mark_published()
    assert event.published()


async def test_wait_for_ack_waits_on_the_bridge(bridge: FakeBridge) -> None:
    (event,), batch = published(1)
    waiting = asyncio.ensure_future(event.wait_for_ack())
    await bridge.changed.wait()
    assert [(b, s) for b, s, _ in bridge.registered] == [(batch.id, 0)]
    assert not waiting.done()
    batch.ack_slot(0, 1672531200, 500_000_000)
    bridge.wake()
    ack = await waiting
    assert ack.id == batch.local_ids[0]
    assert ack.committed == dt.datetime(2023, 1, 1, 0, 0, 0, 500_000)


async def test_wait_for_ack_raises_nack_error(bridge: FakeBridge) -> None:
    (event,), batch = published(1)
    waiting = asyncio.ensure_future(event.wait_for_ack())
    await bridge.changed.wait()
    batch.nack_slot(0, nack.Timeout, "reconnect timeout")
    bridge.wake()
    with pytest.raises(NackError, match=r"event was nacked: reconnect timeout \(101\)") as info:
        await waiting
    assert (info.value.code, info.value.error) == (nack.Timeout, "reconnect timeout")


async def test_wait_for_ack_survives_an_early_wake(bridge: FakeBridge) -> None:
    (event,), batch = published(1)
    waiting = asyncio.ensure_future(event.wait_for_ack())
    await bridge.changed.wait()
    bridge.changed.clear()
    bridge.wake()  # woken while still in flight: registers again
    await bridge.changed.wait()
    assert len(bridge.registered) == 2 and not waiting.done()
    batch.ack_slot(0, 1, 0)
    bridge.wake()
    assert (await waiting).id == batch.local_ids[0]


async def test_wait_for_ack_when_the_outcome_is_already_known(bridge: FakeBridge) -> None:
    (ok, bad), batch = published(2)
    batch.ack_slot(0, 1, 0)
    batch.nack_slot(1, nack.MaxEventSizeExceeded, "too big")
    assert (await ok.wait_for_ack()).id == batch.local_ids[0]
    with pytest.raises(NackError):
        await bad.wait_for_ack()
    assert bridge.registered == []


async def test_wait_for_ack_without_a_batch() -> None:
    event = Event(b"x")
    with pytest.raises(PyEnsignError, match="has not been published"):
        await event.wait_for_ack()
    event.mark_acked(types.SimpleNamespace(id=b"L", committed=Timestamp(1672531200)))
    ack = await event.wait_for_ack()
    assert (ack.id, ack.committed) == (b"L", dt.datetime(2023, 1, 1))
    event.mark_nacked(Nack(b"L", 3, "archived"))
    with pytest.raises(NackError, match="archived"):
        await event.wait_for_ack()


# -- acking received events -------------------------------------------------------------
async def test_ack_and_nack_rules() -> None:
    sub = FakeSubscription()
    event = received(sub)
    assert event.state is EventState.SUBSCRIBED and event.id == RLID(b"\x01" * 10)
    assert await event.ack() is True
    assert await event.ack() is True
    assert await event.nack(nack.UnknownType) is False
    assert sub.calls == [("ack", b"\x01" * 10)]
    assert event.acked()

    other = received(sub)
    assert await other.nack(nack.UnknownType) is True
    assert await other.nack(nack.Unprocessed) is True
    assert await other.ack() is False
    assert sub.calls[1:] == [("nack", b"\x01" * 10, nack.UnknownType)]
    await ack_event(received(sub))
    assert sub.calls[-1][0] == "ack"


@pytest.mark.parametrize("prepare", [lambda e: None, lambda e: e.mark_queued()])
async def test_events_not_received_cannot_be_acked(prepare: Any) -> None:
    event = Event(b"x")
    prepare(event)
    with pytest.raises(CouldNotAck, match="Event has not been received by a subscriber"):
        await event.ack()
    with pytest.raises(CouldNotNack, match="Event has not been received by a subscriber"):
        await event.nack(nack.UnknownType)


async def test_published_events_cannot_be_acked_until_they_have_an_outcome() -> None:
    (event,), batch = published(1)
    with pytest.raises(CouldNotAck):
        await event.ack()
    batch.ack_slot(0, 1, 0)
    assert await event.ack() is True  # pyensign's answer for an already-acked event


async def test_query_results_cannot_be_acked() -> None:
    result = Event._received(
        b"d", 50, None, ("T", 0, 0, 0), 1, b"\x02" * 10, state=EventState.INITIALIZED
    )
    assert result.meta == {}
    with pytest.raises(CouldNotAck):
        await result.ack()


async def test_nack_by_hand_like_pyensigns_test() -> None:
    event = Event(data=b"test", mimetype=mt.Unknown)
    event.id = RLID(bytes(range(10)))
    event.mark_subscribed(FakeSubscription())
    await event.nack(nack.UnknownType)
    assert event.nacked()
    assert event._sub.calls == [("nack", bytes(range(10)), nack.UnknownType)]


def test_pickle_and_copy_make_detached_snapshots() -> None:
    import copy
    import pickle

    fresh = Event(b"x", "text/plain", "Doc", "1.2.3", {"k": "v"})
    clone = pickle.loads(pickle.dumps(fresh))
    assert repr(clone) == repr(fresh) and clone._created == fresh._created
    assert clone.type._pb == fresh.type._pb and clone.state is EventState.INITIALIZED

    (event,), batch = published(1)
    batch.ack_slot(0, 7, 8)
    for snapshot in (pickle.loads(pickle.dumps(event)), copy.copy(event)):
        assert snapshot._batch is None and snapshot.acked()
        assert snapshot.id == batch.local_ids[0] and snapshot.committed == Timestamp(7, 8)

    sub = FakeSubscription()
    snapshot = copy.deepcopy(received(sub))
    assert snapshot._sub is None and snapshot.id == RLID(b"\x01" * 10)
