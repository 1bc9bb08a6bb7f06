"""Topics, their deduplication policy and event types, and the topic-ID cache
(``pyensign.topics`` and ``pyensign.utils.topics.TopicCache``).

pyensign builds these from protobuf messages (``from_proto``, ``from_info``,
``convert``); those still work with protobuf objects, or anything with the same
attribute names. Our Rust core hands plain values instead, so each class also has
``from_dict`` / ``from_info_dict`` taking a mapping keyed by the same protobuf field
names. Timestamps may be protobuf-like objects, ``(seconds, nanos)``, int ns or
datetimes; IDs may be bytes, strings or ULIDs. Datetimes are naive UTC (K13).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, Iterable, List

from pyensign_fast.enum import DeduplicationStrategy, OffsetPosition, TopicState
from pyensign_fast.exceptions import CacheMissError
from pyensign_fast.schema import Type
from pyensign_fast.utils import pbtime, ulid
from pyensign_fast.utils.cache import Cache

__all__ = ["Deduplication", "EventType", "Topic", "TopicCache"]

_EPOCH = _dt.datetime(1970, 1, 1)


def _field(src: Any, name: str, default: Any = None) -> Any:
    """A field of a protobuf-like object or of a mapping."""
    if isinstance(src, Mapping):
        return src.get(name, default)
    return getattr(src, name, default)


def _datetime(value: Any) -> _dt.datetime | None:
    """Naive UTC datetime of any time-like value (``None`` stays ``None``)."""
    if value is None or isinstance(value, _dt.datetime):
        return value
    if isinstance(value, (int, tuple)):
        ns = pbtime.to_nanoseconds(value)
        return _EPOCH + _dt.timedelta(microseconds=ns // 1_000)
    return pbtime.to_datetime(value)


def _type(value: Any) -> Type:
    if value is None:
        return Type.from_values("")
    if isinstance(value, Type):
        return value
    if isinstance(value, tuple):
        return Type.from_values(*value)
    return Type.from_values(
        _field(value, "name", ""),
        _field(value, "major_version", 0),
        _field(value, "minor_version", 0),
        _field(value, "patch_version", 0),
    )


class Topic:
    """A topic: a named, ordered stream of events with a unique ID (a ULID)."""

    def __init__(self, id: Any = None, name: str = "", topic_str: str = "") -> None:
        self.id = ulid.parse(id) if id else None
        self.name = name
        self.topic_str = topic_str
        self.project_id: Any = None
        self.event_offset_id: Any = None
        self.events = 0
        self.duplicates = 0
        self.data_size_bytes = 0
        self.offset = 0
        self.status: TopicState | None = None
        self.deduplication: Deduplication | None = None
        self.types: List[EventType] = []
        self.created: _dt.datetime | None = None
        self.modified: _dt.datetime | None = None

    def __hash__(self) -> int:
        if self.id is None:
            raise ValueError("cannot hash topic with no ID")
        return hash(str(self.id))

    def __eq__(self, other: object) -> bool:
        if not hasattr(other, "id"):
            return NotImplemented
        return bool(self.id == other.id)

    def __repr__(self) -> str:
        s = "Topic("
        if self.id:
            s += f"id={self.id}, "
        if self.name:
            s += f"name={self.name}, "
        if self.topic_str:
            s += f"topic_str={self.topic_str}"
        return s + ")"

    def __str__(self) -> str:
        s = "Topic"
        for label in ("id", "name", "status", "project_id", "event_offset_id", "topic_str"):
            value = getattr(self, label)
            if value:
                s += f"\n\t{label}={value}"
        for label in ("events", "duplicates", "data_size_bytes", "offset"):
            s += f"\n\t{label}={getattr(self, label)}"
        s += f"\n\ttypes:{len(self.types)}"
        for event_type in self.types:
            s += "\n\t" + str(event_type).replace("\t", "\t\t")
        if self.created:
            s += f"\n\tcreated={self.created}"
        if self.modified:
            s += f"\n\tmodified={self.modified}"
        return s

    @classmethod
    def from_proto(cls, pb_val: Any) -> Topic:
        """From a protobuf ``Topic`` (or a mapping with its field names)."""
        topic = cls(id=_field(pb_val, "id"), name=_field(pb_val, "name", ""))
        project_id = _field(pb_val, "project_id")
        topic.project_id = ulid.parse(project_id) if project_id else None
        topic.offset = _field(pb_val, "offset", 0)
        topic.status = TopicState.convert(_field(pb_val, "status", 0))
        dedup = _field(pb_val, "deduplication")
        topic.deduplication = Deduplication.convert(dedup) if dedup is not None else None
        topic.created = _datetime(_field(pb_val, "created"))
        topic.modified = _datetime(_field(pb_val, "modified"))
        return topic

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Topic:
        """From plain values keyed by ``Topic`` field names: ``id``, ``project_id``
        (bytes/str), ``name``, ``offset``, ``status`` (int), ``deduplication`` (a
        mapping, see :meth:`Deduplication.from_dict`), ``created``/``modified``."""
        return cls.from_proto(values)

    @classmethod
    def from_info(cls, pb_val: Any) -> Topic:
        """From a protobuf ``TopicInfo`` (or a mapping with its field names)."""
        topic = cls(id=_field(pb_val, "topic_id"))
        project_id = _field(pb_val, "project_id")
        topic.project_id = ulid.parse(project_id) if project_id else None
        topic.event_offset_id = _field(pb_val, "event_offset_id")
        topic.events = _field(pb_val, "events", 0)
        topic.duplicates = _field(pb_val, "duplicates", 0)
        topic.data_size_bytes = _field(pb_val, "data_size_bytes", 0)
        for event_type in _field(pb_val, "types", ()) or ():
            topic.types.append(EventType.from_info(event_type))
        return topic

    @classmethod
    def from_info_dict(cls, values: Mapping[str, Any]) -> Topic:
        """From plain values keyed by ``TopicInfo`` field names (``topic_id``,
        ``project_id``, ``event_offset_id``, ``events``, ``duplicates``,
        ``data_size_bytes``, ``types``: mappings for :meth:`EventType.from_info_dict`)."""
        return cls.from_info(values)


class Deduplication:
    """A topic's deduplication policy."""

    def __init__(
        self,
        strategy: Any = DeduplicationStrategy.NONE,
        offset: Any = OffsetPosition.OFFSET_EARLIEST,
        keys: Iterable[str] | None = None,
        fields: Iterable[str] | None = None,
        overwrite_duplicate: bool = False,
    ) -> None:
        self.strategy = strategy
        self.offset = offset
        self.keys = keys
        self.fields = fields
        self.overwrite_duplicate = overwrite_duplicate

    def __repr__(self) -> str:
        # NOTE: pyensign prints no space after "offset=...,"; kept for identical output.
        return (
            f"Deduplication(strategy={self.strategy}, offset={self.offset},"
            f"keys={self.keys}, fields={self.fields}, "
            f"overwrite_duplicate={self.overwrite_duplicate})"
        )

    def __str__(self) -> str:
        s = "Deduplication"
        for label in ("strategy", "offset", "keys", "fields", "overwrite_duplicate"):
            s += f"\n\t{label}={getattr(self, label)}"
        return s

    @classmethod
    def convert(cls, pb_val: Any) -> Deduplication:
        """From a protobuf ``Deduplication`` (or a mapping with its field names)."""
        return cls(
            strategy=DeduplicationStrategy.convert(_field(pb_val, "strategy", 0)),
            offset=OffsetPosition.convert(_field(pb_val, "offset", 0)),
            keys=list(_field(pb_val, "keys", ()) or ()),
            fields=list(_field(pb_val, "fields", ()) or ()),
            overwrite_duplicate=bool(_field(pb_val, "overwrite_duplicate", False)),
        )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Deduplication:
        """From plain values: ``strategy``/``offset`` ints, ``keys``/``fields`` lists,
        ``overwrite_duplicate`` bool."""
        return cls.convert(values)


