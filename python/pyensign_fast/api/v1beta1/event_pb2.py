"""Protobuf classes for ``api/v1beta1/event.proto``: events, event wrappers and schema types.

The import path of ``pyensign.api.v1beta1.event_pb2``. The classes are built at import time from
the Rust core's descriptor set (see :mod:`pyensign_fast.api._pool`), so importing
this module imports protobuf."""

from typing import TYPE_CHECKING, Any

from pyensign_fast.api._pool import export

export(globals(), "api/v1beta1/event.proto")

if TYPE_CHECKING:
    DESCRIPTOR: Any
    EventWrapper: Any
    Event: Any
    EventContainer: Any
    Type: Any
    Encryption: Any
    Compression: Any
    Publisher: Any

__all__ = [
    "DESCRIPTOR",
    "Compression",
    "Encryption",
    "Event",
    "EventContainer",
    "EventWrapper",
    "Publisher",
    "Type",
]
