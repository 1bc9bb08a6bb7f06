"""``Event`` and friends, compatible with ``pyensign.events``.

``Event`` is a ``__slots__`` class that follows the Event ↔ core contract in
``docs/architecture.md``: ``_core`` reads ``data``, ``mimetype`` (int), ``type``
(``_type``, or when that is ``None`` the shared ``_tparts`` tuple whose last item is the
encoded schema), ``meta`` and ``_created`` (int ns), then sets
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

import json
import pickle
import time
from collections.abc import Mapping
from typing import Any, Dict, Tuple, Union

from pyensign_fast import mimetypes as mtype
from pyensign_fast._core import _event_born, _fast_event_init
from pyensign_fast._core import gc_track as _gc_track
from pyensign_fast.outcome import EventOutcome, EventState
from pyensign_fast.schema import _TYPE_CACHE, Type, _event_type_parts
from pyensign_fast.timestamps import Timestamp
from pyensign_fast.utils import pbtime
from pyensign_fast.utils.rlid import RLID
from pyensign_fast.utils.ulid import ULID

__all__ = ["Event", "EventState", "Type", "ack_event", "from_object"]


_INITIALIZED = EventState.INITIALIZED
_SUBSCRIBED = EventState.SUBSCRIBED

# Hot-path aliases.
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


class Event(EventOutcome):
    """An Ensign event: ``data`` bytes, a ``mimetype``, a schema ``type``, ``meta``.

    Its state, outcome and ack methods (``state``, ``id``, ``committed``, ``error``,
    ``published()``, ``acked()``, ``ack()``, ``nack()``, ``wait_for_ack()``...) come from
    :class:`pyensign_fast.outcome.EventOutcome`.
    """

    # With EventOutcome's slots, these are the attributes of the Event <-> core contract.
    __slots__ = (
        "_created",  # int: creation time, ns since the epoch
        "_topic_id",  # bytes: topic of a received event (set by the subscribe side)
        "_tparts",  # TypeParts: the schema, shared by the events of that schema
        "_type",  # the event's own Type once `type` was read or assigned, else None
        "data",
        "meta",
        "mimetype",
    )

    data: bytes
    meta: Dict[str, str] | None
    mimetype: int
    _tparts: Tuple[str, int, int, int, bytes | None]
    _type: Type | None
    _created: int
    _topic_id: bytes | None

    def __init__(
        self,
        data: bytes | None = None,
        mimetype: Union[str, int] = mtype.ApplicationJSON,
        schema_name: str = "Unknown",
        schema_version: str | None = "0.0.0",
        meta: Dict[str, str] | None = None,
    ) -> None:
        """Validate and build an event, as pyensign does.

        ``data`` must be non-empty bytes (``ValueError`` if empty, ``TypeError`` if not
        bytes); ``mimetype`` a MIME string or ``mimetypes`` value (parsed to an int);
        ``schema_name`` a non-empty string (stripped) and ``schema_version`` a semver
        string such as ``"1.0.0"`` or ``"v1.2.3-rc.1"``; ``meta`` a dict of str to str.
        """
        # NOTE: this is the publish hot path; keep it free of calls when the inputs are
        # the common ones (bytes data, cached mimetype and schema). The validations run
        # in pyensign's order so that the first error raised is the same.
        if not data or data.__class__ is not bytes:
            _bad_data(data)
        if mimetype is None:
            raise ValueError("no mimetype provided")
        try:
            parts = _TYPE_CACHE[schema_name][schema_version]
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
        # No Type object per event: `type` makes one from the shared parts when read.
        self._tparts = parts
        self._type = None
        self.data = data  # type: ignore[assignment]  # checked above
        self.meta = meta
        self._created = _time_ns()
        self._state = _INITIALIZED
        self._batch = None
        self._id = None
        self._committed = None
        self._error = None
        self._sub = None
        self._rlid = None
        self._topic_id = None
        self._plain = True  # see EventOutcome: lets publishing untrack the event
        # Holding nothing that can lead back to it, a fresh event is not walked by the
        # cyclic GC (see rust/python/src/conversion/gc.rs); setters track it again.
        _event_born(self)

    @classmethod
    def _received(
        cls,
        data: bytes,
        mimetype: int,
        meta: Dict[str, str] | None,
        type_parts: Tuple[str, int, int, int],
        created_ns: int,
        rlid: bytes | None,
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
        event._tparts = (*type_parts, None)  # encoded only if the event is published again
        event._type = None
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

    # -- schema type, creation time and protobuf views ------------------------------------
    @property
    def type(self) -> Type:
        """The schema ``Type``; made from the shared parts on first read, then kept (so
        that mutating it changes this event only)."""
        t = self._type
        if t is None:
            t = _new(Type)
            t._name, t._major, t._minor, t._patch, t._pb = self._tparts
            self._type = t
            _gc_track(self)  # the user may now store anything in the Type
        return t

    @type.setter
    def type(self, value: Type) -> None:
        self._type = value
        _gc_track(self)  # a published event may have been untracked (see EventOutcome)

    @property
    def created(self) -> Timestamp:
        """Creation time as a ``Timestamp`` (a new object on each read)."""
        return Timestamp._from_ns(self._created)

    @created.setter
    def created(self, value: Any) -> None:
        self._created = pbtime.to_nanoseconds(value)

    @property
    def topic_id(self) -> ULID | None:
        """The topic a received event (or query result) came from, as a ``ULID``;
        ``None`` for events created locally. go-ensign's ``TopicID()``; pyensign hid it."""
        raw = self._topic_id
        return ULID(raw) if raw is not None else None

    @property
    def _proto(self) -> Any:
        # pyensign kept the protobuf built at creation here; tests read it.
        return self.proto()

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
            None,
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

    # Pickling and copying: a detached snapshot. The outcome is read out of the batch,
    # and neither the batch nor the subscription (process-local handles) is kept.
    def __getstate__(self) -> Dict[str, Any]:
        state: Dict[str, Any] = {}
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if hasattr(self, name):
                    state[name] = getattr(self, name)
        if self._batch is not None:
            state.update(
                _state=self.state, _id=self.id, _committed=self.committed, _error=self.error
            )
        state["_batch"] = state["_sub"] = None
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        s = (
            f"Event(data={self.data!r}, mimetype={self.mimetype}, "
            f"schema_name={self.type.name}, schema_version={self.type.semver()}, "
        )
        if self.meta:
            s += f"meta={self.meta}"
        return s + ")"

    def __str__(self) -> str:
        s = "Event:"
        if self.id:
            s += f"\n\tid: {self.id}"
        # repr() of bytes is what str() gives, without a BytesWarning under -b.
        data = repr(self.data) if isinstance(self.data, bytes) else str(self.data)
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


# The same __init__ as a C-level method for the common arguments (bytes data, a known
# mimetype and schema, meta None or a dict of str to str); it calls the Python one above
# for anything else, so errors and conversions stay the Python ones. See
# rust/python/src/conversion/event_init.rs. `None` when the extension cannot do it.
_py_init = Event.__init__  # the reference (the tests compare both)
_fast_init = _fast_event_init(Event, _py_init, _MIMES, _TYPE_CACHE, _INITIALIZED)
if _fast_init is not None:
    type.__setattr__(Event, "__init__", _fast_init)


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
