"""``wrap``/``unwrap`` between protobuf ``Event`` and ``EventWrapper``
(``pyensign.api.v1beta1.event``). Importing this module imports protobuf."""

from __future__ import annotations

from typing import Any

from pyensign_fast.api.v1beta1 import event_pb2
from pyensign_fast.utils.ulid import ULID, _other_bytes

__all__ = ["unwrap", "wrap"]


def wrap(event: Any, topic_id: Any) -> Any:
    """An ``EventWrapper`` carrying ``event`` serialized, ``topic_id``'s bytes and a fresh
    ULID ``local_id``. ``TypeError`` unless ``event`` is an ``event_pb2.Event`` and
    ``topic_id`` a ULID (ours or python-ulid's)."""
    if not isinstance(event, event_pb2.Event):
        raise TypeError("event must be a protobuf event")
    if isinstance(topic_id, ULID):
        topic_bytes = topic_id.bytes
    else:
        other = _other_bytes(topic_id)
        if other is None:
            raise TypeError("topic_id must be a ULID")
        topic_bytes = other
    return event_pb2.EventWrapper(
        local_id=ULID().bytes, event=event.SerializeToString(), topic_id=topic_bytes
    )


def unwrap(event_wrapper: Any) -> Any:
    """The ``event_pb2.Event`` inside a wrapper; ``AttributeError`` if it holds none
    (protobuf's ``DecodeError`` if the bytes are not an event)."""
    if event_wrapper.event is None or len(event_wrapper.event) == 0:
        raise AttributeError("event wrapper contains no event")
    event = event_pb2.Event()
    event.ParseFromString(event_wrapper.event)
    return event
