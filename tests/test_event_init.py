"""``Event.__init__``'s C-level fast path (rust/python/src/conversion/event_init.rs) builds
exactly what the Python ``__init__`` builds, and leaves everything else to it."""

from __future__ import annotations

import gc
import itertools
from collections import Counter
from typing import Any

import pytest

from pyensign_fast import events, mimetypes
from pyensign_fast.events import Event
from pyensign_fast.schema import Type

SLOTS = [n for cls in Event.__mro__ for n in getattr(cls, "__slots__", ())]


def state(ev: Event) -> dict:
    # Types too: a dict subclass equals the dict the Python path converts it to.
    out = {n: (getattr(ev, n, "<unset>"), type(getattr(ev, n, None))) for n in SLOTS}
    del out["_created"]
    out["tracked"] = gc.is_tracked(ev)
    return out


class WithDict(Event):  # a subclass with a __dict__ and no override: the fast path
    pass


class WithSlot(Event):
    __slots__ = ("extra",)


def build(init, args: tuple, kwargs: dict, cls: type = Event):
    ev = object.__new__(cls)
    try:
        init(ev, *args, **kwargs)
    except Exception as exc:  # compared below
        return (type(exc), str(exc).replace("_py_init", "__init__"))
    return ev


class Meta(dict):
    pass


class Data(bytes):
    pass


DATA = [b"x", b"", "text", Data(b"y"), None, 5]
MIMES = [mimetypes.ApplicationJSON, "text/plain", "TEXT/PLAIN", "no/such-type", None, 10_000, [1]]
SCHEMAS = [
    ("Unknown", "0.0.0"),
    ("Order", "1.2.3"),
    ("Order", "v1.2.3-rc.1"),
    ("", "1.0.0"),
    ("  ", "1.0.0"),
    ("Order", None),
    ("Order", "bad"),
    (5, "1.0.0"),
    (["unhashable"], "1.0.0"),
]
METAS = [None, {}, {"k": "v"}, {"k": 1}, Meta(k="v"), [("k", "v")], "k=v"]


def cases():
    for data, mime, (name, version), meta in itertools.product(DATA, MIMES, SCHEMAS, METAS):
        yield (data, mime, name, version, meta), {}
        yield (data,), {"mimetype": mime, "schema_name": name, "meta": meta}
    yield (), {}
    yield (b"x", "text/plain", "a", "1.0.0", None, "extra"), {}
    yield (b"x",), {"data": b"y"}
    yield (b"x",), {"bogus": 1}
    yield (), {"meta": {"a": "b"}, "data": b"z"}


def test_the_fast_path_is_installed():
    assert type(vars(Event)["__init__"]).__name__ == "method_descriptor"
    assert events._py_init is not vars(Event)["__init__"]


@pytest.mark.parametrize("cls", [Event, WithDict, WithSlot])
def test_every_argument_combination_builds_what_the_python_init_builds(cls):
    fast = vars(Event)["__init__"]
    for _ in range(2):  # the second round finds the schemas in the cache
        for args, kwargs in cases():
            want = build(events._py_init, args, kwargs, cls)
            got = build(fast, args, kwargs, cls)
            if isinstance(want, Event):
                assert isinstance(got, Event), (args, kwargs, got)
                assert state(got) == state(want), (args, kwargs)
                assert abs(got._created - want._created) < 5_000_000_000
            else:
                assert got == want, (args, kwargs)


def test_the_fast_path_makes_a_publishable_event_with_its_own_type():
    ev = Event(b'{"a": 1}', "application/json", "Order", "1.2.3", {"k": "v"})
    assert (ev.data, ev.mimetype, ev.meta) == (b'{"a": 1}', mimetypes.ApplicationJSON, {"k": "v"})
    assert isinstance(ev.type, Type) and str(ev.type) == "Order v1.2.3"
    ev.type.name = "Renamed"  # this event's own Type, not the shared parts
    assert str(Event(b"x", schema_name="Order", schema_version="1.2.3").type) == "Order v1.2.3"
    assert ev.created.seconds > 1_700_000_000


def test_subclass_instances_stay_tracked():
    # Attributes of their own (a __dict__, extra slots) may hold anything.
    assert gc.is_tracked(WithDict(b"x")) and gc.is_tracked(WithSlot(b"x"))


def test_subclasses_that_override_an_attribute_get_the_python_init():
    seen = []

    class Custom(Event):
        __slots__ = ("extra",)

        @property  # type: ignore[override]
        def data(self):
            return seen[-1]

        @data.setter
        def data(self, value):
            seen.append(value)

    ev = Custom(b"payload", "text/plain")
    assert seen == [b"payload"] and ev.data == b"payload"
    assert gc.is_tracked(ev)


def test_reinitialising_an_event_resets_it():
    ev = Event(b"x", "text/plain", meta={"k": "v"})
    ev.id = "mine"
    ev.__init__(b"y")
    assert (ev.data, ev.meta, ev.mimetype, ev.id) == (b"y", None, mimetypes.ApplicationJSON, None)
    assert not gc.is_tracked(ev)


@pytest.mark.parametrize("meta", [{"k": "v"}, None])
def test_a_tracked_meta_dict_keeps_the_event_tracked(meta):
    if meta is not None:
        meta["list"] = []
        del meta["list"]
    assert gc.is_tracked(Event(b"x", meta=meta)) is (meta is not None)


def test_a_subclass_is_checked_once_even_when_it_fails_the_check() -> None:
    # The layout check looks up every slot name on the class; a subclass that fails it
    # (here: `meta` overridden) must not pay that again for each event it builds.
    lookups: Counter = Counter()

    class Counting(type):
        def __getattribute__(cls, name: str) -> Any:
            lookups[name] += 1
            return super().__getattribute__(name)

    class Overriding(Event, metaclass=Counting):
        __slots__ = ()

        @property  # type: ignore[override]
        def meta(self) -> dict:
            return {}

        @meta.setter
        def meta(self, value: Any) -> None:
            pass

    first = Overriding(b"x", "application/json")
    after_first = lookups["mimetype"]
    for _ in range(5):
        ev = Overriding(b"x", "application/json")
    assert after_first == 1 and lookups["mimetype"] == after_first
    assert ev.data == first.data == b"x" and ev.meta == {}  # the Python __init__ ran
