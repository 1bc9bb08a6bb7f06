"""``Cursor``: the results of an EnSQL query (``pyensign.connection.Cursor``).

``await Ensign.query(...)`` returns one once the first result has arrived (an empty
result raises ``QueryNoRows`` there, as pyensign does). Results are ``Event``s in state
INITIALIZED: they are history, not deliveries, so ``ack()`` raises ``CouldNotAck``.
They carry their RLID (``event.id``), ``topic_id``, and ``committed`` as the server
stored it: ``None`` from the real server, which stores events before it timestamps them
(semantics.md §9 #16); set by the local server.

The Rust core reads the result stream ahead into a bounded buffer; the cursor takes one
page (up to 256 events) per call into Rust and hands events out from it, so ``fetchone``
and ``async for`` do not cross into Rust per event. A failure of the stream after some
results is raised once those results have been fetched (a ``CANCELLED`` status just ends
the results, as in pyensign). Concurrency: one consumer at a time, on one event loop.
"""

from __future__ import annotations

from typing import Any, List

from pyensign_fast import _bridge
from pyensign_fast.events import Event

__all__ = ["Cursor"]

# NOTE: one FFI call and one list per page of 256 results (~1 us, <0.01 us per event).
PAGE = 256


class Cursor:
    """Cursor semantics over an EnSQL result stream: ``fetchone``, ``fetchmany``,
    ``fetchall``, ``async for`` and ``close``."""

    __slots__ = ("_buf", "_core")

    def __init__(self, core: Any) -> None:
        self._core: Any = core
        self._buf: List[Event] = []  # the current page, reversed (pop() is the next)

    async def _page(self, n: int = PAGE) -> bool:
        """Refill the local page; False at the end of the results."""
        core = self._core
        if core is None:
            return False
        try:
            while True:
                page = core.poll(n)
                if page is None:
                    self.close()
                    return False
                if page:
                    page.reverse()
                    # Another task may have refilled meanwhile: its results come first.
                    page.extend(self._buf)
                    self._buf = page
                    return True
                await _bridge.get_bridge().run(core.wait)
        except BaseException as e:
            if not _is_cancel(e):
                self.close()
            raise

    async def fetchone(self) -> Event | None:
        """The next result, or ``None`` after the last one."""
        buf = self._buf
        if buf:
            return buf.pop()
        if await self._page():
            return self._buf.pop()
        return None

    async def fetchmany(self, n: int) -> List[Event]:
        """Up to ``n`` next results (``[]`` after the last one)."""
        out: List[Event] = []
        while len(out) < n:
            buf = self._buf
            if not buf and not await self._page(max(n - len(out), 1)):
                break
            buf = self._buf
            take = min(n - len(out), len(buf))
            out.extend(reversed(buf[len(buf) - take :]))
            del buf[len(buf) - take :]
        return out

    async def fetchall(self) -> List[Event]:
        """Every remaining result (``[]`` after the last one)."""
        out: List[Event] = []
        while True:
            buf = self._buf
            if buf:
                buf.reverse()
                out.extend(buf)
                self._buf = []
            if not await self._page():
                return out

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Event:
        buf = self._buf
        if buf:
            return buf.pop()
        if await self._page():
            return self._buf.pop()
        raise StopAsyncIteration

    def close(self) -> None:
        """Stop the query: unread results are dropped and the stream is cancelled.
        Fetching afterwards returns nothing."""
        core = self._core
        if core is not None:
            self._core = None
            self._buf = []
            core.close()

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.close()

    def __repr__(self) -> str:
        return f"<Cursor {'closed' if self._core is None else 'open'}>"


def _is_cancel(e: BaseException) -> bool:
    import asyncio

    return isinstance(e, asyncio.CancelledError)
