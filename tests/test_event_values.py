"""pyensign_fast.events, the values themselves: building an Event (pyensign's messages
and validation order), its repr/str, decoding and ``from_object``, ``from_proto``/
``from_wrapper``, ``EventState``, received rows filled into events. The Event ↔ core
contract is in ``test_events.py``."""

from __future__ import annotations

import calendar
import datetime as dt
import time
import types
from typing import Any

import pytest

from pyensign_fast import mimetypes as mt
from pyensign_fast._receive import received_batch as _received_batch
from pyensign_fast.events import Event, EventState, Type, from_object
from pyensign_fast.schema import encode_type
from pyensign_fast.timestamps import Timestamp
from pyensign_fast.utils.rlid import RLID
from pyensign_fast.utils.ulid import ULID


@pytest.fixture
def far_timezone(set_timezone):  # type: ignore[no-untyped-def]
    set_timezone("America/Los_Angeles")


# -- construction: pyensign's test_event / test_modify_event / test_bad_event ------------
@pytest.mark.parametrize(
    "mimetype, schema_name, schema_version, expected_mimetype, major, minor, patch",
    [
        (mt.ApplicationXML, "Document", "1.2.3", mt.ApplicationXML, 1, 2, 3),
        (mt.TextPlain, "Message", "0.1.0", mt.TextPlain, 0, 1, 0),
        (mt.TextHTML, "Webpage", "v0.1.2", mt.TextHTML, 0, 1, 2),
        ("application/json", "Status", "9.5.3", mt.ApplicationJSON, 9, 5, 3),
        ("text/plain", "note", "10.3.4", mt.TextPlain, 10, 3, 4),
        ("text/html", "feed", "3.2.4", mt.TextHTML, 3, 2, 4),
        (0, "update", "v8.3.45", mt.ApplicationOctetStream, 8, 3, 45),
        (100, "web page", "3.5.7", mt.ApplicationXML, 3, 5, 7),
    ],
)
def test_event(
    mimetype: Any,
    schema_name: str,
    schema_version: str,
    expected_mimetype: int,
    major: int,
    minor: int,
    patch: int,
) -> None:
    event = Event(b"test", mimetype, schema_name, schema_version)
    assert event.data == b"test"
    assert event.mimetype == expected_mimetype
    assert event.created.seconds > 0
    assert (event.type.name, event.type.semver()) == (schema_name, f"{major}.{minor}.{patch}")
    assert event.id is None and event.committed is None and event.error is None
    assert event.state is EventState.INITIALIZED
    from pyensign_fast.api.v1beta1 import event_pb2

    expected = event_pb2.Event(
        data=b"test",
        mimetype=expected_mimetype,
        type=event_pb2.Type(
            name=schema_name, major_version=major, minor_version=minor, patch_version=patch
        ),
    )
    expected.created.seconds, expected.created.nanos = event.created.seconds, event.created.nanos
    assert event._proto == expected
    assert event.type._pb == expected.type.SerializeToString()


