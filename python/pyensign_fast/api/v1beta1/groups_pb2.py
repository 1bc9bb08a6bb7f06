"""Protobuf classes for ``api/v1beta1/groups.proto``: consumer groups.

The import path of ``pyensign.api.v1beta1.groups_pb2``. The classes are built at import time from
the Rust core's descriptor set (see :mod:`pyensign_fast.api._pool`), so importing
this module imports protobuf."""

from typing import TYPE_CHECKING, Any

from pyensign_fast.api._pool import export

export(globals(), "api/v1beta1/groups.proto")

if TYPE_CHECKING:
    DESCRIPTOR: Any
    ConsumerGroup: Any
    DeliverySemantic: Any
    UNSPECIFIED: int
    AT_MOST_ONCE: int
    AT_LEAST_ONCE: int
    EXACTLY_ONCE: int

__all__ = [
    "DESCRIPTOR",
    "ConsumerGroup",
    "DeliverySemantic",
]
