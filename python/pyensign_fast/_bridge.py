"""The Python side of the notifier: how results from the Rust core reach asyncio.

One :class:`Bridge` per event loop owns a ``_core.Notifier``. The core signals it at most
once per burst of completions; :meth:`Bridge.drain` then makes one FFI call
(``Notifier.drain``) that resolves the futures and runs the ``on_ack``/``on_nack``
callbacks in Rust, and dispatches the little that is left: ``wait_for_ack()`` wake-ups,
coroutine callbacks that suspended, other awaitables, and callback exceptions to log.
See ``docs/architecture.md``.

How the loop learns that there is something to drain: ``loop.add_reader`` on the
notifier's socket (selector loops, uvloop); on loops without ``add_reader`` (Windows'
Proactor loop) a watcher thread waits on the notifier with the GIL released and calls
``loop.call_soon_threadsafe`` once per burst.

Callbacks may be plain functions or coroutine functions (pyensign awaited them). A
coroutine callback runs eagerly, inside the drain, until it finishes or first suspends:
one that finishes costs no task; one that suspends is handed to a task that resumes it
(so callbacks start in order, and a suspended one finishes later). An exception raised
by a callback is logged on the ``pyensign_fast`` logger and never reaches the loop.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from typing import Any, Callable, Dict, Generator, List, Optional, Tuple

from pyensign_fast import _core

__all__ = ["Bridge", "ThreadBridge", "get_bridge"]

logger = logging.getLogger("pyensign_fast")

# The kinds of the items Notifier.drain() hands back (bridge.rs).
KIND_WAITER = 3
KIND_SUSPENDED = 6
KIND_CALLBACK_ERROR = 7
KIND_AWAITABLE = 8

_set_running_loop = asyncio.events._set_running_loop

# The objects that own a thread waiting on a notifier, stopped at interpreter exit.
_threads: weakref.WeakSet[Any] = weakref.WeakSet()


def _log_callback_error(exc: BaseException) -> None:
    logger.warning("exception in an ack/nack callback", exc_info=exc)


def _log_task_error(task: asyncio.Future) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        _log_callback_error(exc)


class _Resume:
    """Finishes a coroutine that suspended during an eager first step: waits for what it
    yielded, then keeps stepping it by hand, as a task would have from the start (a
    coroutine that is mid-``await`` cannot itself be awaited again)."""

    __slots__ = ("coro", "yielded")

    def __init__(self, coro: Any, yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, None, Any]:
        coro, yielded = self.coro, self.yielded
        if getattr(yielded, "_asyncio_future_blocking", None) is not None:
            # The drain took the flag (as a task's step does) so that other eager
            # coroutines could await the same future; it is awaited here, blocking.
            yielded._asyncio_future_blocking = True
        while True:
            thrown: BaseException | None = None
            try:
                yield yielded
            except BaseException as exc:  # cancellation and throws go to the coroutine
                thrown = exc
            try:
                yielded = coro.send(None) if thrown is None else coro.throw(thrown)
            except StopIteration as done:
                return done.value


class _Dispatcher:
    """What both bridges share: the notifier, the waiters and the dispatch of what the
    core hands back."""

    def __init__(self) -> None:
        self.notifier = _core.Notifier()
        self.waiters: Dict[Tuple[int, int], List[Any]] = {}

    def add_waiter(self, batch_id: int, slot: int, future: Any) -> None:
        """Resolve ``future`` (with ``None``) once event ``slot`` of the batch has its
        outcome; the caller must have called ``batch.add_waiter(slot)`` first."""
        self.waiters.setdefault((batch_id, slot), []).append(future)

    def _schedule(self, awaitable: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _dispatch(self, leftovers: List[Tuple[int, Any, Any]]) -> None:
        for kind, a, b in leftovers:
            if kind == KIND_WAITER:
                for fut in self.waiters.pop((a, b), ()):
                    if not fut.done():
                        fut.set_result(None)
            elif kind == KIND_SUSPENDED:
                self._schedule(_Resume(a, b))
            elif kind == KIND_CALLBACK_ERROR:
                _log_callback_error(a)
            elif kind == KIND_AWAITABLE:
                self._schedule(a)

    def drain(self) -> None:
        """Takes every pending completion from the core and dispatches it."""
        leftovers = self.notifier.drain()
        if leftovers:
            self._dispatch(leftovers)


class Bridge(_Dispatcher):
    """The notifier of one asyncio event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, use_reader: bool = True) -> None:
        super().__init__()
        self.loop = loop
        self._watcher: Optional[_Watcher] = None
        if use_reader:
            try:
                loop.add_reader(self.notifier.fileno(), self.drain)
                return
            except NotImplementedError:  # e.g. Windows' ProactorEventLoop
                pass
        self._watcher = _Watcher(self)

    @property
    def uses_reader(self) -> bool:
        """Whether the loop watches the notifier itself (``add_reader``)."""
        return self._watcher is None

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


