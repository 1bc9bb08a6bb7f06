"""Blocking outcomes for the sync API: the process-wide
:class:`~pyensign_fast._bridge.ThreadBridge`, :func:`wait_for_ack` and the blocking
:class:`Event` (re-exported by :mod:`pyensign_fast.sync`).

Every blocking client publishes with the notifier of one ``ThreadBridge`` per process: its
daemon thread runs ``on_ack``/``on_nack`` callbacks and wakes :func:`wait_for_ack`
callers, each of which waits on its own ``threading.Event``; nobody polls.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Tuple

from pyensign_fast._bridge import ThreadBridge
from pyensign_fast.ack import Ack
from pyensign_fast.events import Event as _AsyncEvent
from pyensign_fast.exceptions import NackError, PyEnsignError

__all__ = ["Event", "thread_bridge", "wait_for_ack"]

_PENDING = 2  # PublishBatch.state(): in flight
_bridge_lock = threading.Lock()
_bridge: Tuple[int, ThreadBridge] | None = None


def thread_bridge() -> ThreadBridge:
    """The process's ``ThreadBridge`` (a new one in a forked child)."""
    global _bridge
    current = _bridge
    pid = os.getpid()
    if current is not None and current[0] == pid:
        return current[1]
    with _bridge_lock:
        if _bridge is None or _bridge[0] != pid:
            _bridge = (pid, ThreadBridge())
        return _bridge[1]


class _Waiter:
    """What ``ThreadBridge.drain`` resolves for a waiter: a future-like ``threading.Event``."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def done(self) -> bool:
        return self._event.is_set()

    def set_result(self, _value: Any) -> None:
        self._event.set()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)


def _discard(bridge: ThreadBridge, key: Tuple[int, int], waiter: _Waiter) -> None:
    waiters = bridge.waiters.get(key)
    if waiters is not None:
        try:
            waiters.remove(waiter)
        except ValueError:
            pass
        if not waiters:
            bridge.waiters.pop(key, None)


def wait_for_ack(event: Any, timeout: float | None = None) -> Ack:
    """Block until a published event has its outcome: returns an ``ack.Ack`` or raises
    ``NackError`` (``TimeoutError`` after ``timeout`` seconds, if given)."""
    batch = event._batch
    if batch is not None:
        slot = event._slot
        bridge = thread_bridge()
        key = (batch.id, slot)
        waiter = _Waiter()
        # Registered before asking the batch, so that an outcome arriving in between
        # still finds the waiter (the drain thread pops waiters when it arrives).
        bridge.add_waiter(batch.id, slot, waiter)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if batch.add_waiter(slot):
                while True:
                    step = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                    if waiter.wait(max(step, 0.0)):
                        break
                    # Only for events published by an asyncio client, whose wake-up goes
                    # to that loop: the outcome is read from the batch.
                    if batch.state(slot) != _PENDING:
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        raise TimeoutError(f"no ack or nack after {timeout} seconds")
        finally:
            _discard(bridge, key, waiter)
    state = event.state.value
    if state == 4:
        return Ack(event.id, event.committed)
    if state == 5:
        error = event.error
        raise NackError(error.code, error.error)
    raise PyEnsignError(
        f"cannot wait for an ack: the event has not been published (state {event.state}); "
        "wait_for_ack() applies to published events"
    )


def _now(coro: Any) -> Any:
    """The result of a coroutine that completes without suspending."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("operation cannot complete without an event loop")


class Event(_AsyncEvent):
    """An ``Event`` whose ``ack()``, ``nack()`` and ``wait_for_ack()`` block instead of
    returning coroutines. Events received by the blocking client's ``subscribe()`` are
    of this class; publish them with either client."""

    __slots__ = ()

    def ack(self) -> bool:  # type: ignore[override]
        """Ack a received event: True (acked now or before) or False (it was nacked)."""
        return _now(super().ack())  # type: ignore[no-any-return]

    def nack(self, code: int) -> bool:  # type: ignore[override]
        """Nack a received event with a ``pyensign_fast.nack`` code: True (nacked now or
        before) or False (it was acked)."""
        return _now(super().nack(code))  # type: ignore[no-any-return]

    def wait_for_ack(self, timeout: float | None = None) -> Ack:  # type: ignore[override]
        """Block until the published event is acked (returns ``ack.Ack``) or nacked
        (raises ``NackError``)."""
        return wait_for_ack(self, timeout)


def as_sync_event(event: _AsyncEvent) -> Event:
    """The same event object, now with blocking ``ack``/``nack``/``wait_for_ack``."""
    if type(event) is _AsyncEvent:
        event.__class__ = Event
    return event  # type: ignore[return-value]
