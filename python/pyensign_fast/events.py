"""``Event`` and friends, compatible with ``pyensign.events``.

``Event`` is a ``__slots__`` class that follows the Event ↔ core contract in
``docs/architecture.md``: ``_core`` reads ``data``, ``mimetype`` (int), ``type``
(``type._pb`` holds the encoded schema), ``meta`` and ``_created`` (int ns), then sets
``_batch``/``_slot``. From then on ``state``, ``id``, ``committed`` and ``error`` are
read from the batch on demand (a value assigned by the user wins), so the publish path
creates no per-event Python objects beyond the ``Event`` itself. Received events carry
their subscription in ``_sub`` and their RLID bytes in ``_rlid``.

Deliberate differences from pyensign: ``created`` has nanosecond resolution (pyensign
truncated it to whole seconds); datetimes printed by ``str(event)`` are UTC, not the
machine's local time (K13); a missing ``schema_version`` means 0.0.0 instead of an
``AttributeError``; converting a received event never rejects empty data (K9); and
``wait_for_ack`` waits on a future woken by the core instead of polling every 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import time
from collections.abc import Mapping
from enum import Enum
from typing import Any, Dict, Tuple, Union

from pyensign_fast import mimetypes as mtype
from pyensign_fast.ack import Ack as _WaitAck
from pyensign_fast.exceptions import CouldNotAck, CouldNotNack, NackError, PyEnsignError
from pyensign_fast.messages import Nack as _Nack
from pyensign_fast.schema import _TYPE_CACHE, Type, _event_type_parts
from pyensign_fast.timestamps import Timestamp
from pyensign_fast.utils import pbtime
from pyensign_fast.utils.rlid import RLID

__all__ = ["Event", "EventState", "Type", "ack_event", "from_object"]


class EventState(Enum):
    """Lifecycle of an event; ordered by value (pyensign's ``@total_ordering`` enum)."""

    INITIALIZED = 0  # created, not published
    QUEUED = 1  # handed to the client for publishing
    PUBLISHED = 2  # sent to the server, outcome pending
    SUBSCRIBED = 3  # received by a subscriber, not yet acked or nacked by the user
    ACKED = 4  # acked by the server (published) or by the user (subscribed)
    NACKED = 5  # nacked by the server or the client (published) or by the user

    def __lt__(self, other: Any) -> bool:
        if self.__class__ is other.__class__:
            return self.value < other.value  # type: ignore[no-any-return]
        return NotImplemented

    def __le__(self, other: Any) -> bool:
        if self.__class__ is other.__class__:
            return self.value <= other.value  # type: ignore[no-any-return]
        return NotImplemented

    def __gt__(self, other: Any) -> bool:
        if self.__class__ is other.__class__:
            return self.value > other.value  # type: ignore[no-any-return]
        return NotImplemented

    def __ge__(self, other: Any) -> bool:
        if self.__class__ is other.__class__:
            return self.value >= other.value  # type: ignore[no-any-return]
        return NotImplemented


_INITIALIZED = EventState.INITIALIZED
_SUBSCRIBED = EventState.SUBSCRIBED
_ACKED = EventState.ACKED
_NACKED = EventState.NACKED
_STATES = tuple(EventState)  # batch.state(i) -> EventState, by index
_PUBLISHED_OR_LATER = frozenset(s for s in EventState if s.value >= 2)

# Hot-path aliases: the parsed-mimetype cache and the type-parts cache.
_MIMES = mtype._PARSED
_time_ns = time.time_ns
_new = object.__new__


def _bad_data(data: Any) -> None:
    # Only reached when the fast check failed; keeps pyensign's order and messages.
    if not data:
        raise ValueError("no data provided")
    if not isinstance(data, bytes):
        raise TypeError(f"event data must be bytes, got type {type(data)}")


def _check_meta(meta: Any) -> Dict[str, str]:
    if not isinstance(meta, Mapping):
        raise TypeError(f"event meta must be a dict of str to str, got type {type(meta)}")
    if type(meta) is not dict:
        meta = dict(meta)
    for key, value in meta.items():
        if type(key) is not str or type(value) is not str:
            if not (isinstance(key, str) and isinstance(value, str)):
                raise TypeError(f"event meta must be a dict of str to str, got {key!r}: {value!r}")
    return meta  # type: ignore[no-any-return]


class Event:
    """An Ensign event: ``data`` bytes, a ``mimetype``, a schema ``type``, ``meta``."""

    __slots__ = (
        "_batch",  # _core.PublishBatch after admission, else None
        "_committed",  # committed Timestamp (user-set or cached from the batch)
        "_created",  # int: creation time, ns since the epoch
        "_error",  # messages.Nack (user-set or cached from the batch)
        "_id",  # event id (user-set, cached local_id, or cached RLID)
        "_rlid",  # bytes: the RLID of a received event (what ack/nack send)
        "_slot",  # int: index in _batch (only meaningful when _batch is set)
        "_state",  # EventState when there is no batch
        "_sub",  # the subscription a received event came from (ack/nack target)
        "_topic_id",  # bytes: topic of a received event (set by the subscribe side)
        "data",
        "meta",
        "mimetype",
        "type",
    )

    def __init__(
        self,
        data: bytes | None = None,
        mimetype: Union[str, int] = mtype.ApplicationJSON,
        schema_name: str = "Unknown",
        schema_version: str | None = "0.0.0",
        meta: Dict[str, str] | None = None,
    ) -> None:
        # NOTE: this is the publish hot path; keep it free of calls when the inputs are
        # the common ones (bytes data, cached mimetype and schema). The validations run
        # in pyensign's order so that the first error raised is the same.
        if not data or data.__class__ is not bytes:
            _bad_data(data)
        if mimetype is None:
            raise ValueError("no mimetype provided")
        try:
            parts = _TYPE_CACHE[schema_name, schema_version]
        except (KeyError, TypeError):
            parts = None
        if parts is None and not schema_name.strip():  # AttributeError if not a str
            raise ValueError("schema name cannot be empty")
        try:
            self.mimetype = _MIMES[mimetype]
        except KeyError:
            self.mimetype = mtype.parse(mimetype)
        if parts is None:
            parts = _event_type_parts(schema_name, schema_version)
        if meta is not None:
            if meta.__class__ is dict:
                for key, value in meta.items():
                    if key.__class__ is not str or value.__class__ is not str:
                        meta = _check_meta(meta)
                        break
            else:
                meta = _check_meta(meta)
        t = _new(Type)
        t._name, t._major, t._minor, t._patch, t._pb = parts
        self.type = t
        self.data = data
        self.meta = meta
        self._created = _time_ns()
        self._state = _INITIALIZED
        self._batch = None
        self._id = None
        self._committed = None
        self._error = None
        self._sub = None
        self._rlid = None

    @classmethod
    def _received(
        cls,
        data: bytes,
        mimetype: int,
        meta: Dict[str, str] | None,
        type_parts: Tuple[str, int, int, int],
        created_ns: int,
        rlid: bytes,
        topic_id: bytes | None = None,
        sub: Any = None,
        state: EventState = _SUBSCRIBED,
    ) -> Event:
        """Build a received event from plain values, without validation (a received
        event is what it is; pyensign's K9 killed the iterator on empty data).

        For the subscribe and query sides: ``sub`` is the subscription whose
        ``ack(rlid)``/``nack(rlid, code)`` the event's ``ack()``/``nack()`` call; query
        results pass ``sub=None, state=EventState.INITIALIZED`` (they cannot be acked).
        """
        event = _new(cls)
        event.data = data
        event.mimetype = mimetype
        event.meta = meta if meta is not None else {}
        event.type = Type.from_values(*type_parts)
        event._created = created_ns
        event._state = state
        event._batch = None
        event._id = None
        event._committed = None
        event._error = None
        event._sub = sub
        event._rlid = rlid
        event._topic_id = topic_id
        return event

    # -- state and outcome, read from the publish batch when there is one ----------------
    @property
    def state(self) -> EventState:
        batch = self._batch
        if batch is not None:
            return _STATES[batch.state(self._slot)]
        return self._state  # type: ignore[no-any-return]

    @property
    def id(self) -> Any:
        """The local ID (bytes) of a published, acked event; the ``RLID`` of a received
        one; or what the user assigned."""
        value = self._id
        if value is None:
            batch = self._batch
            if batch is not None:
                if batch.state(self._slot) == 4:
                    value = self._id = batch.local_id(self._slot)
            elif self._rlid is not None:
                value = self._id = RLID(self._rlid)
        return value

    @id.setter
    def id(self, value: Any) -> None:
        self._id = value

    @property
    def committed(self) -> Any:
        """When the server committed the event (a ``Timestamp``), once acked."""
        value = self._committed
        if value is None:
            batch = self._batch
            if batch is not None:
                pair = batch.committed(self._slot)
                if pair is not None:
                    value = self._committed = Timestamp(*pair)
        return value

    @committed.setter
    def committed(self, value: Any) -> None:
        self._committed = value

    @property
    def error(self) -> Any:
        """The ``Nack`` (``.id``, ``.code``, ``.error``) of a nacked event."""
        value = self._error
        if value is None:
            batch = self._batch
            if batch is not None:
                pair = batch.nack(self._slot)
                if pair is not None:
                    code, message = pair
                    value = self._error = _Nack(batch.local_id(self._slot), code, message)
        return value

    @error.setter
    def error(self, value: Any) -> None:
        self._error = value

    @property
    def created(self) -> Timestamp:
        """Creation time as a ``Timestamp`` (a new object on each read)."""
        return Timestamp._from_ns(self._created)

    @created.setter
    def created(self, value: Any) -> None:
        self._created = pbtime.to_nanoseconds(value)

    @property
    def _proto(self) -> Any:
        # pyensign kept the protobuf built at creation here; tests read it.
        return self.proto()

    def published(self) -> bool:
        """True once the event was sent to the server (or has an outcome)."""
        return self.state in _PUBLISHED_OR_LATER

    def acked(self) -> bool:
        return self.state is _ACKED

    def nacked(self) -> bool:
        return self.state is _NACKED

    def nack_error(self) -> Any:
        return self.error

    # -- acking received events ----------------------------------------------------------
    def _ack_target(self, error: type) -> Tuple[Any, bytes]:
        sub = self._sub
        if sub is None:
            raise error("Event has not been received by a subscriber")
        rlid = self._rlid
        if rlid is None:
            rlid = self.id.bytes
        return sub, rlid

    async def ack(self) -> bool:
        """Ack a received event. Returns True (acked now or before) or False (it was
        nacked); raises ``CouldNotAck`` if the event was not received by a subscriber."""
        state = self.state
        if state is _ACKED:
            return True
        if state is _NACKED:
            return False
        if state is not _SUBSCRIBED:
            raise CouldNotAck("Event has not been received by a subscriber")
        sub, rlid = self._ack_target(CouldNotAck)
        sub.ack(rlid)
        self._state = _ACKED
        return True

    async def nack(self, code: int) -> bool:
        """Nack a received event with a code from :mod:`pyensign_fast.nack`. Returns
        True (nacked now or before) or False (it was acked); raises ``CouldNotNack``."""
        state = self.state
        if state is _NACKED:
            return True
        if state is _ACKED:
            return False
        if state is not _SUBSCRIBED:
            raise CouldNotNack("Event has not been received by a subscriber")
        sub, rlid = self._ack_target(CouldNotNack)
        sub.nack(rlid, code)
        self._state = _NACKED
        return True

    # -- waiting for the publish outcome -------------------------------------------------
    async def wait_for_ack(self) -> _WaitAck:
        """Wait until the server acks or nacks the event: returns an ``ack.Ack`` or
        raises ``NackError``. Woken by the core; no polling."""
        batch = self._batch
        if batch is not None:
            slot = self._slot
            bridge = None
            # add_waiter is False once the outcome is final; loop in case of an early wake.
            while batch.add_waiter(slot):
                if bridge is None:
                    from pyensign_fast import _bridge

                    bridge = _bridge.get_bridge()
                future = asyncio.get_running_loop().create_future()
                bridge.add_waiter(batch.id, slot, future)
                await future
        state = self.state
        if state is _ACKED:
            return _WaitAck(self.id, self.committed)
        if state is _NACKED:
            error = self.error
            raise NackError(error.code, error.error)
        raise PyEnsignError(
            "cannot wait for an ack: the event has not been published (state "
            f"{state}); wait_for_ack() applies to events passed to Ensign.publish()"
        )

    # pyensign's state setters, kept for code that drives events by hand. They detach
    # the event from its batch, since the caller now owns the outcome.
    def mark_queued(self) -> None:
        self._batch = None
        self._state = EventState.QUEUED

    def mark_published(self) -> None:
        self._batch = None
        self._state = EventState.PUBLISHED

    def mark_acked(self, ack: Any) -> None:
        self._batch = None
        self._id = ack.id
        self._committed = ack.committed
        self._state = _ACKED

    def mark_nacked(self, nack: Any) -> None:
        self._batch = None
        self._error = nack
        self._state = _NACKED

    def mark_subscribed(self, sub: Any) -> None:
        self._batch = None
        self._sub = sub
        self._state = _SUBSCRIBED

    # -- conversions ---------------------------------------------------------------------
    def decode(self, decoder: Any = None) -> Any:
        """Decode ``data`` by mimetype (JSON, pickle, text; raw bytes otherwise), or with
        ``decoder.decode(data)``. A decoding failure raises ``ValueError``."""
        if decoder:
            return decoder.decode(self.data)
        if self.mimetype == mtype.ApplicationJSON:
            try:
                return json.loads(self.data)
            except json.JSONDecodeError as e:
                raise ValueError("error decoding event data from JSON") from e
        if self.mimetype == mtype.ApplicationPythonPickle:
            try:
                return pickle.loads(self.data)
            except Exception as e:
                raise ValueError("error decoding event data from pickle") from e
        if self.mimetype == mtype.TextPlain:
            try:
                return self.data.decode()
            except UnicodeDecodeError as e:
                raise ValueError("error decoding event data to string") from e
        return self.data

    def proto(self) -> Any:
        """The protobuf ``event_pb2.Event`` (imports protobuf)."""
        from pyensign_fast.api.v1beta1 import event_pb2

        pb = event_pb2.Event(
            data=self.data, metadata=self.meta, mimetype=self.mimetype, type=self.type.proto()
        )
        pb.created.seconds, pb.created.nanos = divmod(self._created, 1_000_000_000)
        return pb

    @classmethod
    def from_proto(cls, proto: Any) -> Event:
        """An event from a protobuf ``Event`` (state INITIALIZED)."""
        created = proto.created
        return cls._received(
            proto.data,
            proto.mimetype,
            dict(proto.metadata),
            (
                proto.type.name,
                proto.type.major_version,
                proto.type.minor_version,
                proto.type.patch_version,
            ),
            created.seconds * 1_000_000_000 + created.nanos,
            None,  # type: ignore[arg-type]
            state=_INITIALIZED,
        )

    @classmethod
    def from_wrapper(cls, wrapper: Any) -> Event:
        """An event from a protobuf ``EventWrapper``; ``id`` is its RLID."""
        from pyensign_fast.api.v1beta1.event import unwrap

        event = cls.from_proto(unwrap(wrapper))
        event._rlid = bytes(wrapper.id)
        event._id = RLID(wrapper.id)
        return event

    def __repr__(self) -> str:
        s = (
            f"Event(data={self.data}, mimetype={self.mimetype}, "
            f"schema_name={self.type.name}, schema_version={self.type.semver()}, "
        )
        if self.meta:
            s += f"meta={self.meta}"
        return s + ")"

    def __str__(self) -> str:
        s = "Event:"
        if self.id:
            s += f"\n\tid: {self.id}"
        data = str(self.data)
        if len(data) > 100:
            data = data[:100] + "..."
        s += f"\n\tdata: {data}"
        s += f"\n\tmimetype: {mtype.to_str(self.mimetype)}"
        s += f"\n\tschema: {self.type}"
        if self.meta:
            s += f"\n\tmeta: {self.meta}"
        s += f"\n\tstate: {self.state}"
        s += f"\n\tcreated: {pbtime.to_datetime(self.created)}"
        if self.committed:
            s += f"\n\tcommitted: {pbtime.to_datetime(self.committed)}"
        if self.error:
            s += f"\n\terror: {self.error}"
        return s


def from_object(obj: Any, mimetype: Union[str, int, None] = None, encoder: Any = None) -> Event:
    """Best-effort conversion of a Python object into an Event: ``encoder.encode(obj)``
    if given (then ``mimetype`` is required); bytes as octet-stream; str as UTF-8
    text/plain; pickle when the mimetype says so; JSON otherwise."""
    if mimetype:
        mimetype = mtype.parse(mimetype)
    if encoder:
        if not mimetype:
            raise ValueError("mimetype must be provided if encoder is provided")
        if not hasattr(encoder, "encode"):
            raise ValueError("encoder must have an encode() method")
        data = encoder.encode(obj)
    elif isinstance(obj, bytes):
        data = obj
        if not mimetype:
            mimetype = mtype.ApplicationOctetStream
    elif isinstance(obj, str):
        data = obj.encode("utf-8")
        if not mimetype:
            mimetype = mtype.TextPlain
    elif mimetype == mtype.ApplicationPythonPickle:
        data = pickle.dumps(obj)
    else:
        data = json.dumps(obj).encode("utf-8")
        if not mimetype:
            mimetype = mtype.ApplicationJSON
    return Event(data=data, mimetype=mimetype)  # type: ignore[arg-type]


async def ack_event(event: Event) -> None:
    """Ack a received event (pyensign's helper)."""
    await event.ack()
