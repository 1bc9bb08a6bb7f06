"""Where an event's outcome lives: ``EventState`` and the ``EventOutcome`` mixin.

``Event`` (see :mod:`pyensign_fast.events`) inherits these methods. A published event
reads its state, ``id``, ``committed`` and ``error`` from the ``_core.PublishBatch`` it was
admitted in (``_batch``/``_slot``), lazily and once; a value the user assigned wins. A
received event acks or nacks through its subscription (``_sub.ack(rlid)`` /
``_sub.nack(rlid, code)``, synchronous queueing calls). ``wait_for_ack`` registers one
future with the event loop's bridge and is woken by the core: no polling.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any, Tuple

from pyensign_fast._core import gc_track as _gc_track
from pyensign_fast.ack import Ack as _WaitAck
from pyensign_fast.exceptions import CouldNotAck, CouldNotNack, NackError, PyEnsignError
from pyensign_fast.messages import Nack as _Nack
from pyensign_fast.timestamps import Timestamp
from pyensign_fast.utils.rlid import RLID

__all__ = ["EventOutcome", "EventState"]


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


_SUBSCRIBED = EventState.SUBSCRIBED
_ACKED = EventState.ACKED
_NACKED = EventState.NACKED
_STATES = tuple(EventState)  # batch.state(i) -> EventState, by index
_PUBLISHED_OR_LATER = frozenset(s for s in EventState if s.value >= 2)


class EventOutcome:
    """State, outcome and acknowledgement methods of ``Event``."""

    # The slots this mixin reads and writes; ``Event`` declares the others.
    __slots__ = (
        "_batch",  # _core.PublishBatch after admission, else None
        "_committed",  # committed Timestamp (user-set or cached from the batch)
        "_error",  # messages.Nack (user-set or cached from the batch)
        "_id",  # event id (user-set, cached local_id, or cached RLID)
        "_plain",  # True while the outcome slots hold only what the SDK put there
        "_rlid",  # bytes: the RLID of a received event (what ack/nack send)
        "_slot",  # int: index in _batch (only meaningful when _batch is set)
        "_state",  # EventState when there is no batch
        "_sub",  # the subscription a received event came from (ack/nack target)
    )

    _batch: Any
    _slot: int
    _state: EventState
    _id: Any
    _committed: Any
    _error: Any
    _sub: Any
    _rlid: bytes | None
    _plain: bool

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
        self._plain = False
        _gc_track(self)

    @property
    def committed(self) -> Any:
        """When the server committed the event (a ``Timestamp``): once acked for a
        published event; as the server sent it for a received one (the real server sends none
        with query results)."""
        value = self._committed
        if value is None:
            batch = self._batch
            if batch is not None:
                pair = batch.committed(self._slot)
                if pair is not None:
                    value = self._committed = Timestamp(*pair)
        elif value.__class__ is int:
            # A received event keeps nanoseconds until asked (_receive.received_batch).
            value = self._committed = Timestamp._from_ns(value)
        return value

    @committed.setter
    def committed(self, value: Any) -> None:
        self._committed = value
        self._plain = False
        _gc_track(self)

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
        self._plain = False
        _gc_track(self)

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
        # NOTE: the subscribe hot path (one call per received event): slots read
        # directly, the common case first; the outcomes are those of the checks below.
        state = self._state if self._batch is None else self.state
        if state is _SUBSCRIBED:
            sub = self._sub
            rlid = self._rlid
            if sub is None or rlid is None:
                sub, rlid = self._ack_target(CouldNotAck)
            sub.ack(rlid)
            self._state = _ACKED
            return True
        if state is _ACKED:
            return True
        if state is _NACKED:
            return False
        raise CouldNotAck("Event has not been received by a subscriber")

    async def nack(self, code: int) -> bool:
        """Nack a received event with a code from :mod:`pyensign_fast.nack`. Returns
        True (nacked now or before) or False (it was acked); raises ``CouldNotNack``."""
        state = self._state if self._batch is None else self.state
        if state is _SUBSCRIBED:
            sub = self._sub
            rlid = self._rlid
            if sub is None or rlid is None:
                sub, rlid = self._ack_target(CouldNotNack)
            sub.nack(rlid, code)
            self._state = _NACKED
            return True
        if state is _NACKED:
            return True
        if state is _ACKED:
            return False
        raise CouldNotNack("Event has not been received by a subscriber")

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
        if batch is not None:  # the core reported a final outcome that is neither
            raise PyEnsignError(f"no publish outcome for the event (state {state})")
        raise PyEnsignError(
            "cannot wait for an ack: the event has not been published (state "
            f"{state}); wait_for_ack() applies to events passed to Ensign.publish()"
        )

    # pyensign's state setters, kept for code that drives events by hand. They detach
    # the event from its batch, since the caller now owns the outcome, and track it with
    # the cyclic GC again (see ``conversion/event.rs`` in the core).
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
        self._plain = False
        _gc_track(self)

    def mark_nacked(self, nack: Any) -> None:
        self._batch = None
        self._error = nack
        self._state = _NACKED
        self._plain = False
        _gc_track(self)

    def mark_subscribed(self, sub: Any) -> None:
        self._batch = None
        self._sub = sub
        self._state = _SUBSCRIBED
        self._plain = False
        _gc_track(self)