def test_modify_event() -> None:
    event = Event(data=b"test", mimetype=mt.TextPlain)
    proto = event.proto()
    assert (proto.data, proto.mimetype, proto.type.name) == (b"test", mt.TextPlain, "Unknown")
    event.meta = {"key": "value"}
    modified = event.proto()
    assert modified.data == proto.data and modified.type == proto.type
    assert modified.created == proto.created
    assert modified.metadata == {"key": "value"}


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"data": "notbytes"}, TypeError, "event data must be bytes, got type <class 'str'>"),
        ({"data": bytearray(b"x")}, TypeError, "got type <class 'bytearray'>"),
        ({"data": b""}, ValueError, "no data provided"),
        ({"data": ""}, ValueError, "no data provided"),
        ({"data": None}, ValueError, "no data provided"),
        ({"data": b"x", "mimetype": None}, ValueError, "no mimetype provided"),
        ({"data": b"x", "schema_name": ""}, ValueError, "schema name cannot be empty"),
        ({"data": b"x", "schema_name": " \t"}, ValueError, "schema name cannot be empty"),
        ({"data": b"x", "schema_name": None}, AttributeError, "strip"),
        ({"data": b"x", "mimetype": "bad", "schema_name": ""}, ValueError, "schema name"),
        ({"data": b"x", "mimetype": "bad", "schema_version": "1"}, ValueError, "unparseable"),
        ({"data": b"x", "mimetype": "image/png"}, ValueError, "mimetype: image/png"),
        ({"data": b"x", "mimetype": 7}, ValueError, "unrecognized mimetype: 7"),
        ({"data": b"x", "schema_version": "1"}, ValueError, "unparseable semantic version: 1"),
        ({"data": b"x", "schema_version": 1}, TypeError, "expected string"),
        ({"data": b"x", "mimetype": []}, TypeError, "unhashable"),
        ({"data": b"x", "meta": {"a": 1}}, TypeError, "str to str"),
        ({"data": b"x", "meta": {1: "a"}}, TypeError, "str to str"),
        ({"data": b"x", "meta": "abc"}, TypeError, "str to str"),
    ],
)
def test_bad_event(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        Event(**kwargs)


def test_validation_runs_in_pyensigns_order_with_a_warm_cache() -> None:
    Event(b"x", "application/json", "Warm", "1.0.0")
    with pytest.raises(ValueError, match="mimetype"):
        Event(b"x", "bad", "Warm", "1.0.0")
    with pytest.raises(ValueError, match="no data"):
        Event(b"", "bad", "", "x")


def test_accepted_inputs() -> None:
    class Payload(bytes):
        pass

    assert Event(Payload(b"x")).data == b"x"
    event = Event(b"x", schema_name="  Spaced  ", schema_version=None, meta={})
    assert event.type.name == "Spaced" and event.type.semver() == "0.0.0"
    assert event.meta == {}
    assert Event(b"x", meta=types.MappingProxyType({"a": "b"})).meta == {"a": "b"}
    assert Event(b"x", mimetype=True).mimetype == 1


def test_created_has_nanosecond_resolution() -> None:
    before = time.time_ns()
    event = Event(b"x")
    after = time.time_ns()
    assert isinstance(event._created, int) and before <= event._created <= after
    assert event.created.ToNanoseconds() == event._created


@pytest.mark.parametrize(
    "value, expected_ns",
    [
        (Timestamp(5, 6), 5_000_000_006),
        ((5, 6), 5_000_000_006),
        (7, 7),
        (dt.datetime(1970, 1, 1, 0, 0, 1), 1_000_000_000),
        (dt.datetime(1970, 1, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))), 0),
    ],
)
def test_created_setter(value: Any, expected_ns: int) -> None:
    event = Event(b"x")
    event.created = value
    assert event._created == expected_ns
    with pytest.raises(TypeError):
        event.created = "yesterday"


def test_each_event_has_its_own_type() -> None:
    a = Event(b"x", schema_name="Shared", schema_version="1.0.0")
    b = Event(b"y", schema_name="Shared", schema_version="1.0.0")
    assert a.type is not b.type
    assert a.type._pb is b.type._pb  # the encoding is shared (immutable bytes)
    a.type.major_version = 2
    assert a.type._pb is None and b.type.semver() == "1.0.0"
    assert Event(b"z", schema_name="Shared", schema_version="1.0.0").type.semver() == "1.0.0"


