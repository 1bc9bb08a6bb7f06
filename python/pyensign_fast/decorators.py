"""pyensign's decorators: ``authenticate``, ``publisher`` and ``subscriber`` (also
importable from :mod:`pyensign_fast.ensign`, as in pyensign).

``@authenticate(...)`` opens an ``Ensign(...)`` client for the duration of the decorated
call; ``@publisher(topic)`` publishes what the decorated function returns or yields;
``@subscriber(*topics)`` hands the decorated function the events of a subscription. Each
accepts coroutine functions, async generator functions, plain functions and generator
functions (``subscriber``: not generator functions), with pyensign's semantics.

Where the client lives: pyensign kept it in one module global, so two concurrent
``@authenticate`` calls shared (and closed) each other's client. Here the client of the
current call is a context variable, which follows the call into tasks, executor threads
and the sync adapters; the module global remains as a fallback for code the context does
not reach (threads the user starts), as in pyensign.

Fixed: a nested ``@authenticate`` async generator runs its body once (pyensign ran it
twice, K4).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from typing import Any, AsyncIterator, Callable, TypeVar

from pyensign_fast._sync_adapters import async_to_sync, sync_to_async
from pyensign_fast.events import from_object

__all__ = ["authenticate", "publisher", "subscriber"]

F = TypeVar("F", bound=Callable[..., Any])

_current: contextvars.ContextVar[Any] = contextvars.ContextVar("pyensign_fast_client", default=None)
# pyensign's global; set by the outermost @authenticate call that is running.
_client: Any = None


def current_client() -> Any:
    """The client opened by the innermost running ``@authenticate`` call, or ``None``."""
    client = _current.get()
    return client if client is not None else _client


def _require(role: str) -> Any:
    client = current_client()
    if client is None:
        raise RuntimeError(
            f"{role} requires a connection to Ensign, please use the authenticate "
            "decorator to provide your credentials"
        )
    return client


class _Session:
    """Opens the client of one outermost ``@authenticate`` call and publishes it."""

    def __init__(self, args: tuple, kwargs: dict) -> None:
        from pyensign_fast.ensign import Ensign

        self.client = Ensign(*args, **kwargs)

    async def __aenter__(self) -> Any:
        global _client
        self._token = _current.set(self.client)
        self._previous_global = _client
        if _client is None:
            _client = self.client
        return self.client

    async def __aexit__(self, *exc: Any) -> None:
        global _client
        try:
            await self.client.close()
        finally:
            _current.reset(self._token)
            if _client is self.client:
                _client = self._previous_global


def _dispatch(
    fn: Any,
    wrap_coroutine: Callable[[Any], Any],
    wrap_async_generator: Callable[[Any], Any],
) -> Any:
    """Picks the wrapper for ``fn``'s kind; sync functions go through the adapters so
    that the result can still be called from sync code."""
    if inspect.isgeneratorfunction(fn):
        wrapped = async_to_sync(wrap_async_generator(sync_to_async(fn)))
    elif inspect.isasyncgenfunction(fn):
        wrapped = wrap_async_generator(fn)
    elif inspect.iscoroutinefunction(fn):
        wrapped = wrap_coroutine(fn)
    elif inspect.isfunction(fn):
        wrapped = async_to_sync(wrap_coroutine(sync_to_async(fn)))
    else:
        raise TypeError(f"expected a function or generator function, got {type(fn)}")
    return functools.wraps(fn)(wrapped)


def authenticate(*auth_args: Any, **auth_kwargs: Any) -> Callable[[F], F]:
    """Run the decorated function with an Ensign client open, built from these arguments
    (see :class:`pyensign_fast.ensign.Ensign`; by default credentials come from the
    environment). Calls made while one is already open reuse that client."""

    def wrap_coroutine(coro: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if _current.get() is not None:
                return await coro(*args, **kwargs)
            async with _Session(auth_args, auth_kwargs):
                return await coro(*args, **kwargs)

        return wrapper

    def wrap_async_generator(agen: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            if _current.get() is not None:
                async for item in agen(*args, **kwargs):
                    yield item
                return  # pyensign fell through and ran the body a second time (K4)
            async with _Session(auth_args, auth_kwargs):
                async for item in agen(*args, **kwargs):
                    yield item

        return wrapper

    def decorator(fn: F) -> F:
        return _dispatch(fn, wrap_coroutine, wrap_async_generator)  # type: ignore[no-any-return]

    return decorator


def publisher(
    topic: str,
    mimetype: str | int | None = None,
    encoder: Any = None,
) -> Callable[[F], F]:
    """Publish what the decorated function returns (or each value a generator yields)
    to ``topic``, converted with :func:`pyensign_fast.events.from_object`. ``None`` is
    not published. Needs a client from ``@authenticate``."""

    async def publish(value: Any) -> None:
        client = _require("publisher")
        await client.publish(topic, from_object(value, mimetype=mimetype, encoder=encoder))

    def wrap_coroutine(coro: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            _require("publisher")
            value = await coro(*args, **kwargs)
            if value is not None:
                await publish(value)
            return value

        return wrapper

    def wrap_async_generator(agen: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            _require("publisher")
            async for value in agen(*args, **kwargs):
                if value is not None:
                    await publish(value)
                yield value

        return wrapper

    def decorator(fn: F) -> F:
        return _dispatch(fn, wrap_coroutine, wrap_async_generator)  # type: ignore[no-any-return]

    return decorator


def subscriber(*topics: str) -> Callable[[F], F]:
    """Subscribe to ``topics`` for the decorated function: a coroutine function or async
    generator function receives the events (an async iterator) as its first argument; a
    plain function is called once per event (``fn(event, *args)``) and becomes a
    blocking call. Events are not acked automatically. Needs ``@authenticate``."""

    def events() -> Any:
        return _require("subscriber").subscribe(*topics)

    def wrap_function(fn: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> None:
            async for event in events():
                fn(event, *args, **kwargs)

        return wrapper

    def wrap_coroutine(coro: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            return await coro(events(), *args, **kwargs)

        return wrapper

    def wrap_async_generator(agen: Any) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            async for item in agen(events(), *args, **kwargs):
                yield item

        return wrapper

    def decorator(fn: F) -> F:
        if inspect.isgeneratorfunction(fn):
            raise TypeError(
                "subscriber does not support synchronous generator functions, please use "
                "a coroutine or async generator"
            )
        if inspect.isasyncgenfunction(fn):
            wrapped = wrap_async_generator(fn)
        elif inspect.iscoroutinefunction(fn):
            wrapped = wrap_coroutine(fn)
        elif inspect.isfunction(fn):
            wrapped = async_to_sync(wrap_function(fn))
        else:
            raise TypeError(f"expected a function or generator function, got {type(fn)}")
        return functools.wraps(fn)(wrapped)  # type: ignore[return-value]

    return decorator
