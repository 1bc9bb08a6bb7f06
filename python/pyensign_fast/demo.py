"""``pyensign-fast demo``: the main job, end to end, with no account and no network.

Starts the embedded local Ensign server, subscribes to a topic, publishes a large stream
of events to it with acks, consumes (and acks) every one of them, and prints throughput
and publish→ack latency: first at full speed, then at a steady 10,000 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import List

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--events", type=int, default=1_000_000, help="events to publish (default 1,000,000)"
    )
    p.add_argument("--size", type=int, default=100, help="payload bytes per event (default 100)")
    p.add_argument(
        "--batch", type=int, default=1000, help="events per publish() call (default 1000)"
    )
    p.add_argument("--data-dir", help="run the server durably in this directory (default: memory)")
    p.add_argument("--endpoint", help="use this server (host:port, plaintext, no auth) instead")


def _pct(values: List[float], q: float) -> float:
    if not values:
        return float("nan")
    values.sort()
    return values[min(len(values) - 1, int(len(values) * q))]


async def _consume(
    client, topic: str, bulk: int, expected: int, done: asyncio.Event, counter: List[float]
) -> None:
    async for event in client.subscribe(topic):
        await event.ack()
        if event.meta and event.meta.get("phase") == "warmup":
            counter[1] += 1
            continue
        counter[0] += 1
        if counter[0] == bulk:
            counter[2] = time.perf_counter()
        if counter[0] >= expected:
            break
    done.set()


async def _main(a: argparse.Namespace, endpoint: str) -> None:
    from pyensign_fast.ensign import Ensign
    from pyensign_fast.events import Event

    client = Ensign(endpoint=endpoint, insecure=True, auth_url="")
    topic = f"demo-{time.strftime('%H%M%S')}"
    await client.create_topic(topic)
    payload = b"x" * a.size
    consumed: List[float] = [0, 0, 0.0]  # measured events, warm-up events, bulk done at
    done = asyncio.Event()
    sub = asyncio.ensure_future(
        _consume(client, topic, a.events, a.events + 20_000, done, consumed)
    )
    # Subscribers see live events only: publish warm-ups until the subscription is live.
    while consumed[1] == 0:
        warm = Event(b'{"warmup": true}', "application/json", meta={"phase": "warmup"})
        await client.publish(topic, warm)
        await asyncio.sleep(0.01)

    print(f"Publishing {a.events:,} events of {a.size} bytes in batches of {a.batch:,} ...")
    latencies: List[float] = []
    t0 = time.perf_counter()
    for start in range(0, a.events, a.batch):
        n = min(a.batch, a.events - start)
        sent = time.perf_counter()

        def on_ack(ack: object, sent: float = sent) -> None:
            latencies.append(time.perf_counter() - sent)

        await client.publish(
            topic, [Event(payload, "application/json") for _ in range(n)], on_ack=on_ack
        )
    await client.flush(timeout=300)
    pub_s = time.perf_counter() - t0
    print(f"  published and acked: {a.events / pub_s:>12,.0f} events/s ({pub_s:.2f} s)")
    print(f"  publish→ack latency under full load: p50 {_pct(latencies, 0.5) * 1e3:.2f} ms,"
          f" p99 {_pct(latencies, 0.99) * 1e3:.2f} ms")  # fmt: skip

    print("Publishing 20,000 events at a steady 10,000 events/s ...")
    steady: List[float] = []
    t1 = time.perf_counter()
    for i in range(20_000):
        due = t1 + i / 10_000
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        sent = time.perf_counter()

        def on_steady_ack(ack: object, sent: float = sent) -> None:
            steady.append(time.perf_counter() - sent)

        await client.publish(topic, Event(payload, "application/json"), on_ack=on_steady_ack)
    await client.flush(timeout=60)
    print(f"  publish→ack latency at 10,000 events/s: p50 {_pct(steady, 0.5) * 1e6:.0f} µs,"
          f" p99 {_pct(steady, 0.99) * 1e6:.0f} µs")  # fmt: skip

    await asyncio.wait_for(done.wait(), timeout=300)
    bulk_s = consumed[2] - t0
    print(f"Subscriber: received and acked all {int(consumed[0]):,} events, none lost "
          f"({a.events / bulk_s:,.0f} events/s during the full-speed phase).")  # fmt: skip
    await sub
    await client.close()


def run(a: argparse.Namespace) -> int:
    if a.events <= 0 or a.size <= 0 or a.batch <= 0:
        print("error: --events, --size and --batch must be positive")
        return 2
    if a.endpoint:
        asyncio.run(_main(a, a.endpoint))
        return 0
    from pyensign_fast.server import LocalEnsign

    with LocalEnsign(data_dir=a.data_dir) as server:
        where = a.data_dir or "memory"
        print(f"Local Ensign server on {server.endpoint} (storage: {where})")
        asyncio.run(_main(a, server.endpoint))
    return 0
