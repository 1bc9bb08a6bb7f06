"""``Subscription``: what ``Ensign.subscribe()`` returns, an async iterator of received
``Event``s (pyensign returned an async generator; this object behaves like one:
``async for``, ``__anext__``, ``aclose()``).

How events get here: the Rust core reads the subscribe stream on its own thread,
decodes each event and keeps a bounded buffer (a full buffer stops reading, so HTTP/2
flow control holds the server back). ``__anext__`` hands out events from a local list
and crosses into Rust only when the list is empty: one call (``poll``) returns up to
256 ready ``Event``s. Only when nothing is buffered does it await, on one future per
empty buffer (``wait``), never one per event.

Acks: ``await event.ack()`` does not suspend. It appends the event's RLID to a list
(:class:`_AckSink`), which goes to Rust with the next ``poll`` call and is sent on the
same stream without a round trip. So that acks never wait long: while the iterator
waits for events they are sent at once, and while the consumer works through a page
they are flushed every 50 ms.

Closing: ``break`` out of ``async for`` (the iterator is then garbage), ``aclose()``,
or ``Ensign.close()`` end the stream; the stream is cancelled, not half-closed (the
server would keep sending, semantics.md §5). After ``Ensign.close()`` the iterator
yields the events already received, then stops. An error that ends the subscription
(reconnect timeout: ``EnsignTimeoutError``; unknown topics: ``UnknownTopicError``;
permissions: ``EnsignRPCError``) is raised by ``__anext__`` after the events received
before it.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, Dict, List

from pyensign_fast import _bridge
from pyensign_fast.events import Event
from pyensign_fast.utils.ulid import ULID

__all__ = ["Subscription"]

# NOTE: 256 events per FFI call: the call and the list cost ~1 us, i.e. <0.01 us per
# event, while a page of 1 KB events (256 KB) stays small.
PAGE = 256
# Longest an ack waits in Python while the consumer holds a page.
ACK_FLUSH_INTERVAL = 0.05


class _AckSink:
    """The ack target of received events: ``ack(rlid)`` is a bound ``list.append``
    (the hot path) until the iterator waits for events, when acks go straight to the
    core. ``nack(rlid, code)`` queues ``(rlid, code)``."""

    __slots__ = ("_append", "_core", "_pending", "ack")

    def __init__(self, core: Any) -> None:
        self._core = core
        self._pending: List[Any] = []
        self._append = self.ack = self._pending.append

    def nack(self, rlid: bytes, code: int) -> None:
        if self.ack is self._append:
            self._pending.append((rlid, code))
        else:
            self._core.nack(rlid, code)

    def flush(self) -> None:
        if self._pending:
            self._core.send(self._pending)

    def direct(self, on: bool) -> None:
        """Send acks at once (``True``, while the iterator is suspended) or queue them."""
        if on:
            self.flush()
            self.ack = self._core.ack
        else:
            self.ack = self._append


def _flush_tick(ref: weakref.ref[Subscription]) -> None:
    sub = ref()
    if sub is None:
        return
    sub._timer = None
    if sub._closed:
        return
    sub._acks.flush()
    if sub._buf:
        sub._arm_flush()


class Subscription:
    """An async iterator of the events of one subscription (see the module docs)."""

    __slots__ = ("__weakref__", "_acks", "_buf", "_closed", "_core", "_timer")

    def __init__(self, core: Any) -> None:
        self._core = core
        self._acks = _AckSink(core)
        self._buf: List[Event] = []
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        buf = self._buf
        if buf:
            return buf.pop()
        return await self._refill()

    async def _refill(self) -> Event:
        core = self._core
        acks = self._acks
        try:
            while not self._closed:
                if self._buf:
                    # Another reader refilled while this one waited: take from its page
                    # rather than waiting for events that are already here.
                    return self._buf.pop()
                page = core.poll(PAGE, acks, acks._pending)
                if page is None:
                    break
                if page:
                    page.reverse()
                    # Another task may have refilled meanwhile: its events come first.
                    page.extend(self._buf)
                    self._buf = page
                    self._arm_flush()
                    return page.pop()  # type: ignore[no-any-return]
                # Nothing buffered: wait (acks meanwhile go straight to the core).
                acks.direct(True)
                try:
                    await _bridge.get_bridge().run(core.wait)
                finally:
                    acks.direct(False)
        except asyncio.CancelledError:
            raise  # a cancelled wait took nothing: the subscription stays usable
        except BaseException:
            # The error that ended the subscription. Like an async generator, later
            # calls then stop the iteration.
            self._finish()
            raise
        self._finish()
        raise StopAsyncIteration

    # -- ack flushing while a page is being worked through -------------------------------
    def _arm_flush(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            # A weak reference: a pending flush must not keep a dropped iterator alive.
            self._timer = loop.call_later(ACK_FLUSH_INTERVAL, _flush_tick, weakref.ref(self))

    # -- closing -------------------------------------------------------------------------
    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._buf = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._acks.flush()
        self._acks.direct(True)

    async def aclose(self) -> None:
        """End the subscription: queued acks are sent, unread events are dropped, the
        stream is cancelled. Waits (briefly) until the stream has ended."""
        if self._closed and self._core.finished:
            return
        self._finish()
        await _bridge.get_bridge().run(self._core.close)

    def close(self) -> None:
        """Like :meth:`aclose`, without waiting for the stream to end."""
        self._finish()
        self._core.cancel()

    def __del__(self) -> None:
        # ``break`` out of ``async for`` drops the iterator: end the stream then.
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
        core = getattr(self, "_core", None)
        if core is not None and not core.finished:
            self._acks.flush()
            core.cancel()

    # pyensign's subscribe() returned an async generator: its other two methods.
    async def asend(self, value: Any) -> Event:
        """Like ``__anext__`` (a subscription takes no values)."""
        return await self.__anext__()

    async def athrow(self, typ: Any, val: Any = None, tb: Any = None) -> Event:
        """Close the subscription and raise the exception, as a finished async
        generator would."""
        await self.aclose()
        if val is None:
            val = typ() if isinstance(typ, type) else typ
        raise val.with_traceback(tb) if tb is not None else val

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- what the server said ------------------------------------------------------------
    async def ready(self) -> Dict[str, ULID]:
        """Wait until the server accepted the subscription; return its topics
        ``{name: id}``. Raises the error that ended the subscription instead (for
        example ``UnknownTopicError``). Events published after this are delivered."""
        topics = await _bridge.get_bridge().run(self._core.ready)
        return {name: ULID(raw) for name, raw in topics.items()}

    @property
    def topics(self) -> Dict[str, ULID] | None:
        """The current stream's topics ``{name: id}``, or ``None`` before it is ready."""
        topics = self._core.topics
        if topics is None:
            return None
        return {name: ULID(raw) for name, raw in topics.items()}

    @property
    def connections(self) -> int:
        """Streams that completed their handshake so far (1 + successful reconnects)."""
        return int(self._core.connections)

    async def wait_connected(self, n: int) -> None:
        """Wait until ``n`` streams have completed their handshake (2: the first
        reconnect succeeded); raises the error that ended the subscription."""
        await _bridge.get_bridge().run(self._core.wait_connected, n)

    @property
    def skipped(self) -> int:
        """Events skipped because their payload was not a valid Event (each is logged
        as a warning on the ``pyensign_fast`` logger and nacked ``UNKNOWN_TYPE``)."""
        return int(self._core.skipped)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Subscription {state}, {self.connections} connection(s)>"
