"""Client statistics: what ``Ensign.stats()`` returns, and the periodic ``on_stats``
callback (like confluent-kafka's ``stats_cb`` with ``statistics.interval.ms``).

``stats()`` reads counters that the Rust core keeps anyway (under the publisher's lock
that admission and acks already take, and relaxed atomics added once per received
batch): asking costs one short lock, and nobody asking costs nothing. Keys:

=========================  =================================================================
``published``              events handed to ``publish`` and admitted (each ends acked or nacked)
``acked`` / ``nacked``     outcomes so far (client nacks included: ``TIMEOUT``, ``UNPROCESSED``…)
``in_flight``              admitted, without an outcome yet (``pending_events()``)
``in_flight_bytes``        their encoded size
``bytes_sent``             bytes of publish frames written to streams (re-sends included)
``reconnects``             broken streams opened again (``publish_reconnects`` +
                           ``subscribe_reconnects``)
``ack_latency_p50_us``     admission → ack, microseconds, from an HDR histogram since the
``ack_latency_p99_us``     client started (2 significant digits); ``ack_latency_max_us``,
                           ``ack_latency_count`` (acks recorded)
``received``               events received by this client's subscriptions
``subscriptions``          subscriptions currently running
``max_inflight_events``    the window (constructor arguments)
``max_inflight_bytes``
=========================  =================================================================

When no event is in flight, ``acked + nacked == published``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any, Callable, Dict, Optional

__all__ = ["StatsReporter"]

logger = logging.getLogger("pyensign_fast")


class StatsReporter:
    """Calls ``on_stats(stats_dict)`` every ``interval`` seconds until :meth:`stop`.

    A daemon thread waits between calls. If the client was created inside a running event
    loop, the callback runs on that loop (``call_soon_threadsafe``); otherwise on the
    thread. The client is held weakly: dropping it ends the reporting."""

    def __init__(self, client: Any, interval: float, on_stats: Callable[[Dict[str, Any]], Any]):
        if not callable(on_stats):
            raise TypeError("on_stats must be callable")
        if not isinstance(interval, (int, float)) or interval <= 0:
            raise ValueError("stats_interval must be a positive number of seconds")
        try:
            self._loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        self._client = weakref.ref(client)
        self._interval = float(interval)
        self._on_stats = on_stats
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pyensign-fast-stats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            client = self._client()
            if client is None:
                return
            try:
                stats = client.stats()
            except Exception:  # closed meanwhile, or interpreter exit
                return
            del client
            loop = self._loop
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(self._call, stats)
                except RuntimeError:  # the loop was closed
                    return
            else:
                self._call(stats)

    def _call(self, stats: Dict[str, Any]) -> None:
        try:
            result = self._on_stats(stats)
            if asyncio.iscoroutine(result):
                if self._loop is not None:
                    self._loop.create_task(result)
                else:
                    asyncio.run(result)
        except Exception:
            logger.exception("the on_stats callback raised")
