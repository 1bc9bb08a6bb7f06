"""Publishing reads ``Event``'s ``__slots__`` directly (``rust/python/src/conversion/
slots.rs``): the probe must find them, subclasses that change attribute access must be
read through ``getattr``, and unset slots must raise, never crash."""

from __future__ import annotations

from typing import Any, List

import pytest

from pyensign_fast import _core
from pyensign_fast.events import Event

WAIT = 30.0


class Upper(Event):
    """Overrides ``data`` with a property: its slot holds one value, ``getattr`` gives
    another, and publishing must send what ``getattr`` gives."""

    __slots__ = ()

    @property  # type: ignore[override]
    def data(self) -> bytes:
        return Event.data.__get__(self).upper()  # type: ignore[attr-defined,no-any-return]

    @data.setter
    def data(self, value: bytes) -> None:
        Event.data.__set__(self, value)  # type: ignore[attr-defined]


class Tagged(Event):
    """A subclass with a slot of its own: same layout for Event's slots."""

    __slots__ = ("tag",)


class Logged(Event):
    """Overrides ``__getattribute__``: every read must go through it."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        if name == "mimetype":
            return 3  # text/csv instead of what the slot holds
        return object.__getattribute__(self, name)


async def published(client: Any, topic: str, events: List[Event]) -> List[Event]:
    await client.publish(topic, events)
    await client.flush(timeout=WAIT)
    assert all(e.acked() for e in events), [e.error for e in events]
    return await (await client.query(f"SELECT * FROM {topic}")).fetchall()


def test_the_slots_are_found() -> None:
    # If the probe fails, publishing still works (through getattr) but slower: this is
    # the test that notices.
    assert _core._direct_event_slots() is True


async def test_subclasses_that_change_attribute_access_are_read_through_getattr(client, topic):
    events = [Upper(b"abc", "text/plain"), Tagged(b"def", "text/plain"), Logged(b"ghi")]
    events[1].tag = "kept"
    got = await published(client, topic, events)
    assert [e.data for e in got] == [b"ABC", b"def", b"ghi"]
    assert [e.mimetype for e in got] == [1, 1, 3]
    assert all(e._batch is not None for e in events) and events[1].tag == "kept"
    assert [e._slot for e in events] == [0, 1, 2]


async def test_an_unset_slot_raises_and_sends_nothing(client, topic):
    good = Event(b"ok", "text/plain")
    bad = Event(b"x", "text/plain")
    del bad._created
    with pytest.raises(AttributeError, match="_created"):
        await client.publish(topic, [good, bad])
    assert good._batch is None and bad._batch is None
    bare = Event.__new__(Event)  # no slot set at all
    with pytest.raises(AttributeError):
        await client.publish(topic, bare)
    await client.flush(timeout=WAIT)
    assert (await client.info()).events == 0


async def test_a_published_event_keeps_its_values_after_the_batch_is_gone(client, topic):
    # The direct writes must hold their own references: the batch object and slot index
    # stay readable after everything else that held them is dropped.
    events = [Event(b"%d" % i, "text/plain") for i in range(300)]
    await client.publish(topic, events)
    await client.flush(timeout=WAIT)
    import gc

    gc.collect()
    assert [e._slot for e in events] == list(range(300))
    assert all(e.acked() and e.id is not None for e in events)
