"""One run of one *program users write*, for either SDK, with the same code: only the
imports differ (``--sdk pyensign`` or ``--sdk pyensign_fast``, run with the interpreter
of the virtualenv that has that SDK). Prints one JSON line.

Programs (``--program``):
  batches       ``await client.publish(topic, batch)`` per batch of ``--batch`` events,
                built per batch (``--held``: all events built up front and kept in a list)
  rate          one ``publish()`` per event at ``--rate`` events/s (a service); latency
                from the call to the ``on_ack`` callback
  wait          one ``publish()`` then ``await event.wait_for_ack()`` per event

``--loop uvloop`` runs the program on uvloop instead of asyncio's own loop.

``--callbacks``: ``async`` (``async def on_ack``, what every pyensign program has),
``plain`` (plain functions: pyensign-fast only) or ``none`` (then the end is
``flush()`` for pyensign-fast; pyensign's ``flush()`` does not wait for acks, so its run
ends when the last event reports ``acked()``).

Client CPU is this process's ``getrusage`` (all threads) over the timed section, which
ends when every event has its outcome. RSS: this process's resident memory after
building the events and after publishing them (``--held`` only).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import os
import resource
import time
from typing import Any, Callable, List


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def thread_cpu() -> dict:
    """CPU seconds per thread name: the event-loop thread vs the core's tokio thread(s),
    to see where a program's CPU goes."""
    return by_thread_name(cpu_seconds)


def by_thread_name(value: Callable[[str], float]) -> dict:
    """``value(tid)`` summed per thread name (Linux ``/proc``), or {} elsewhere."""
    out: dict = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
            out[name] = out.get(name, 0) + value(tid)
    except OSError:
        pass
    return out


