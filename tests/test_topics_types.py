"""pyensign_fast.topics / projects / status / utils.cache: built from protobuf messages
(pyensign's from_proto/from_info/convert) or from plain values (from_dict/...), with
pyensign's str/repr formats (recorded from pyensign, TZ=UTC)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Dict

import pytest

from _pyensign_tables import TABLES
from pyensign_fast.enum import DeduplicationStrategy, OffsetPosition, TopicState
from pyensign_fast.exceptions import CacheMissError
from pyensign_fast.projects import Project
from pyensign_fast.schema import Type
from pyensign_fast.status import ServerStatus
from pyensign_fast.timestamps import Duration
from pyensign_fast.topics import Deduplication, EventType, Topic, TopicCache
from pyensign_fast.utils.cache import Cache
from pyensign_fast.utils.topics import TopicCache as ReexportedTopicCache
from pyensign_fast.utils.ulid import ULID

FORMATS = TABLES["formats"]
TOPIC_ID = bytes.fromhex("01563e3ab5d3d6764c61efb99302bd5b")
PROJECT_ID = bytes.fromhex("018bcfe5680000000000000000000001")

TOPIC: Dict[str, Any] = {
    "id": TOPIC_ID,
    "project_id": PROJECT_ID,
    "name": "otters",
    "offset": 42,
    "status": 1,
    "deduplication": {"strategy": 4, "offset": 1, "keys": ["foo"], "overwrite_duplicate": True},
    "created": (1672531200, 0),
    "modified": 1672617600_500_000_000,
}
TOPIC_INFO: Dict[str, Any] = {
    "topic_id": TOPIC_ID,
    "project_id": PROJECT_ID,
    "event_offset_id": b"\x01" * 10,
    "events": 60,
    "duplicates": 6,
    "data_size_bytes": 512,
    "types": [
        {
            "type": ("message", 1, 0, 3),
            "mimetype": 1,
            "events": 60,
            "duplicates": 6,
            "data_size_bytes": 512,
        }
    ],
}
PROJECT_INFO: Dict[str, Any] = {
    "project_id": PROJECT_ID,
    "num_topics": 2,
    "num_readonly_topics": 1,
    "events": 100,
    "duplicates": 10,
    "data_size_bytes": 1024,
    "topics": [TOPIC_INFO],
}


def _pb(kind: str) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    from pyensign_fast.api.v1beta1 import ensign_pb2, event_pb2, topic_pb2

    topic_info = topic_pb2.TopicInfo(
        **{k: v for k, v in TOPIC_INFO.items() if k != "types"},
        types=[
            topic_pb2.EventTypeInfo(
                type=event_pb2.Type(name="message", major_version=1, patch_version=3),
                mimetype=1,
                events=60,
                duplicates=6,
                data_size_bytes=512,
            )
        ],
    )
    if kind == "topic":
        return topic_pb2.Topic(
            id=TOPIC_ID,
            project_id=PROJECT_ID,
            name="otters",
            offset=42,
            status=topic_pb2.TopicState.READY,
            deduplication=topic_pb2.Deduplication(
                strategy=topic_pb2.Deduplication.Strategy.KEY_GROUPED,
                offset=topic_pb2.Deduplication.OffsetPosition.OFFSET_EARLIEST,
                keys=["foo"],
                overwrite_duplicate=True,
            ),
            created=Timestamp(seconds=1672531200),
            modified=Timestamp(seconds=1672617600, nanos=500000000),
        )
    if kind == "topic_info":
        return topic_info
    return ensign_pb2.ProjectInfo(
        **{k: v for k, v in PROJECT_INFO.items() if k != "topics"}, topics=[topic_info]
    )


@pytest.mark.parametrize("source", ["dict", "protobuf"])
def test_topic(source: str) -> None:
    topic = Topic.from_dict(TOPIC) if source == "dict" else Topic.from_proto(_pb("topic"))
    assert topic.id == ULID(TOPIC_ID) and isinstance(topic.id, ULID)
    assert topic.project_id == ULID(PROJECT_ID)
    assert (topic.name, topic.offset, topic.status) == ("otters", 42, TopicState.READY)
    assert topic.deduplication is not None
    assert topic.deduplication.strategy is DeduplicationStrategy.KEY_GROUPED
    assert topic.deduplication.offset is OffsetPosition.OFFSET_EARLIEST
    assert topic.deduplication.keys == ["foo"] and topic.deduplication.overwrite_duplicate
    assert topic.created == dt.datetime(2023, 1, 1)
    assert topic.modified == dt.datetime(2023, 1, 2, 0, 0, 0, 500000)
    assert str(topic) == FORMATS["topic_str"]
    assert repr(topic) == FORMATS["topic_repr"]
    assert str(topic.deduplication) == FORMATS["dedup_str"]


@pytest.mark.parametrize("source", ["dict", "protobuf"])
def test_project_and_topic_info(source: str) -> None:
    if source == "dict":
        project = Project.from_info_dict(PROJECT_INFO)
        topic = Topic.from_info_dict(TOPIC_INFO)
    else:
        project = Project.from_info(_pb("project"))
        topic = Topic.from_info(_pb("topic_info"))
    assert project.id == ULID(PROJECT_ID)
    assert (project.num_topics, project.num_readonly_topics, project.events) == (2, 1, 100)
    assert (project.duplicates, project.data_size_bytes) == (10, 1024)
    assert len(project.topics) == 1 and project.topics[0].id == ULID(TOPIC_ID)
    assert topic.event_offset_id == b"\x01" * 10
    (event_type,) = topic.types
    assert (event_type.type.semver(), event_type.mimetype) == ("1.0.3", 1)
    assert (event_type.events, event_type.duplicates, event_type.data_size_bytes) == (60, 6, 512)
    assert str(project) == FORMATS["project_str"]
    assert repr(project) == FORMATS["project_repr"]
    assert str(topic) == FORMATS["info_topic_str"]
    assert repr(event_type) == FORMATS["event_type_repr"]


def test_event_type_from_plain_values() -> None:
    for given in [("m", 1, 0, 3), {"name": "m", "major_version": 1, "patch_version": 3}]:
        event_type = EventType.from_info_dict({"type": given, "mimetype": 50})
        assert str(event_type.type) == "m v1.0.3" and event_type.mimetype == 50
    assert EventType.from_info_dict({"type": Type("x", "1.0.0")}).type.name == "x"
    assert EventType.from_info_dict({}).type.semver() == "0.0.0"


def test_topic_constructor_hash_and_equality() -> None:
    assert repr(Topic(name="otters", topic_str="x")) == FORMATS["topic_name_repr"]
    with pytest.raises(ValueError, match="cannot hash topic with no ID"):
        hash(Topic(name="otters"))
    a, b = Topic(id=TOPIC_ID, name="a"), Topic(id=str(ULID(TOPIC_ID)), name="b")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Topic(id=PROJECT_ID) and a != "otters"
    with pytest.raises(TypeError):
        Topic(id=12)


def test_deduplication_defaults() -> None:
    assert repr(Deduplication()) == FORMATS["dedup_repr"]
    dedup = Deduplication.from_dict({"strategy": 3})
    assert dedup.strategy is DeduplicationStrategy.DATAGRAM
    assert dedup.offset is OffsetPosition.OFFSET_UNKNOWN and dedup.keys == []


@pytest.mark.parametrize("uptime", [Duration(3600, 5), (3600, 5), 3600_000_000_005])
def test_server_status(uptime: Any) -> None:
    status = ServerStatus.from_dict({"status": 1, "version": "0.12.9", "uptime": uptime})
    assert str(status) == FORMATS["status_str"]
    assert status.uptime.ToTimedelta() == dt.timedelta(hours=1)
    assert ServerStatus("AVAILABLE", "1.0.0", "10 minutes").uptime == "10 minutes"


def test_cache() -> None:
    cache = Cache()
    cache.add("key", "value")
    assert cache.get("key") == "value" and cache.exists("key") and len(cache) == 1
    cache.clear()
    with pytest.raises(CacheMissError, match="key"):
        cache.get("key")
    disabled = Cache(read_only=True)
    disabled.add("key", "value")
    assert not disabled.exists("key")


def test_topic_cache_resolve() -> None:
    assert ReexportedTopicCache is TopicCache
    cache = TopicCache()
    topic_id = ULID(TOPIC_ID)
    cache.add("otters", topic_id)
    assert cache.resolve("otters") is topic_id
    assert cache.resolve(str(topic_id)) == topic_id
    with pytest.raises(CacheMissError, match="lighthouses"):
        cache.resolve("lighthouses")
    # A 26-character name is not taken for an ID (python-ulid would decode garbage).
    with pytest.raises(CacheMissError):
        cache.resolve("abcdefghijklmnopqrstuvwxyz")
    read_only = TopicCache(read_only=True)
    read_only.add("otters", topic_id)
    with pytest.raises(CacheMissError):
        read_only.resolve("otters")
