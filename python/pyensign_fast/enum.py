"""Python enums for the topic-related protobuf enums (``pyensign.enum``).

``TopicState``, ``DeduplicationStrategy``, ``OffsetPosition`` and ``ShardingStrategy``
carry the protobuf values of ``ensign.v1beta1`` (``protos/api/v1beta1/topic.proto``;
the tests check them against the descriptors). ``parse(str)`` is case- and
whitespace-insensitive and raises ``KeyError`` for unknown names (``OffsetPosition``
also accepts ``earliest``/``latest``); ``convert(value)`` maps a protobuf enum value
(an int) to the member, ``KeyError`` if unknown.

Not in pyensign: members also convert to ``int`` (``__int__``/``__index__``), so they
can be passed wherever a protobuf enum value is expected. pyensign's
``set_topic_deduplication_policy`` failed on exactly that (pyensign-api.md K1).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Dict, TypeVar

__all__ = ["DeduplicationStrategy", "OffsetPosition", "PBEnum", "ShardingStrategy", "TopicState"]

E = TypeVar("E", bound="PBEnum")


class PBEnum(Enum):
    """Base class: an Enum whose values are protobuf enum numbers."""

    @classmethod
    def parse(cls: type[E], name: str) -> E:
        """The member named ``name`` (case/whitespace-insensitive); ``KeyError`` if none."""
        key = name.strip().upper()
        aliases: Dict[str, str] = getattr(cls, "__aliases__", {})
        return cls[aliases.get(key, key)]

    @classmethod
    def convert(cls: type[E], pb_val: Any) -> E:
        """The member with protobuf value ``pb_val``; ``KeyError`` if there is none."""
        if isinstance(pb_val, cls):
            return pb_val
        try:
            return cls._value2member_map_[int(pb_val)]  # type: ignore[return-value]
        except (KeyError, TypeError, ValueError):
            raise KeyError(pb_val) from None

    def __int__(self) -> int:
        return int(self.value)

    def __index__(self) -> int:
        return int(self.value)


class TopicState(PBEnum):
    """The state of a topic (``ensign.v1beta1.TopicState``)."""

    UNDEFINED = 0  # never valid; something went wrong
    READY = 1  # accepts published events and subscribers
    READONLY = 2  # archived: can only be queried
    DELETING = 3  # destroyed, removing its events
    PENDING = 4  # about to change to a state that may not be accessible
    ALLOCATING = 5  # being assigned to nodes, not ready
    REPAIRING = 6  # applying a change, e.g. a deduplication or sharding policy

    __aliases__: Dict[str, str] = {}  # type: ignore[misc]


class DeduplicationStrategy(PBEnum):
    """How duplicate events are detected (``ensign.v1beta1.Deduplication.Strategy``)."""

    UNKNOWN = 0
    NONE = 1  # no deduplication
    STRICT = 2  # identical data, metadata, mimetype and type
    DATAGRAM = 3  # identical data
    KEY_GROUPED = 4  # identical data among events with the same values for `keys`
    UNIQUE_KEY = 5  # identical values for `keys` in the metadata only
    UNIQUE_FIELD = 6  # identical values for `fields` in the data


class OffsetPosition(PBEnum):
    """Which duplicate is canonical (``ensign.v1beta1.Deduplication.OffsetPosition``)."""

    OFFSET_UNKNOWN = 0  # only valid without deduplication
    OFFSET_EARLIEST = 1  # the first event is canonical (the default)
    OFFSET_LATEST = 2  # the latest event is canonical

    __aliases__: Dict[str, str] = {  # type: ignore[misc]
        "EARLIEST": "OFFSET_EARLIEST",
        "LATEST": "OFFSET_LATEST",
    }


class ShardingStrategy(PBEnum):
    """How events are spread over nodes (``ensign.v1beta1.ShardingStrategy``)."""

    UNKNOWN = 0  # single-node mode only
    NO_SHARDING = 1
    CONSISTENT_KEY_HASH = 2
    RANDOM = 3
    PUBLISHER_ORDERING = 4