class _Watcher:
    """For loops without ``add_reader``: a daemon thread that waits on the notifier (GIL
    released) and schedules one drain per burst with ``call_soon_threadsafe``, then
    waits for that drain before watching again. Ends when the loop is closed."""

    def __init__(self, bridge: Bridge) -> None:
        self._bridge = weakref.ref(bridge)
        self._loop = bridge.loop
        self._notifier = bridge.notifier
        self._drained = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="pyensign-fast-notifier", daemon=True
        )
        self._thread.start()
        _threads.add(self)

    def stop(self) -> None:
        """Ends the thread (at interpreter exit)."""
        self._stop.set()
        self._notifier.close()
        self._thread.join(timeout=5)

    def _drain(self) -> None:
        try:
            bridge = self._bridge()
            if bridge is not None:
                bridge.drain()
        finally:
            self._drained.set()

    def _run(self) -> None:
        loop, notifier, stop = self._loop, self._notifier, self._stop
        while not loop.is_closed() and not stop.is_set():
            if not notifier.wait(0.5):
                continue
            self._drained.clear()
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop was closed meanwhile
                return
            while not self._drained.wait(0.5):
                if loop.is_closed() or stop.is_set():
                    return


class ThreadBridge(_Dispatcher):
    """A notifier drained by a daemon thread, for clients used without asyncio: runs
    ``on_ack``/``on_nack`` callbacks on that thread. Coroutine callbacks run eagerly
    with the bridge's private event loop set as the running loop; one that suspends is
    run to completion on that loop before the next item is dispatched."""

    def __init__(self) -> None:
        super().__init__()
        self._stop = threading.Event()
        self._loop = asyncio.new_event_loop()
        # Serialises dispatching, so that sync() returns only after whatever was queued
        # before it has been dispatched, by this thread or the drain thread.
        self._lock = threading.RLock()
        self._thread = threading.Thread(
            target=self._run, name="pyensign-fast-callbacks", daemon=True
        )
        self._thread.start()
        _threads.add(self)

    def drain(self) -> None:
        with self._lock:
            _set_running_loop(self._loop)
            try:
                leftovers = self.notifier.drain()
            finally:
                _set_running_loop(None)
            if leftovers:
                self._dispatch(leftovers)

    def _schedule(self, awaitable: Any) -> None:
        try:
            self._loop.run_until_complete(_await(awaitable))
        except Exception as exc:
            _log_callback_error(exc)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.notifier.wait(0.5):
                self.drain()

    def sync(self) -> None:
        """Dispatches, on the calling thread, everything queued so far, after any
        dispatch already in progress (e.g. so that callbacks have run when a blocking
        ``flush()`` returns)."""
        self.drain()

    def close(self) -> None:
        """Stops the thread, then drains once more (callbacks queued until then run)."""
        self._stop.set()
        self.notifier.close()
        self._thread.join(timeout=5)
        self.drain()

    stop = close


@atexit.register
def _at_exit() -> None:
    # Our threads end cleanly first; then any thread still blocked in the core stays
    # there instead of re-entering an exiting interpreter, which crashed the process on
    # CPython <= 3.13 (see rust/python/src/exiting.rs).
    for owner in list(_threads):
        try:
            owner.stop()
        except Exception:  # pragma: no cover - exit must go on
            logger.debug("stopping a notifier thread at exit failed", exc_info=True)
    left = _core._interpreter_exiting()
    if left:
        logger.warning(
            "%d thread(s) were still running a callback or publish from the core when the "
            "interpreter exited; if one returns while Python finalizes, the process may crash",
            left,
        )


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
