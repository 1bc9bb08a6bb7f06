"""Events and the cyclic garbage collector: which events it walks, and that every cycle
through an event is still collected.

Fresh events are untracked at birth (``_core._event_born``) and published ones by the
publish path, when nothing they hold can lead back to them; the setters, the ``type``
getter and publishing (for reassigned ``data``/``meta``) track them again. See
``rust/python/src/conversion/gc.rs``.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from pyensign_fast.events import Event

pytestmark = pytest.mark.all_loops


def make(n: int) -> list:
    return [Event(f'{{"n": {i}}}'.encode(), "application/json") for i in range(n)]


def tracked_dict_of_str() -> dict:
    # A dict of str to str that the collector tracks: it once held a container.
    d = {"k": "v", "list": []}
    del d["list"]
    assert gc.is_tracked(d)
    return d


class Holder:
    """An object that can close a cycle through an event; weakly referenceable."""

    ref: object = None


def collected(build) -> bool:
    """Whether the cycle that ``build()`` makes (returning one of its members) is freed
    by a collection once nothing else refers to it."""
    w = weakref.ref(build())
    gc.collect()
    return w() is None


def test_fresh_events_are_untracked_when_they_cannot_be_in_a_cycle():
    assert not any(gc.is_tracked(e) for e in make(3))
    assert not gc.is_tracked(Event(b"x", "text/plain", meta={"k": "v"}))
    assert gc.is_tracked(Event(b"x", "text/plain", meta=tracked_dict_of_str()))

    class Sub(Event):  # may hold anything in attributes of its own
        pass

    assert gc.is_tracked(Sub(b"x", "text/plain"))


def test_setters_and_the_type_getter_track_a_fresh_event_again():
    events = make(4)
    events[0].id = object()
    events[1].committed = object()
    events[2].error = object()
    events[3].type  # noqa: B018  # stores a Type the user may then fill with anything
    assert all(gc.is_tracked(e) for e in events)


@pytest.mark.parametrize("where", ["id", "type.name", "type"])
def test_a_cycle_through_a_fresh_event_is_collected(where):
    def build():
        ev, holder = Event(b"x", "text/plain"), Holder()
        holder.ref = ev
        if where == "id":
            ev.id = holder
        elif where == "type.name":
            ev.type.name = holder  # type: ignore[assignment]
        else:
            t = ev.type
            ev.type = t
            t.name = holder  # type: ignore[assignment]
        return holder

    assert collected(build)


async def test_published_events_are_untracked_until_a_setter_stores_an_object(client, topic):
    events = make(3)
    meta_event = Event(b"x", "text/plain", meta={"k": "v"})
    assert all(gc.is_tracked(e.type) and gc.is_tracked(e) for e in [*events, meta_event])
    await client.publish(topic, [*events, meta_event])
    await client.flush()
    # Holding only bytes, str, int, an untracked dict and the batch, they cannot be in a
    # reference cycle: the collector no longer walks them.
    assert not any(gc.is_tracked(e) or gc.is_tracked(e.type) for e in [*events, meta_event])
    assert events[0].acked() and events[0].committed.seconds > 0
    # Storing arbitrary objects through the setters tracks them again.
    events[0].committed = object()
    events[1].type.name = "Renamed"
    events[2].mark_nacked(object())
    assert gc.is_tracked(events[0]) and gc.is_tracked(events[1].type) and gc.is_tracked(events[2])


async def test_publishing_tracks_an_untracked_event_whose_slots_were_reassigned(client, topic):
    class Data(bytes):  # instances have a __dict__: the collector tracks them
        pass

    plain, by_meta, by_data = make(3)
    by_meta.meta = tracked_dict_of_str()
    by_data.data = Data(b'{"n": 2}')
    assert not any(gc.is_tracked(e) for e in (plain, by_meta, by_data))
    await client.publish(topic, [plain, by_meta, by_data])
    await client.flush()
    assert all(e.acked() for e in (plain, by_meta, by_data))
    assert not gc.is_tracked(plain)
    assert gc.is_tracked(by_meta) and gc.is_tracked(by_data)


async def test_a_cycle_through_a_published_event_is_collected(client, topic):
    ev = Event(b"x", "text/plain")
    await client.publish(topic, ev)
    await client.flush()
    holder = Holder()
    holder.ref = ev
    ev.id = holder
    w = weakref.ref(holder)
    del ev, holder
    gc.collect()
    assert w() is None


async def test_publishing_makes_no_type_object(client, topic):
    events = make(2)
    renamed = Event(b"r", schema_name="Before", schema_version="1.0.0")
    renamed.type.name = "After"  # its own Type, mutated before publishing
    await client.publish(topic, [*events, renamed])
    await client.flush()
    # Events whose `type` was never read keep only the shared parts tuple, and are untracked.
    assert all(e._type is None and not gc.is_tracked(e) for e in events)
    assert str(events[0].type) == "Unknown v0.0.0" and events[0]._type is not None
    got = await (await client.query(f"SELECT * FROM {topic}")).fetchall()
    assert [str(e.type) for e in got] == ["Unknown v0.0.0"] * 2 + ["After v1.0.0"]


async def test_events_that_may_hold_cycles_stay_tracked(client, topic):
    odd = make(1)[0]
    odd.id = [odd]  # a cycle through the event itself
    await client.publish(topic, odd)
    await client.flush()
    assert gc.is_tracked(odd)
