"""Prometheus metrics of a client (extra ``[prometheus]``: ``prometheus_client``).

::

    from prometheus_client import REGISTRY, start_http_server
    from pyensign_fast.metrics import PrometheusCollector

    REGISTRY.register(PrometheusCollector(client))
    start_http_server(8000)

A custom collector: each scrape calls ``client.stats()`` once (one short lock in the Rust
core) and nothing is recorded between scrapes. Series (``prefix`` defaults to
``pyensign_fast``; ``labels`` adds constant labels, e.g. ``{"client": "orders"}`` when
several clients share a registry):

=====================================  =========  ===========================================
``<prefix>_events_published_total``    counter    events published (admitted)
``<prefix>_events_acked_total``        counter    events acked
``<prefix>_events_nacked_total``       counter    events nacked (server or client)
``<prefix>_inflight_events``           gauge      events without an outcome yet
``<prefix>_inflight_bytes``            gauge      their encoded bytes
``<prefix>_bytes_sent_total``          counter    publish frame bytes written (re-sends included)
``<prefix>_reconnects_total``          counter    broken streams opened again
``<prefix>_events_received_total``     counter    events received by subscriptions
``<prefix>_subscriptions``             gauge      running subscriptions
``<prefix>_ack_latency_seconds``       summary    admission → ack: quantiles 0.5 and 0.99,
                                                  ``_count`` and ``_sum`` (approximate sum:
                                                  HDR histogram mean × count)
=====================================  =========  ===========================================
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover - depends on the environment
    raise ImportError(
        "pyensign_fast.metrics needs prometheus_client: pip install 'pyensign-fast[prometheus]'"
    ) from None

__all__ = ["PrometheusCollector"]

_COUNTERS = (
    ("events_published", "published", "Events published (admitted into the publish stream)."),
    ("events_acked", "acked", "Published events acknowledged by the server."),
    ("events_nacked", "nacked", "Published events nacked by the server or the client."),
    ("bytes_sent", "bytes_sent", "Bytes of publish frames written to streams."),
    ("reconnects", "reconnects", "Broken publish or subscribe streams opened again."),
    ("events_received", "received", "Events received by this client's subscriptions."),
)
_GAUGES = (
    ("inflight_events", "in_flight", "Published events without an ack or nack yet."),
    ("inflight_bytes", "in_flight_bytes", "Encoded bytes of the events in flight."),
    ("subscriptions", "subscriptions", "Subscriptions currently running."),
)


class PrometheusCollector(Collector):
    """Exposes ``client.stats()`` (an asyncio or blocking ``Ensign``) to Prometheus."""

    def __init__(
        self,
        client: Any,
        prefix: str = "pyensign_fast",
        labels: Optional[Dict[str, str]] = None,
    ) -> None:
        if not callable(getattr(client, "stats", None)):
            raise TypeError("client must be a pyensign_fast Ensign (it has no stats())")
        self._client = client
        self._prefix = prefix
        self._labels = dict(labels or {})

    def describe(self) -> Iterator[Metric]:
        # Registering must not scrape the client (it may not be connected yet).
        return iter(self._families(None))

    def collect(self) -> Iterator[Metric]:
        return iter(self._families(self._client.stats()))

    def _families(self, stats: Optional[Dict[str, Any]]) -> list:
        names, values = list(self._labels), list(self._labels.values())
        out: list = []
        for suffix, key, doc in _COUNTERS:
            c = CounterMetricFamily(f"{self._prefix}_{suffix}", doc, labels=names)
            if stats is not None:
                c.add_metric(values, stats[key])
            out.append(c)
        for suffix, key, doc in _GAUGES:
            g = GaugeMetricFamily(f"{self._prefix}_{suffix}", doc, labels=names)
            if stats is not None:
                g.add_metric(values, stats[key])
            out.append(g)
        name = f"{self._prefix}_ack_latency_seconds"
        summary = Metric(name, "Time from publish (admission) to ack.", "summary")
        if stats is not None:
            for q, key in (("0.5", "ack_latency_p50_us"), ("0.99", "ack_latency_p99_us")):
                summary.add_sample(name, {**self._labels, "quantile": q}, stats[key] / 1e6)
            summary.add_sample(f"{name}_count", dict(self._labels), stats["ack_latency_count"])
            summary.add_sample(f"{name}_sum", dict(self._labels), stats["ack_latency_sum_us"] / 1e6)
        out.append(summary)
        return out