def test_core_contract_attributes() -> None:
    event = Event(b"x", "text/plain", "Generic", "1.2.3", {"k": "v"})
    slots = {name for cls in Event.__mro__ for name in getattr(cls, "__slots__", ())}
    for name in ("data", "meta", "mimetype", "_type", "_tparts", "_created", "_batch", "_slot"):
        assert name in slots
    assert isinstance(event.mimetype, int) and isinstance(event._created, int)
    # No Type object until `type` is read: the shared parts carry the encoding.
    assert event._type is None and event._tparts[4] == encode_type("Generic", 1, 2, 3)
    assert Event(b"y", schema_name="Generic", schema_version="1.2.3")._tparts is event._tparts
    assert isinstance(event.type._pb, bytes) and event._batch is None
    assert event._type is event.type
    assert not hasattr(event, "__dict__")


# -- repr / str (pyensign's exact formats; K13: UTC, not the machine's zone) ------------
def test_repr() -> None:
    event = Event(b"test", mt.TextPlain, "Document", "1.2.3", {"key": "value"})
    assert (
        repr(event) == "Event(data=b'test', mimetype=1, schema_name=Document, "
        "schema_version=1.2.3, meta={'key': 'value'})"
    )


def test_str(far_timezone: None) -> None:
    event = Event(data=b"test", mimetype=mt.TextPlain)
    event.id = b"123"
    event.created = Timestamp(seconds=calendar.timegm((2023, 1, 1, 0, 0, 0)))
    event.committed = Timestamp(seconds=calendar.timegm((2023, 1, 2, 0, 0, 0)))
    event.error = "an error occurred"
    assert str(event) == (
        "Event:\n\tid: b'123'\n\tdata: b'test'\n\tmimetype: text/plain\n"
        "\tschema: Unknown v0.0.0\n\tstate: EventState.INITIALIZED\n"
        "\tcreated: 2023-01-01 00:00:00\n\tcommitted: 2023-01-02 00:00:00\n"
        "\terror: an error occurred"
    )


def test_str_truncate() -> None:
    text = str(Event(data=b"test" * 100, mimetype=mt.TextPlain, meta={"a": "b"}))
    assert len(text) < 400 and "..." in text and "\n\tmeta: {'a': 'b'}" in text


# -- conversions ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, mimetype, expected",
    [
        (b'{"a": 1}', mt.ApplicationJSON, {"a": 1}),
        (b"hello", mt.TextPlain, "hello"),
        (b"<x/>", mt.ApplicationXML, b"<x/>"),
        (b"\x80\x04K\x05.", mt.ApplicationPythonPickle, 5),
    ],
)
def test_decode(data: bytes, mimetype: int, expected: Any) -> None:
    assert Event(data, mimetype).decode() == expected


