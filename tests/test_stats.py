"""``Ensign.stats()``, the ``on_stats`` callback and the Prometheus collector
(pyensign_fast.metrics). The million-event check of the counters is in
test_publish_faults.py (``test_a_million_events_each_acked_exactly_once``)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pyensign_fast import sync
from pyensign_fast.events import Event

KEYS = {
    "published",
    "acked",
    "nacked",
    "in_flight",
    "in_flight_bytes",
    "bytes_sent",
    "reconnects",
    "publish_reconnects",
    "subscribe_reconnects",
    "ack_latency_count",
    "ack_latency_p50_us",
    "ack_latency_p99_us",
    "ack_latency_max_us",
    "ack_latency_sum_us",
    "received",
    "subscriptions",
    "max_inflight_events",
    "max_inflight_bytes",
}


async def test_stats_count_publishes_acks_and_received_events(client, topic):
    s = client.stats()
    assert set(s) == KEYS
    assert s["published"] == s["acked"] == s["in_flight"] == s["received"] == 0
    assert s["max_inflight_events"] == 8192
    sub = client.subscribe(topic)
    await asyncio.wait_for(sub.ready(), 30)
    assert client.stats()["subscriptions"] == 1
    events = [Event(b"%d" % i, "text/plain") for i in range(500)]
    await client.publish(topic, events)
    await client.flush()
    s = client.stats()
    assert s["published"] == s["acked"] == 500 and s["nacked"] == s["in_flight"] == 0
    assert s["ack_latency_count"] == 500
    assert 0 < s["ack_latency_p50_us"] <= s["ack_latency_p99_us"] <= s["ack_latency_max_us"]
    assert s["bytes_sent"] >= 500 * 20
    got = 0
    async for _ in sub:
        got += 1
        if got == 500:
            break
    assert client.stats()["received"] >= 500
    await sub.aclose()  # waits until the stream has ended
    assert client.stats()["subscriptions"] == 0


async def test_the_on_stats_callback_runs_on_the_clients_loop(server):
    got: list = []
    ready = asyncio.Event()
    loop_thread = threading.get_ident()

    def on_stats(stats):
        got.append((threading.get_ident(), stats))
        ready.set()

    c = server.client(stats_interval=0.01, on_stats=on_stats)
    try:
        await c.create_topic("s")
        await c.publish("s", Event(b"x"))
        await c.flush()
        await ready.wait()
        thread, stats = got[0]
        assert thread == loop_thread and set(stats) >= {"published", "acked"}
    finally:
        await c.close(timeout=5)


def test_the_blocking_clients_stats_and_callback(server):
    got: list = []
    ready = threading.Event()

    def on_stats(stats):
        got.append(stats)
        ready.set()

    with sync.Ensign(
        endpoint=server.endpoint,
        insecure=True,
        auth_url="",
        stats_interval=0.01,
        on_stats=on_stats,
    ) as c:
        c.create_topic("s")
        c.publish("s", [Event(b"x") for _ in range(10)])
        c.flush()
        assert c.stats()["acked"] == 10 and c.pending_events() == 0
        assert ready.wait(30)
    assert got and "acked" in got[-1]


def test_stats_interval_and_on_stats_go_together():
    with pytest.raises(ValueError, match="go together"):
        sync.Ensign(endpoint="localhost:1", insecure=True, auth_url="", stats_interval=1.0)


async def test_the_prometheus_collector(client, topic):
    prometheus_client = pytest.importorskip("prometheus_client")
    from pyensign_fast.metrics import PrometheusCollector

    registry = prometheus_client.CollectorRegistry()
    registry.register(PrometheusCollector(client, labels={"client": "test"}))
    await client.publish(topic, [Event(b"x") for _ in range(25)])
    await client.flush()
    text = prometheus_client.generate_latest(registry).decode()
    lines = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    label = '{client="test"}'
    assert float(lines[f"pyensign_fast_events_published_total{label}"]) == 25
    assert float(lines[f"pyensign_fast_events_acked_total{label}"]) == 25
    assert float(lines[f"pyensign_fast_events_nacked_total{label}"]) == 0
    assert float(lines[f"pyensign_fast_inflight_events{label}"]) == 0
    assert float(lines[f"pyensign_fast_reconnects_total{label}"]) == 0
    assert float(lines[f"pyensign_fast_ack_latency_seconds_count{label}"]) == 25
    p99 = float(lines['pyensign_fast_ack_latency_seconds{client="test",quantile="0.99"}'])
    assert 0 < p99 < 60
    assert "# TYPE pyensign_fast_ack_latency_seconds summary" in text
    assert "# TYPE pyensign_fast_events_published_total counter" in text
