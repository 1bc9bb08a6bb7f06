"""pyensign_fast.enum: members match the protobuf enums; parse and convert as pyensign."""

from __future__ import annotations

from typing import Any

import pytest

from pyensign_fast.enum import (
    DeduplicationStrategy,
    OffsetPosition,
    PBEnum,
    ShardingStrategy,
    TopicState,
)


def _descriptor(name: str) -> Any:
    from pyensign_fast.api.v1beta1 import topic_pb2

    return {
        "TopicState": topic_pb2.TopicState.DESCRIPTOR,
        "Deduplication.Strategy": topic_pb2.Deduplication.Strategy.DESCRIPTOR,
        "Deduplication.OffsetPosition": topic_pb2.Deduplication.OffsetPosition.DESCRIPTOR,
        "ShardingStrategy": topic_pb2.ShardingStrategy.DESCRIPTOR,
    }[name]


@pytest.mark.parametrize(
    "name, enum",
    [
        ("TopicState", TopicState),
        ("Deduplication.Strategy", DeduplicationStrategy),
        ("Deduplication.OffsetPosition", OffsetPosition),
        ("ShardingStrategy", ShardingStrategy),
    ],
)
def test_enumerations_match_the_protobufs(name: str, enum: Any) -> None:
    values = {v.name: v.number for v in _descriptor(name).values}
    assert {m.name: m.value for m in enum} == values


@pytest.mark.parametrize(
    "enum, text, expected",
    [
        (TopicState, "undefined", TopicState.UNDEFINED),
        (TopicState, "ready", TopicState.READY),
        (TopicState, "ReadOnly", TopicState.READONLY),
        (TopicState, "DELETING", TopicState.DELETING),
        (TopicState, "  pending\t", TopicState.PENDING),
        (TopicState, "Allocating", TopicState.ALLOCATING),
        (TopicState, "  repairing ", TopicState.REPAIRING),
        (DeduplicationStrategy, "unknown", DeduplicationStrategy.UNKNOWN),
        (DeduplicationStrategy, "None", DeduplicationStrategy.NONE),
        (DeduplicationStrategy, "STRICT", DeduplicationStrategy.STRICT),
        (DeduplicationStrategy, "datagram", DeduplicationStrategy.DATAGRAM),
        (DeduplicationStrategy, "key_grouped", DeduplicationStrategy.KEY_GROUPED),
        (DeduplicationStrategy, "  unique_KEY", DeduplicationStrategy.UNIQUE_KEY),
        (DeduplicationStrategy, "UNIQUE_field  ", DeduplicationStrategy.UNIQUE_FIELD),
        (OffsetPosition, "earliest", OffsetPosition.OFFSET_EARLIEST),
        (OffsetPosition, "OFFSET_earliest", OffsetPosition.OFFSET_EARLIEST),
        (OffsetPosition, "LATEST", OffsetPosition.OFFSET_LATEST),
        (OffsetPosition, "offset_latest", OffsetPosition.OFFSET_LATEST),
        (ShardingStrategy, "unknown", ShardingStrategy.UNKNOWN),
        (ShardingStrategy, "no_SHARDING", ShardingStrategy.NO_SHARDING),
        (ShardingStrategy, "Consistent_KeY_hash ", ShardingStrategy.CONSISTENT_KEY_HASH),
        (ShardingStrategy, "Random", ShardingStrategy.RANDOM),
        (ShardingStrategy, "publisher_ordering", ShardingStrategy.PUBLISHER_ORDERING),
    ],
)
def test_parse(enum: Any, text: str, expected: Any) -> None:
    assert enum.parse(text) is expected


@pytest.mark.parametrize("enum, text", [(TopicState, "bogus"), (ShardingStrategy, "earliest")])
def test_parse_unknown_is_a_key_error(enum: Any, text: str) -> None:
    with pytest.raises(KeyError):
        enum.parse(text)


def test_offset_aliases_are_parse_only() -> None:
    # As in pyensign: the aliases work in parse(), not in item lookup.
    with pytest.raises(KeyError):
        OffsetPosition["EARLIEST"]


@pytest.mark.parametrize(
    "enum", [TopicState, DeduplicationStrategy, OffsetPosition, ShardingStrategy]
)
def test_convert(enum: Any) -> None:
    for member in enum:
        assert enum.convert(member.value) is member
        assert enum.convert(member) is member
    with pytest.raises(KeyError):
        enum.convert(99)


def test_convert_protobuf_values() -> None:
    from pyensign_fast.api.v1beta1 import topic_pb2

    assert TopicState.convert(topic_pb2.TopicState.READY) is TopicState.READY
    strategy = topic_pb2.Deduplication.Strategy.KEY_GROUPED
    assert DeduplicationStrategy.convert(strategy) is DeduplicationStrategy.KEY_GROUPED
    latest = topic_pb2.Deduplication.OffsetPosition.OFFSET_LATEST
    assert OffsetPosition.convert(latest) is OffsetPosition.OFFSET_LATEST


def test_members_convert_to_int_for_protobuf() -> None:
    # pyensign passed members to protobuf constructors and failed (K1); ours convert.
    assert int(DeduplicationStrategy.DATAGRAM) == 3
    assert [10, 11, 12][OffsetPosition.OFFSET_LATEST] == 12
    assert TopicState.READY != 1  # still an Enum, not an IntEnum
    from pyensign_fast.api.v1beta1 import topic_pb2

    dedup = topic_pb2.Deduplication(
        strategy=int(DeduplicationStrategy.STRICT), offset=int(OffsetPosition.OFFSET_LATEST)
    )
    assert (dedup.strategy, dedup.offset) == (2, 2)


def test_base_class() -> None:
    for enum in (TopicState, DeduplicationStrategy, OffsetPosition, ShardingStrategy):
        assert issubclass(enum, PBEnum)
