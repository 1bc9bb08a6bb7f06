"""``Publisher``: pyensign's high-level publishing class (``pyensign.publisher``).

Subclass it, or give it any iterator of events, and call :meth:`Publisher.run` from
plain code, or ``await`` :meth:`Publisher.publish_from` inside a loop::

    Publisher("readings", cred_path="key.json").run(read_sensor_events())

Fixed from pyensign: ``run()`` flushes and closes the client before it returns, so
events are not lost at interpreter exit and no ``sleep()`` is needed (K10), and it works
from a running event loop (Jupyter) too.
"""

from __future__ import annotations

from typing import Any, AsyncIterable, Iterable, Union

from pyensign_fast._sync_adapters import run_sync
from pyensign_fast.ensign import Ensign

__all__ = ["Publisher"]


class Publisher(Ensign):
    """Publishes the events of an iterator to one topic. Keyword arguments configure
    the client as for :class:`~pyensign_fast.ensign.Ensign`."""

    def __init__(self, topic: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not topic:
            raise ValueError("topic is required")
        self.topic = topic

    def run(self, event_iterator: Union[Iterable[Any], AsyncIterable[Any]], **kwargs: Any) -> None:
        """Publish every event of a sync or async iterator, then flush and close the
        client: when this returns, every event has its outcome (ack or nack). Blocks.
        ``kwargs`` go to :meth:`publish` (``on_ack``, ``on_nack``, ``ensure_exists``).
        Raises the first error ``publish`` raised."""

        async def main() -> BaseException | None:
            try:
                return await self.publish_from(event_iterator, **kwargs)
            finally:
                await self.close()

        error = run_sync(main())
        if error is not None:
            raise error

    async def publish_from(
        self, event_iterator: Union[Iterable[Any], AsyncIterable[Any]], **kwargs: Any
    ) -> BaseException | None:
        """Publish every event of a sync or async iterator to the topic. Stops at the
        first error and returns it (pyensign's contract); ``None`` when all were handed
        over. Does not wait for acks: see :meth:`flush`."""
        try:
            if hasattr(event_iterator, "__aiter__"):
                async for event in event_iterator:
                    await self.publish(self.topic, event, **kwargs)
            else:
                for event in event_iterator:  # type: ignore[union-attr]
                    await self.publish(self.topic, event, **kwargs)
        except Exception as e:
            return e
        return None
