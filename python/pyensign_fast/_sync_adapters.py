"""pyensign's sync ↔ async adapters (``pyensign.sync``), re-exported by
:mod:`pyensign_fast.sync`.

Same names and semantics as pyensign: ``sync_to_async`` turns a function or generator
function into a coroutine function or async generator function whose body runs in the
loop's default executor; ``async_to_sync`` turns a coroutine function or async generator
function into a plain function or generator function.

Differences, on purpose:

* Called from a thread whose event loop is running (a Jupyter cell, a callback), the
  sync side no longer deadlocks: the coroutine runs to completion on a fresh event loop in
  a helper thread while the caller waits. pyensign scheduled it on the caller's own loop
  and blocked that loop waiting for it.
* An async generator driven from sync code runs on **one** event loop for its whole life
  (pyensign created a new loop for every item), and is closed properly when the sync
  generator is closed.
* Context variables follow the code into executor threads and helper loops, as
  ``asyncio.to_thread`` does.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from typing import Any, AsyncIterator, Awaitable, Callable, Coroutine, Iterator, TypeVar

__all__ = [
    "async_gen_to_sync",
    "async_to_sync",
    "coro_to_sync",
    "fn_to_async",
    "gen_to_async",
    "run_sync",
    "sync_to_async",
]

T = TypeVar("T")
_DONE = object()


def _loop_running_here() -> bool:
    return asyncio._get_running_loop() is not None


def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Runs ``fn(*args)`` on a new thread, in a copy of this thread's context, and waits."""
    ctx = contextvars.copy_context()
    outcome: list = []

    def target() -> None:
        try:
            outcome.append((True, ctx.run(fn, *args)))
        except BaseException as e:  # handed back to the caller
            outcome.append((False, e))

    thread = threading.Thread(target=target, name="pyensign-fast-sync", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to completion from synchronous code: with ``asyncio.run`` when no
    event loop runs in this thread, else on a new loop in a helper thread."""
    if not _loop_running_here():
        return asyncio.run(coro)
    return _in_thread(asyncio.run, coro)


class _LoopRunner:
    """One event loop for a sequence of ``run(coro)`` calls: on this thread when no loop
    runs here, else on a helper thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        if _loop_running_here():
            self._thread = threading.Thread(
                target=self._loop.run_forever, name="pyensign-fast-sync-gen", daemon=True
            )
            self._thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        if self._thread is None:
            return self._loop.run_until_complete(coro)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()  # type: ignore[arg-type]

    def close(self) -> None:
        try:
            self.run(self._loop.shutdown_asyncgens())
        finally:
            if self._thread is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join()
            self._loop.close()


def coro_to_sync(coro: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """A plain function that runs the coroutine function to completion."""

    @functools.wraps(coro)
    def wrap(*args: Any, **kwargs: Any) -> T:
        return run_sync(coro(*args, **kwargs))  # type: ignore[arg-type]

    return wrap


def async_gen_to_sync(gen: Callable[..., AsyncIterator[T]]) -> Callable[..., Iterator[T]]:
    """A generator function that iterates the async generator function on one loop."""

    @functools.wraps(gen)
    def wrap(*args: Any, **kwargs: Any) -> Iterator[T]:
        agen = gen(*args, **kwargs)
        runner = _LoopRunner()
        try:
            while True:
                try:
                    value = runner.run(agen.__anext__())
                except StopAsyncIteration:
                    return
                yield value
        finally:
            try:
                runner.run(agen.aclose())  # type: ignore[attr-defined]
            finally:
                runner.close()

    return wrap


def fn_to_async(fn: Callable[..., T]) -> Callable[..., Coroutine[Any, Any, T]]:
    """A coroutine function that runs ``fn`` in the loop's default executor."""

    @functools.wraps(fn)
    async def wrap(*args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await loop.run_in_executor(None, call)

    return wrap


def gen_to_async(gen: Callable[..., Iterator[T]]) -> Callable[..., AsyncIterator[T]]:
    """An async generator function whose items are produced by ``gen`` in the loop's
    default executor, one ``next()`` at a time."""

    @functools.wraps(gen)
    async def wrap(*args: Any, **kwargs: Any) -> AsyncIterator[T]:
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()
        it = gen(*args, **kwargs)
        try:
            while True:
                step: Any = functools.partial(ctx.run, next, it, _DONE)
                value = await loop.run_in_executor(None, step)
                if value is _DONE:
                    return
                yield value
        finally:
            it.close()  # type: ignore[attr-defined]

    return wrap


def sync_to_async(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A coroutine function (for a function) or async generator function (for a
    generator function) running ``fn`` in the default executor. Usable as a decorator."""
    if inspect.isgeneratorfunction(fn):
        return gen_to_async(fn)
    if inspect.isfunction(fn):
        return fn_to_async(fn)
    raise TypeError("expected a function or generator function")


def async_to_sync(coro: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function (for a coroutine function) or generator function (for an async
    generator function) that runs it from sync code. Usable as a decorator."""
    if inspect.isasyncgenfunction(coro):
        return async_gen_to_sync(coro)
    if inspect.iscoroutinefunction(coro):
        return coro_to_sync(coro)
    raise TypeError("expected an async function or async generator function")