def cpu_seconds(tid: str) -> float:
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def voluntary_switches(tid: str) -> int:
    with open(f"/proc/self/task/{tid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    return 0


def runq_wait(tid: str) -> float:
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def thread_switches() -> dict:
    """Voluntary context switches per thread name: how often each thread went to sleep,
    i.e. how many wake-ups it paid."""
    return by_thread_name(voluntary_switches)


def thread_runq_waits() -> dict:
    """Seconds each thread spent runnable but not running (``schedstat``): how long it
    waited for a CPU that another thread (or the server) held."""
    return by_thread_name(runq_wait)


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


async def run(a: argparse.Namespace) -> dict:
    Ensign = importlib.import_module(f"{a.sdk}.ensign").Ensign
    Event = importlib.import_module(f"{a.sdk}.events").Event
    kwargs: dict = {"endpoint": a.endpoint, "insecure": True}
    if a.auth_url:
        kwargs.update(auth_url=a.auth_url, client_id=a.client_id, client_secret=a.client_secret)
    client = Ensign(**kwargs)
    await client.create_topic(a.topic)
    payload = b"x" * a.size
    outcomes = 0
    ack_times: List[float] = []
    record = a.program == "rate"

    async def on_ack(ack: Any) -> None:
        nonlocal outcomes
        outcomes += 1
        if record:
            ack_times.append(time.perf_counter())

    async def on_nack(nack: Any) -> None:
        nonlocal outcomes
        outcomes += 1

    def plain_ack(ack: Any) -> None:
        nonlocal outcomes
        outcomes += 1
        if record:
            ack_times.append(time.perf_counter())

    def plain_nack(nack: Any) -> None:
        nonlocal outcomes
        outcomes += 1

    cbs: dict = {}
    if a.callbacks == "async":
        cbs = {"on_ack": on_ack, "on_nack": on_nack}
    elif a.callbacks == "plain":
        cbs = {"on_ack": plain_ack, "on_nack": plain_nack}

    # Warm up: open the stream and resolve the topic outside the timed section.
    warm = Event(payload, "application/json")
    await client.publish(a.topic, warm, **cbs)
    # NOTE: with callbacks, wait for the warm-up's callback itself: the event reads as
    # acked as soon as the core has its ack, which can be before `on_ack` has run; a late
    # warm-up callback would then count as the first measured outcome (seen in CI).
    while not (warm.acked() or warm.nacked()) or (cbs and outcomes == 0):
        await asyncio.sleep(0.001)
    outcomes = 0
    # The warm-up event's ack must not count: latencies pair the i-th send with the
    # i-th ack, so one stale entry would shift every pair by one event interval.
    ack_times.clear()

    n = a.events
    held: List[Any] = []
    rss_built = rss_done = None
    if a.held:
        held = [Event(payload, "application/json") for _ in range(n)]
        gc.collect()
        rss_built = rss_mib()
    last: Any = None
    sent: List[float] = []
    threads0 = thread_cpu()
    switches0 = thread_switches()
    waits0 = thread_runq_waits()
    cpu0, t0 = cpu(), time.perf_counter()
    if a.program == "batches":
        for start in range(0, n, a.batch):
            if a.held:
                batch = held[start : start + a.batch]
            else:
                batch = [Event(payload, "application/json") for _ in range(min(a.batch, n - start))]
            await client.publish(a.topic, batch, **cbs)
            last = batch[-1]
    elif a.program == "rate":
        for i in range(n):
            due = t0 + i / a.rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            sent.append(time.perf_counter())
            last = Event(payload, "application/json")
            await client.publish(a.topic, last, **cbs)
    else:  # wait
        for _ in range(n):
            last = Event(payload, "application/json")
            await client.publish(a.topic, last, **cbs)
            await last.wait_for_ack()
    # The end: every event has its outcome.
    if a.callbacks == "none" and a.sdk == "pyensign_fast":
        await client.flush(timeout=600)
    elif a.callbacks == "none":
        while not (last.acked() or last.nacked()):  # pyensign acks in publish order
            await asyncio.sleep(0.0005)
    else:
        deadline = time.perf_counter() + 600
        while outcomes < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
    seconds = time.perf_counter() - t0
    used = cpu() - cpu0
    threads1 = thread_cpu()
    switches1 = thread_switches()
    waits1 = thread_runq_waits()
    per_thread = {
        name: round((threads1[name] - threads0.get(name, 0.0)) / n * 1e6, 2) for name in threads1
    }
    if a.held:
        gc.collect()
        rss_done = rss_mib()
    acked = sum(1 for e in held if e.acked()) if a.held else None
    result = {
        "sdk": a.sdk,
        "program": a.program,
        "callbacks": a.callbacks,
        "held": a.held,
        "size": a.size,
        "events": n,
        "seconds": round(seconds, 4),
        "events_per_s": round(n / seconds, 1),
        "cpu_per_event_us": round(used / n * 1e6, 3),
        "outcomes": outcomes if a.callbacks != "none" else n,
        "acked": acked,
        "rss_built_mib": rss_built and round(rss_built, 1),
        "rss_published_mib": rss_done and round(rss_done, 1),
        "p50_us": None,
        "p99_us": None,
        "thread_cpu_per_event_us": per_thread,
        "thread_wakeups_per_event": {
            name: round((switches1[name] - switches0.get(name, 0)) / n, 3) for name in switches1
        },
        "thread_runq_wait_per_event_us": {
            name: round((waits1[name] - waits0.get(name, 0.0)) / n * 1e6, 3) for name in waits1
        },
    }
    if ack_times:
        lat = sorted((t - s) * 1e6 for s, t in zip(sent, ack_times))
        result["p50_us"] = round(lat[len(lat) // 2], 1)
        result["p99_us"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1)
    try:
        await asyncio.wait_for(client.close(), 30)
    except Exception:
        pass
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sdk", choices=["pyensign", "pyensign_fast"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--auth-url", default="")
    p.add_argument("--client-id", default="")
    p.add_argument("--client-secret", default="")
    p.add_argument("--topic", default="bench")
    p.add_argument("--program", choices=["batches", "rate", "wait"], default="batches")
    p.add_argument("--callbacks", choices=["async", "plain", "none"], default="async")
    p.add_argument("--held", action="store_true")
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--rate", type=float, default=10_000.0)
    p.add_argument(
        "--loop", choices=["asyncio", "uvloop"], default="asyncio", help="the event loop"
    )
    a = p.parse_args()
    if a.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    print(json.dumps(asyncio.run(run(a))), flush=True)


if __name__ == "__main__":
    main()