@pytest.mark.parametrize(
    "data, mimetype, message",
    [
        (b"{bad", mt.ApplicationJSON, "error decoding event data from JSON"),
        (b"\xff", mt.TextPlain, "error decoding event data to string"),
        (b"\xff", mt.ApplicationPythonPickle, "error decoding event data from pickle"),
    ],
)
def test_decode_errors(data: bytes, mimetype: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Event(data, mimetype).decode()


def test_decode_with_decoder() -> None:
    decoder = types.SimpleNamespace(decode=lambda data: data.upper())
    assert Event(b"abc").decode(decoder) == b"ABC"


@pytest.mark.parametrize(
    "obj, kwargs, data, mimetype",
    [
        ({"a": 1}, {}, b'{"a": 1}', mt.ApplicationJSON),
        ("abc", {}, b"abc", mt.TextPlain),
        (b"abc", {}, b"abc", mt.ApplicationOctetStream),
        ("abc", {"mimetype": "text/csv"}, b"abc", mt.TextCSV),
        ([1], {"mimetype": mt.ApplicationPythonPickle}, None, mt.ApplicationPythonPickle),
        (
            3,
            {
                "mimetype": "application/msgpack",
                "encoder": types.SimpleNamespace(encode=str.encode),
            },
            None,
            mt.ApplicationMsgPack,
        ),
    ],
)
def test_from_object(obj: Any, kwargs: dict, data: bytes | None, mimetype: int) -> None:
    if "encoder" in kwargs:
        kwargs["encoder"] = types.SimpleNamespace(encode=lambda o: repr(o).encode())
    event = from_object(obj, **kwargs)
    assert event.mimetype == mimetype
    if data is not None:
        assert event.data == data
    else:
        assert event.decode() == obj or event.data == b"3"


@pytest.mark.parametrize(
    "obj, kwargs, error, message",
    [
        (1, {"encoder": object()}, ValueError, "mimetype must be provided if encoder is provided"),
        (1, {"mimetype": "application/json", "encoder": 1}, ValueError, "encode\\(\\) method"),
        ({1}, {}, TypeError, "not JSON serializable"),
        ("", {}, ValueError, "no data provided"),
    ],
)
def test_from_object_errors(obj: Any, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        from_object(obj, **kwargs)


def test_from_proto_and_from_wrapper() -> None:
    from pyensign_fast.api.v1beta1 import event_pb2

    pb = event_pb2.Event(
        data=b"",
        mimetype=mt.TextCSV,
        metadata={"k": "v"},
        type=event_pb2.Type(name="T", patch_version=4),
    )
    pb.created.seconds, pb.created.nanos = 10, 20
    event = Event.from_proto(pb)  # empty data is accepted on the way in (K9)
    assert (event.data, event.mimetype, event.meta) == (b"", mt.TextCSV, {"k": "v"})
    assert str(event.type) == "T v0.0.4" and event.created == Timestamp(10, 20)
    assert event.state is EventState.INITIALIZED and event.id is None
    wrapper = event_pb2.EventWrapper(event=pb.SerializeToString(), id=bytes(range(10)))
    wrapped = Event.from_wrapper(wrapper)
    assert wrapped.id == RLID(bytes(range(10))) and wrapped._rlid == bytes(range(10))
    assert wrapped.committed is None
    with pytest.raises(AttributeError, match="no event"):
        Event.from_wrapper(event_pb2.EventWrapper())


def test_event_state() -> None:
    assert [s.value for s in EventState] == [0, 1, 2, 3, 4, 5]
    assert EventState.INITIALIZED < EventState.QUEUED <= EventState.PUBLISHED
    assert EventState.NACKED > EventState.ACKED >= EventState.SUBSCRIBED
    assert str(EventState.ACKED) == "EventState.ACKED"
    assert EventState.ACKED != 4
    with pytest.raises(TypeError):
        assert EventState.ACKED < 5  # type: ignore[operator]


def test_type_is_reexported() -> None:
    assert Type("a", "1.0.0").semver() == "1.0.0"


# -- received events (the rows the core hands over per page) ------------------------------
def test_received_rows_become_events_without_validation():
    def blank() -> Event:  # what the core allocates for each row
        return object.__new__(Event)

    shared = ("T", 1, 2, 3, None)  # one tuple for consecutive events of one schema
    rows = [
        (blank(), b"", 0, None, ("", 0, 0, 0, None), 0, b"\x00" * 10, b"\x01" * 16, None),
        (blank(), b"x", 50, {"k": "v"}, shared, 5, b"\x00" * 9 + b"\x01", b"\x01" * 16, 7),
        (blank(), b"y", 50, None, shared, 6, b"\x00" * 9 + b"\x02", b"\x01" * 16, 7),
    ]
    empty, full, other = _received_batch(rows, None)
    assert empty.data == b"" and empty.meta == {} and empty.state is EventState.INITIALIZED
    assert empty.committed is None and empty.id == RLID(b"\x00" * 10)
    assert full.meta == {"k": "v"} and str(full.type) == "T v1.2.3"
    # Each event gets its own Type when read: mutating one leaves the other alone.
    full.type.major_version = 9
    assert str(other.type) == "T v1.2.3" and full.type is not other.type
    assert full.committed == Timestamp(0, 7) and full.created.nanos == 5
    assert full.topic_id == ULID(b"\x01" * 16)
