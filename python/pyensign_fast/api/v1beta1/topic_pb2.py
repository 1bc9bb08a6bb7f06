"""Protobuf classes for ``api/v1beta1/topic.proto``: topics, topic info,
deduplication and placement.

The import path of ``pyensign.api.v1beta1.topic_pb2``. The classes are built at import time from
the Rust core's descriptor set (see :mod:`pyensign_fast.api._pool`), so importing
this module imports protobuf."""

from typing import TYPE_CHECKING, Any

from pyensign_fast.api._pool import export

export(globals(), "api/v1beta1/topic.proto")

if TYPE_CHECKING:
    DESCRIPTOR: Any
    Topic: Any
    TopicName: Any
    TopicInfo: Any
    TopicsPage: Any
    TopicNamesPage: Any
    TopicMod: Any
    TopicStatus: Any
    TopicExistsInfo: Any
    TopicPolicy: Any
    Deduplication: Any
    Placement: Any
    Node: Any
    EventTypeInfo: Any
    TopicState: Any
    ShardingStrategy: Any
    UNDEFINED: int
    READY: int
    READONLY: int
    DELETING: int
    PENDING: int
    ALLOCATING: int
    REPAIRING: int
    UNKNOWN: int
    NO_SHARDING: int
    CONSISTENT_KEY_HASH: int
    RANDOM: int
    PUBLISHER_ORDERING: int

__all__ = [
    "DESCRIPTOR",
    "Deduplication",
    "EventTypeInfo",
    "Node",
    "Placement",
    "ShardingStrategy",
    "Topic",
    "TopicExistsInfo",
    "TopicInfo",
    "TopicMod",
    "TopicName",
    "TopicNamesPage",
    "TopicPolicy",
    "TopicState",
    "TopicStatus",
    "TopicsPage",
]
