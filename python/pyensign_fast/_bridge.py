"""The Python side of the notifier: how results from the Rust core reach asyncio.

One :class:`Bridge` per event loop owns a ``_core.Notifier`` whose file descriptor is
registered once with ``loop.add_reader``. The core writes to it at most once per burst of
completions; :meth:`Bridge.drain` then takes every completion in one FFI call and
dispatches it: resolve a future, run an ``on_ack``/``on_nack`` callback, or wake the
``wait_for_ack()`` waiters of an event. See ``docs/architecture.md``.

Callbacks may be plain functions or coroutine functions (pyensign awaited them); an
exception raised by one is logged on the ``pyensign_fast`` logger and never reaches the
loop or the stream.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional, Tuple

from pyensign_fast import _core
from pyensign_fast.messages import Ack, Nack
from pyensign_fast.timestamps import Timestamp

__all__ = ["Bridge", "ThreadBridge", "get_bridge"]

logger = logging.getLogger("pyensign_fast")

KIND_RESULT = 0
KIND_ERROR = 1
KIND_WAITER = 3
KIND_ACK_CALLBACK = 4
KIND_NACK_CALLBACK = 5


def _log_task_error(task: asyncio.Future) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        logger.warning("exception in an ack/nack callback", exc_info=exc)


class _Dispatcher:
    """What both bridges share: the notifier, the waiters and the dispatch loop."""

    def __init__(self) -> None:
        self.notifier = _core.Notifier()
        self.waiters: Dict[Tuple[int, int], List[Any]] = {}

    def add_waiter(self, batch_id: int, slot: int, future: Any) -> None:
        """Resolve ``future`` (with ``None``) once event ``slot`` of the batch has its
        outcome; the caller must have called ``batch.add_waiter(slot)`` first."""
        self.waiters.setdefault((batch_id, slot), []).append(future)

    def _call(self, callback: Callable[[Any], Any], arg: Any) -> None:
        try:
            result = callback(arg)
        except Exception:
            logger.warning("exception in an ack/nack callback", exc_info=True)
            return
        if inspect.isawaitable(result):
            self._schedule(result)

    def _schedule(self, awaitable: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def drain(self) -> None:
        """Takes every pending completion from the core and dispatches it."""
        for kind, a, b in self.notifier.drain():
            if kind == KIND_RESULT:
                if not a.done():
                    a.set_result(b)
            elif kind == KIND_ERROR:
                if not a.done():
                    a.set_exception(b)
            elif kind == KIND_WAITER:
                for fut in self.waiters.pop((a, b), ()):
                    if not fut.done():
                        fut.set_result(None)
            elif kind == KIND_ACK_CALLBACK:
                self._call(a, Ack(b[0], Timestamp(b[1], b[2])))
            elif kind == KIND_NACK_CALLBACK:
                self._call(a, Nack(b[0], b[1], b[2]))


class Bridge(_Dispatcher):
    """The notifier of one asyncio event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        loop.add_reader(self.notifier.fileno(), self.drain)

    def _schedule(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable, loop=self.loop)
        task.add_done_callback(_log_task_error)

    def waiter(self) -> Tuple[asyncio.Future, Tuple[Any, asyncio.Future]]:
        """A new future and the ``waiter`` argument that completes it."""
        fut = self.loop.create_future()
        return fut, (self.notifier, fut)

    async def run(self, method: Callable[..., Any], *args: Any) -> Any:
        """Calls an async ``_core`` operation and awaits its result."""
        fut = self.loop.create_future()
        method(*args, (self.notifier, fut))
        return await fut


class ThreadBridge(_Dispatcher):
    """A notifier drained by a daemon thread, for clients used without asyncio: runs
    ``on_ack``/``on_nack`` callbacks on that thread (coroutine callbacks are run to
    completion there with ``asyncio.run``)."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        # Serialises dispatching, so that sync() returns only after whatever was queued
        # before it has been dispatched, by this thread or the drain thread.
        self._lock = threading.RLock()
        self._thread = threading.Thread(
            target=self._run, name="pyensign-fast-callbacks", daemon=True
        )
        self._thread.start()

    def _schedule(self, awaitable: Any) -> None:
        try:
            asyncio.run(_await(awaitable))
        except Exception:
            logger.warning("exception in an ack/nack callback", exc_info=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.notifier.wait(0.5):
                with self._lock:
                    self.drain()

    def sync(self) -> None:
        """Dispatches, on the calling thread, everything queued so far, after any
        dispatch already in progress (e.g. so that callbacks have run when a blocking
        ``flush()`` returns)."""
        with self._lock:
            self.drain()

    def close(self) -> None:
        """Stops the thread after one last drain."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.drain()


async def _await(awaitable: Any) -> Any:
    return await awaitable


_bridges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Bridge] = weakref.WeakKeyDictionary()
_last: Optional[Tuple[asyncio.AbstractEventLoop, Bridge]] = None


def get_bridge(loop: Optional[asyncio.AbstractEventLoop] = None) -> Bridge:
    """The bridge of ``loop`` (default: the running loop), created on first use."""
    global _last
    if loop is None:
        loop = asyncio.get_running_loop()
    last = _last
    if last is not None and last[0] is loop:
        return last[1]
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _bridges[loop] = Bridge(loop)
    _last = (loop, bridge)
    return bridge
