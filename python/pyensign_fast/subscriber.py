"""``Subscriber``: pyensign's high-level consuming class (``pyensign.subscriber``).

Subclass it and override :meth:`Subscriber.on_event` (by default it acks), then call
:meth:`Subscriber.run` from plain code or ``await`` :meth:`Subscriber.consume`::

    class Printer(Subscriber):
        async def on_event(self, event):
            print(event.data)
            await event.ack()

    Printer("readings", cred_path="key.json").run()

Fixed from pyensign: ``run(**kwargs)`` passes its arguments (``query``, ``params``,
``consumer_group``) to ``subscribe`` (pyensign handed them to ``asyncio.run``, a
``TypeError``, K5), closes the client before it returns (K10), and works from a running
event loop (Jupyter) too.
"""

from __future__ import annotations

from typing import Any

from pyensign_fast._sync_adapters import run_sync
from pyensign_fast.ensign import Ensign

__all__ = ["Subscriber"]


class Subscriber(Ensign):
    """Consumes the events of a set of topics, calling :meth:`on_event` for each.
    Keyword arguments configure the client as for :class:`~pyensign_fast.ensign.Ensign`."""

    def __init__(self, *topics: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if len(topics) == 0:
            raise ValueError("no topics provided")
        self.subscribed_topics = topics

    async def on_event(self, event: Any) -> None:
        """Called for each event received; override it. The default acks the event."""
        await event.ack()

    def run(self, **kwargs: Any) -> None:
        """Consume events until the subscription ends or fails, calling
        :meth:`on_event` for each, then close the client. Blocks. ``kwargs`` go to
        :meth:`subscribe` (``query``, ``params``, ``consumer_group``)."""

        async def main() -> None:
            try:
                await self.consume(**kwargs)
            finally:
                await self.close()

        run_sync(main())

    async def consume(self, **kwargs: Any) -> None:
        """Consume events and call :meth:`on_event` for each (``kwargs`` as in
        :meth:`run`)."""
        events = self.subscribe(*self.subscribed_topics, **kwargs)
        async for event in events:
            await self.on_event(event)
