"""Blocking subscribe and query for :mod:`pyensign_fast.sync`: a plain iterator over a
subscription and a cursor whose ``fetch*`` block.

Both drive the same core objects as the asyncio :class:`~pyensign_fast.subscription.
Subscription` and :class:`~pyensign_fast.cursor.Cursor`: one call into the core per page
of up to 256 events, and, when nothing is buffered, one blocking ``wait`` with the GIL
released. Events are handed out as :class:`pyensign_fast.sync.Event`, whose ``ack()`` and
``nack()`` return at once (they queue the reply on the subscription's stream).
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, Iterator, List

from pyensign_fast._sync_events import Event, as_sync_event
from pyensign_fast.utils.ulid import ULID

__all__ = ["Cursor", "Subscription"]

PAGE = 256


def not_on_loop() -> None:
    """Refuses to block a thread whose event loop is running."""
    if asyncio._get_running_loop() is not None:
        raise RuntimeError(
            "pyensign_fast.sync.Ensign blocks and cannot be called from a thread running an "
            "event loop; use the asyncio client (pyensign_fast.ensign.Ensign) there, or call "
            "the blocking client through loop.run_in_executor()"
        )


def _sync_page(page: List[Any]) -> List[Any]:
    for event in page:
        as_sync_event(event)
    page.reverse()  # pop() gives the next event
    return page


class Subscription:
    """A blocking iterator of the events of one subscription::

    for event in client.subscribe("orders"):
        handle(event)
        event.ack()

    Ends (``StopIteration``) when the subscription is closed, by :meth:`close` or by
    closing the client; raises the error that ended it otherwise (``UnknownTopicError``,
    ``EnsignTimeoutError``, ``EnsignRPCError``). Use it from one thread at a time."""

    def __init__(self, async_subscription: Any) -> None:
        # The asyncio wrapper did the argument checks and owns the core handle; it is
        # kept (never iterated) so that dropping it does not cancel the stream.
        self._owner = async_subscription
        self._core = async_subscription._core
        self._buf: List[Event] = []
        self._closed = False

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        buf = self._buf
        if buf:
            return buf.pop()
        core = self._core
        if not self._closed:
            not_on_loop()
        try:
            while not self._closed:
                # Acks go straight to the core (``sub=core``): no page-long delay.
                page = core.poll(PAGE, core, None)
                if page is None:
                    break
                if page:
                    self._buf = _sync_page(page)
                    return self._buf.pop()
                core.wait(None)
        except BaseException:
            self._closed = True
            raise
        self._closed = True
        raise StopIteration

    def ready(self) -> Dict[str, ULID]:
        """Block until the server accepted the subscription; return its topics
        ``{name: id}``. Events published after this are delivered."""
        not_on_loop()
        topics = self._core.ready(None)
        return {name: ULID(raw) for name, raw in topics.items()}

    def close(self) -> None:
        """End the subscription: unread events are dropped, the stream is cancelled."""
        self._closed = True
        self._buf = []
        self._owner.close()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def skipped(self) -> int:
        """Events skipped because their payload was not a valid Event."""
        return int(self._core.skipped)

    def __repr__(self) -> str:
        return f"<sync.Subscription {'closed' if self._closed else 'open'}>"


class Cursor:
    """The results of an EnSQL query, fetched blocking: ``fetchone()`` (``None`` at the
    end), ``fetchmany(n)``, ``fetchall()``, iteration and ``close()``."""

    def __init__(self, core: Any) -> None:
        self._core: Any = core
        self._buf: List[Event] = []

    def _page(self, n: int = PAGE) -> bool:
        core = self._core
        if core is None:
            return False
        not_on_loop()
        try:
            while True:
                page = core.poll(n)
                if page is None:
                    self.close()
                    return False
                if page:
                    self._buf = _sync_page(page)
                    return True
                core.wait(None)
        except BaseException:
            self.close()
            raise

    def fetchone(self) -> Event | None:
        """The next result, or ``None`` after the last one."""
        if self._buf or self._page():
            return self._buf.pop()
        return None

    def fetchmany(self, n: int) -> List[Event]:
        """Up to ``n`` next results (``[]`` after the last one)."""
        out: List[Event] = []
        while len(out) < n:
            if not self._buf and not self._page(max(n - len(out), 1)):
                break
            buf = self._buf
            take = min(n - len(out), len(buf))
            out.extend(reversed(buf[len(buf) - take :]))
            del buf[len(buf) - take :]
        return out

    def fetchall(self) -> List[Event]:
        """Every remaining result."""
        out: List[Event] = []
        while self._buf or self._page():
            self._buf.reverse()
            out.extend(self._buf)
            self._buf = []
        return out

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        event = self.fetchone()
        if event is None:
            raise StopIteration
        return event

    def close(self) -> None:
        """Stop the query; fetching afterwards returns nothing."""
        core = self._core
        if core is not None:
            self._core = None
            self._buf = []
            core.close()

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        core = getattr(self, "_core", None)
        if core is not None:
            core.close()

    def __repr__(self) -> str:
        return f"<sync.Cursor {'closed' if self._core is None else 'open'}>"