class EventType:
    """A (schema type, mimetype) pair seen in a topic, with its counters."""

    def __init__(self, type: Type, mimetype: int) -> None:
        self.type = type
        self.mimetype = mimetype
        self.events = 0
        self.duplicates = 0
        self.data_size_bytes = 0

    def __repr__(self) -> str:
        return f"EventType(type={self.type}, mimetype={self.mimetype})"

    def __str__(self) -> str:
        s = "EventType"
        for label in ("type", "mimetype", "events", "duplicates", "data_size_bytes"):
            s += f"\n\t{label}={getattr(self, label)}"
        return s

    @classmethod
    def from_info(cls, pb_val: Any) -> EventType:
        """From a protobuf ``EventTypeInfo`` (or a mapping with its field names)."""
        event_type = cls(_type(_field(pb_val, "type")), _field(pb_val, "mimetype", 0))
        event_type.events = _field(pb_val, "events", 0)
        event_type.duplicates = _field(pb_val, "duplicates", 0)
        event_type.data_size_bytes = _field(pb_val, "data_size_bytes", 0)
        return event_type

    @classmethod
    def from_info_dict(cls, values: Mapping[str, Any]) -> EventType:
        """From plain values: ``type`` as ``(name, major, minor, patch)`` or a mapping,
        ``mimetype`` int, ``events``, ``duplicates``, ``data_size_bytes``."""
        return cls.from_info(values)


class TopicCache(Cache):
    """The topic name → ID cache used as ``Ensign.topics``."""

    def resolve(self, topic_str: str) -> Any:
        """The cached ID of a topic name, else ``topic_str`` parsed as a ULID topic ID;
        ``CacheMissError`` if it is neither."""
        try:
            return self.get(topic_str)
        except CacheMissError:
            pass
        try:
            return ulid.ULID.from_str(topic_str)
        except ValueError:
            raise CacheMissError(topic_str) from None
