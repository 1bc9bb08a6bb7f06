"""The protobuf modules at pyensign's import paths: names (full names as pyensign's),
wire compatibility with pyensign's descriptors (recorded), well-known-type interop,
coexistence with other registrations of the same names in protobuf's default pool, and
that ``import pyensign_fast`` never loads protobuf. Also ``api.v1beta1.event``
(wrap/unwrap) and ``api.v1beta1.query`` (format_query)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any, Dict, List

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from _pyensign_tables import TABLES
from pyensign_fast import mimetypes, nack
from pyensign_fast.api.v1beta1 import (
    ensign_pb2,
    event_pb2,
    groups_pb2,
    query_pb2,
    topic_pb2,
)
from pyensign_fast.api.v1beta1.event import unwrap, wrap
from pyensign_fast.api.v1beta1.query import format_query
from pyensign_fast.mimetype.v1beta1 import mimetype_pb2
from pyensign_fast.region.v1beta1 import region_pb2
from pyensign_fast.utils.ulid import ULID

MODULES = [ensign_pb2, event_pb2, groups_pb2, query_pb2, topic_pb2, mimetype_pb2, region_pb2]


def _label(field: Any) -> int:
    # protobuf 7 dropped FieldDescriptor.label; 3 is LABEL_REPEATED, 1 LABEL_OPTIONAL.
    label = getattr(field, "label", None)
    return label if label is not None else (3 if field.is_repeated else 1)


def _ours() -> Dict[str, List[Any]]:
    out: Dict[str, List[Any]] = {}

    def walk(message: Any) -> None:
        out[message.full_name] = [
            [
                f.name,
                f.number,
                f.type,
                _label(f),
                (f.message_type or f.enum_type).full_name
                if (f.message_type or f.enum_type)
                else "",
            ]
            for f in message.fields
        ]
        for nested in message.nested_types:
            walk(nested)
        for enum in message.enum_types:
            out[enum.full_name] = [[v.name, v.number] for v in enum.values]

    for module in MODULES:
        for message in module.DESCRIPTOR.message_types_by_name.values():
            walk(message)
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            out[enum.full_name] = [[v.name, v.number] for v in enum.values]
    return out


def test_messages_and_enums_match_pyensigns_field_for_field() -> None:
    # Keyed by full name, so this also checks that every full name is pyensign's.
    theirs = TABLES["descriptors"]
    ours = _ours()
    assert sorted(ours) == sorted(theirs)
    for name, fields in theirs.items():
        assert ours[name] == fields, name


def test_full_names_type_urls_and_service_path_are_pyensigns() -> None:
    from google.protobuf.any_pb2 import Any as AnyPb

    assert event_pb2.Event.DESCRIPTOR.full_name == "ensign.v1beta1.Event"
    assert ensign_pb2.Nack.Code.DESCRIPTOR.full_name == "ensign.v1beta1.Nack.Code"
    assert mimetype_pb2.MIME.DESCRIPTOR.full_name == "mimetype.v1beta1.MIME"
    assert region_pb2.Region.DESCRIPTOR.full_name == "region.v1beta1.Region"
    assert event_pb2.DESCRIPTOR.name == "api/v1beta1/event.proto"
    assert event_pb2.DESCRIPTOR.package == "ensign.v1beta1"
    assert ensign_pb2.DESCRIPTOR.services_by_name["Ensign"].full_name == "ensign.v1beta1.Ensign"
    packed = AnyPb()
    packed.Pack(event_pb2.Event(data=b"x"))
    assert packed.type_url == "type.googleapis.com/ensign.v1beta1.Event"
    out = event_pb2.Event()
    assert packed.Unpack(out) and out.data == b"x"


def test_names_users_import() -> None:
    assert ensign_pb2.Nack.Code.UNKNOWN_TYPE == nack.UnknownType
    assert ensign_pb2.Nack.UNKNOWN_TYPE == 103
    for value, name in nack.names_by_value.items():
        assert ensign_pb2.Nack.Code.Value(name) == value
    assert mimetype_pb2.MIME.APPLICATION_JSON == mimetypes.ApplicationJSON
    assert mimetype_pb2.APPLICATION_PYTHON_PICKLE == mimetypes.ApplicationPythonPickle
    assert mimetype_pb2.DESCRIPTOR.enum_types_by_name["MIME"].values_by_name["TEXT_CSV"].number == 2
    assert groups_pb2.DeliverySemantic.Name(groups_pb2.AT_LEAST_ONCE) == "AT_LEAST_ONCE"
    assert topic_pb2.TopicState.READY == topic_pb2.READY == 1
    assert region_pb2.Region.Name(region_pb2.LKE_US_EAST_1A) == "LKE_US_EAST_1A"
    for module in MODULES:
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)


def test_well_known_types_take_the_default_classes() -> None:
    event = event_pb2.Event(data=b"x", created=Timestamp(seconds=3, nanos=4))
    assert event.created == Timestamp(seconds=3, nanos=4)
    assert Timestamp(seconds=3, nanos=4) == event.created
    assert not (event.created != Timestamp(seconds=3, nanos=4))
    assert event.created != Timestamp(seconds=3) and Timestamp(seconds=3) != event.created
    assert event.created.ToNanoseconds() == 3_000_000_004
    group = groups_pb2.ConsumerGroup(name="g", delivery_timeout=Duration(seconds=30))
    assert group.delivery_timeout.ToSeconds() == 30
    ack = ensign_pb2.Ack(id=b"i")
    ack.committed.CopyFrom(Timestamp(seconds=5))
    assert ensign_pb2.Ack.FromString(ack.SerializeToString()) == ack
    ack.committed.MergeFrom(Timestamp(nanos=6))
    assert (ack.committed.seconds, ack.committed.nanos) == (5, 6)
    # Still what protobuf takes natively: datetimes, dicts, our own class.
    assert event_pb2.Event(created={"seconds": 7}).created.seconds == 7
    own = type(event.created)(seconds=8)
    assert event_pb2.Event(created=own).created == own
    with pytest.raises(TypeError):
        event_pb2.Event(created=Duration(seconds=1))


def test_well_known_type_interop_survives_garbage_collection() -> None:
    # protobuf holds message classes weakly: the patched ones must not be replaced.
    out = _run(
        """
        import gc
        from google.protobuf.timestamp_pb2 import Timestamp
        from pyensign_fast.api.v1beta1 import ensign_pb2
        gc.collect()
        print(ensign_pb2.Ack(committed=Timestamp(seconds=3)).committed.seconds)
        """
    )
    assert out == "3"


def test_our_descriptor_pool_resolves_any_in_json() -> None:
    from google.protobuf import json_format
    from google.protobuf.any_pb2 import Any as AnyPb

    from pyensign_fast.api import descriptor_pool

    pool = descriptor_pool()
    assert pool.FindMessageTypeByName("ensign.v1beta1.Event") is event_pb2.Event.DESCRIPTOR
    packed = AnyPb()
    packed.Pack(event_pb2.Event(data=b"x"))
    text = json_format.MessageToJson(packed, descriptor_pool=pool)
    assert '"@type": "type.googleapis.com/ensign.v1beta1.Event"' in text
    back = json_format.Parse(text, AnyPb(), descriptor_pool=pool)
    assert back == packed


def test_the_default_descriptor_pool_is_left_alone() -> None:
    from google.protobuf import descriptor_pool

    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("ensign.v1beta1.Event")
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindFileByName("api/v1beta1/event.proto")


def test_consumer_group_and_subscription_encode() -> None:
    group = groups_pb2.ConsumerGroup(name="g", delivery=groups_pb2.EXACTLY_ONCE)
    sub = ensign_pb2.Subscription(client_id="c", topics=["t"], group=group)
    assert ensign_pb2.Subscription.FromString(sub.SerializeToString()).group.name == "g"


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_importing_the_package_does_not_import_protobuf() -> None:
    out = _run(
        """
        import sys
        import pyensign_fast
        from pyensign_fast import events, mimetypes, nack, exceptions, topics, projects
        from pyensign_fast import status, version, messages, ack, enum, timestamps
        from pyensign_fast.utils import rlid, ulid, pbtime, cache, topics as utopics
        events.Event(b"x", "application/json", "Generic", "1.0.0")
        print(sorted(m for m in sys.modules if m.startswith(("google", "grpc"))))
        """
    )
    assert out == "[]"


@pytest.mark.parametrize("changed", [True, False])
def test_coexists_with_descriptors_registered_under_the_original_names(changed: bool) -> None:
    # pyensign (any version) registers its own descriptors for the same file and message
    # names in the default pool. Simulate that, before and after importing ours, with
    # different content (another pyensign version) and with the same content.
    register_original = """
        from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2, duration_pb2
        from pyensign_fast._core import FILE_DESCRIPTOR_SET
        pool = descriptor_pool.Default()
        for f in descriptor_pb2.FileDescriptorSet.FromString(FILE_DESCRIPTOR_SET).file:
            if not f.name.startswith("google/"):
                f.options.deprecated = CHANGED  # different content, same names
                pool.AddSerializedFile(f.SerializeToString())
        theirs = pool.FindMessageTypeByName("ensign.v1beta1.Nack")
        print(theirs.full_name)
        """.replace("CHANGED", str(changed))
    use_ours = """
        from pyensign_fast.api.v1beta1 import ensign_pb2, ensign_pb2_grpc
        print(ensign_pb2.Nack.DESCRIPTOR.full_name)
        print(ensign_pb2.Nack(code=ensign_pb2.Nack.Code.TIMEOUT).code)
        """
    lines = ["ensign.v1beta1.Nack", "ensign.v1beta1.Nack", "101"]
    assert _run(register_original + use_ours).split() == lines
    assert _run(use_ours + register_original).split() == lines[1:] + lines[:1]


# -- api.v1beta1.event (pyensign's test_event.py cases) --------------------------------
@pytest.fixture
def event() -> Any:
    return event_pb2.Event(
        data=b"some data",
        metadata={"key": "value"},
        mimetype=mimetype_pb2.MIME.APPLICATION_JSON,
        type=event_pb2.Type(name="Generic", major_version=1, minor_version=2, patch_version=3),
        created=Timestamp(seconds=1700000000),
    )


def test_wrap(event: Any) -> None:
    topic_id = ULID()
    wrapper = wrap(event, topic_id)
    assert isinstance(wrapper, event_pb2.EventWrapper)
    assert wrapper.event == event.SerializeToString()
    assert wrapper.topic_id == topic_id.bytes and len(wrapper.local_id) == 16
    assert wrap(event, topic_id).local_id != wrapper.local_id
    wrap(event_pb2.Event(), topic_id)


@pytest.mark.parametrize("args", [("notanevent", "ulid"), (None, "ulid"), ("event", "notaulid")])
def test_wrap_errors(event: Any, args: tuple) -> None:
    given = event if args[0] == "event" else args[0]
    topic = ULID() if args[1] == "ulid" else args[1]
    with pytest.raises(TypeError):
        wrap(given, topic)


def test_unwrap(event: Any) -> None:
    assert unwrap(event_pb2.EventWrapper(event=event.SerializeToString())) == event


@pytest.mark.parametrize(
    "wrapper, exception",
    [
        (event_pb2.EventWrapper(), AttributeError),
        (event_pb2.EventWrapper(event=b"notanevent"), DecodeError),
        (event_pb2.EventWrapper(event=None), AttributeError),
        (event_pb2.EventWrapper(event=b""), AttributeError),
    ],
)
def test_unwrap_errors(wrapper: Any, exception: type) -> None:
    with pytest.raises(exception):
        unwrap(wrapper)


# -- api.v1beta1.query (pyensign's test_query.py cases) --------------------------------
P = query_pb2.Parameter


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, []),
        ({"foo": 1}, [P(name="foo", i=1)]),
        ({"foo": 2.3}, [P(name="foo", d=2.3)]),
        ({"foo": True}, [P(name="foo", b=True)]),
        ({"foo": False}, [P(name="foo", b=False)]),
        ({"foo": b"data"}, [P(name="foo", y=b"data")]),
        ({"foo": "bar"}, [P(name="foo", s="bar")]),
        ({"foo": "bar", "bar": 2}, [P(name="foo", s="bar"), P(name="bar", i=2)]),
    ],
)
def test_format_query(params: Dict[str, Any], expected: List[Any]) -> None:
    query = format_query("  SELECT * FROM foo;\n", params, include_duplicates=True)
    assert query.query == "SELECT * FROM foo;"
    assert list(query.params) == expected
    assert query.include_duplicates


@pytest.mark.parametrize(
    "query, params, exception, message",
    [
        (None, None, TypeError, "query must be a string"),
        (1, None, TypeError, "query must be a string"),
        (" ", None, ValueError, "query must not be empty"),
        ("SELECT * from foo;", {"foo": None}, TypeError, "unsupported parameter type: NoneType"),
        ("SELECT * from foo;", {"foo": [1, 2, 3]}, TypeError, "unsupported parameter type: list"),
        ("SELECT * from foo;", {"foo": {"bar": 1}}, TypeError, "unsupported parameter type: dict"),
        ("SELECT * from foo;", 42, TypeError, "params must be a dict"),
    ],
)
def test_format_bad_query(query: Any, params: Any, exception: type, message: str) -> None:
    with pytest.raises(exception, match=message):
        format_query(query, params)
