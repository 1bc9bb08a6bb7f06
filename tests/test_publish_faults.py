"""Load and faults, bounded: a million events from one process each acked exactly once;
a server stopped and restarted mid-publish (every event ends acked, or nacked TIMEOUT
when the restart comes too late)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyensign_fast.events import Event
from pyensign_fast.exceptions import NackError
from pyensign_fast.server import LocalEnsign

PAYLOAD = (
    b'{"reading": 1234567890, "sensor": "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopq"}'
)


async def test_a_million_events_each_acked_exactly_once(server):
    n, batch = 1_000_000, 1000
    acked = set()

    def on_ack(ack):
        acked.add(ack.id)

    nacks = []
    async with server.client() as c:
        await c.create_topic("million")
        for _ in range(0, n, batch):
            events = [Event(PAYLOAD, "application/json") for _ in range(batch)]
            await c.publish("million", events, on_ack=on_ack, on_nack=nacks.append)
        await c.flush(timeout=120)
        # Plain callbacks are dispatched, in order, before the flush's own result: by now
        # every one has run.
        assert len(acked) + len(nacks) == n
        info = await c.info()
        stats = c.stats()
    assert nacks == []
    # The client's statistics match the truth.
    assert stats["published"] == n and stats["acked"] == len(acked)
    assert stats["acked"] + stats["nacked"] == stats["published"]
    assert stats["in_flight"] == 0 and stats["ack_latency_count"] == n
    assert 0 < stats["ack_latency_p50_us"] <= stats["ack_latency_p99_us"]
    assert stats["bytes_sent"] >= n * len(PAYLOAD) and stats["reconnects"] == 0
    assert len(acked) == n
    assert info.events == n


@pytest.mark.parametrize("late", [False, True], ids=["restart-in-time", "restart-too-late"])
async def test_server_restart_in_the_middle_of_a_publish(tmp_path, late):
    srv = LocalEnsign(data_dir=str(tmp_path))
    srv.start()
    port = int(srv.endpoint.rsplit(":", 1)[1])
    # The window holds both halves, so publishing during the outage does not wait for
    # room (the window's own waiting is tested in test_publish.py).
    c = srv.client(
        reconnect_tick=0.05, reconnect_timeout=0.5 if late else 60.0, max_inflight_events=16384
    )
    try:
        await c.create_topic("faults")
        first = [Event(PAYLOAD, "application/json") for _ in range(5000)]
        await c.publish("faults", first)
        srv.stop()
        during = [Event(PAYLOAD, "application/json") for _ in range(5000)]
        await c.publish("faults", during)
        if late:
            # With the server away past the reconnect timeout, every pending event gets
            # its (TIMEOUT) outcome, which is exactly what flush waits for.
            await c.flush(timeout=30)
        srv2 = LocalEnsign(data_dir=str(tmp_path), port=port)
        srv2.start()
        try:
            await c.flush(timeout=60)
            events = first + during
            assert all(e.acked() or e.nacked() for e in events), "every event has an outcome"
            if late:
                failed = [e for e in during if e.nacked()]
                assert failed, "events published during the outage fail after the timeout"
                assert all(e.nack_error().code == 101 for e in failed)
                with pytest.raises(NackError):
                    await failed[0].wait_for_ack()
                # The client recovers: new events go through the restarted server.
                after = [Event(PAYLOAD, "application/json") for _ in range(10)]
                await c.publish("faults", after)
                await c.flush(timeout=30)
                assert all(e.acked() for e in after)
            else:
                nacked = [(e.nack_error().code, e.nack_error().error) for e in events if e.nacked()]
                assert not nacked, f"nacked after a restart within the timeout: {nacked[:3]}"
                assert all(e.acked() for e in events)
        finally:
            await c.close(timeout=5)
            srv2.stop()
    finally:
        srv.stop()


def test_events_without_an_outcome_at_exit_are_reported_once():
    """At interpreter exit nothing is flushed: one WARNING gives the number of events
    still in flight (here the server is gone and the reconnect timeout far away)."""
    script = """
import asyncio
from pyensign_fast.events import Event
from pyensign_fast.server import LocalEnsign

async def main():
    srv = LocalEnsign()
    srv.start()
    c = srv.client(reconnect_timeout=600)
    await c.create_topic("t")
    await c.publish("t", Event(b"x"))
    await c.flush()
    srv.stop()
    await c.publish("t", [Event(b"y") for _ in range(7)])

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("at interpreter exit") == 1, out.stderr
    assert "7 published event(s) had no ack or nack yet at interpreter exit" in out.stderr
