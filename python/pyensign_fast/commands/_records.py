"""Records for ``pub``: the input streams split on a delimiter (one event per line by
default), read on a thread and handed to the event loop in lists.

The reader thread uses ``read1``, which returns whatever the stream has (up to 64 KiB)
without waiting for more, so a slow producer (``tail -f | pyensign-fast pub``) gets its
lines published as they come, while a file or a fast pipe arrives in large chunks. The
queue between the thread and the loop is bounded, so a slow server throttles the
reading instead of filling memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import IO, Any, AsyncIterator, List, Sequence, Union

__all__ = ["Records", "parse_delimiter"]

CHUNK = 64 * 1024
# Lists of records in flight between the thread and the loop (each from one chunk).
QUEUE_DEPTH = 32

_Item = Union[List[bytes], BaseException, None]


def parse_delimiter(text: str) -> bytes:
    r"""``"\n"``, ``"\0"``, ``"\t"``, ``"\r\n"`` and other backslash escapes, or text."""
    try:
        value = text.encode("latin-1").decode("unicode_escape").encode("utf-8")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise ValueError(f"invalid delimiter: {text!r}") from None
    if not value:
        raise ValueError("the delimiter must not be empty")
    return value


class Records:
    """Async iterator of lists of non-empty records from ``streams`` (binary, read in
    order). Empty records (blank lines) are counted in ``skipped``, not published:
    Ensign events need data."""

    def __init__(self, streams: Sequence[IO[bytes]], delimiter: bytes = b"\n") -> None:
        self._streams = list(streams)
        self._delimiter = delimiter
        self.skipped = 0
        self._queue: asyncio.Queue[_Item] | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(QUEUE_DEPTH)
        thread = threading.Thread(
            target=self._read, args=(loop,), name="pyensign-fast-pub-reader", daemon=True
        )
        thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _put(self, loop: asyncio.AbstractEventLoop, item: _Item) -> bool:
        assert self._queue is not None
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), loop)
        while not self._stop.is_set():
            try:
                future.result(timeout=0.5)
                return True
            except concurrent.futures.TimeoutError:
                continue
            except Exception:
                return False  # the loop is gone
        future.cancel()
        return False

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        delimiter = self._delimiter
        try:
            for stream in self._streams:
                read = getattr(stream, "read1", stream.read)
                rest = b""
                while not self._stop.is_set():
                    chunk = read(CHUNK)
                    if not chunk:
                        break
                    parts = (rest + chunk).split(delimiter)
                    rest = parts.pop()
                    if not self._emit(loop, parts):
                        return
                if rest and not self._emit(loop, [rest]):
                    return
            self._put(loop, None)
        except BaseException as e:  # an unreadable input ends the command with its error
            self._put(loop, e)

    def _emit(self, loop: asyncio.AbstractEventLoop, parts: List[bytes]) -> bool:
        records = [p for p in parts if p]
        self.skipped += len(parts) - len(records)
        return not records or self._put(loop, records)

    def more_ready(self) -> bool:
        """Whether another list is already waiting (so a batch can grow without delay)."""
        return self._queue is not None and not self._queue.empty()

    def __aiter__(self) -> AsyncIterator[List[bytes]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[List[bytes]]:
        if self._queue is None:
            self.start()
        assert self._queue is not None
        while True:
            item: Any = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
