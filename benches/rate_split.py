"""Where a one-``publish()``-per-event service spends its event-loop thread's CPU: the
same paced loop (``asyncio.sleep`` to a fixed rate) run with nothing else, then with
``Event(...)`` + ``await client.publish(...)`` and no callbacks, plain ``on_ack``, and
``async def on_ack``; on asyncio's own loop and on uvloop. Prints the loop thread's CPU
per event (``RUSAGE_THREAD``), each variant in its own process against one local server.

    python benches/rate_split.py [--rate 10000] [--events 30000] [--count]

``--count`` also counts, per event, the asyncio loop's iterations (``_run_once``), its
``select`` calls and their CPU, and the notifier's drains and their CPU (by wrapping
those methods: the wrappers add ~1 µs per call, so read the CPU column without it).

Results and what they mean: ``benches/results/service_path.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server

VARIANTS = ("pacing", "none", "plain", "async")


def thread_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime + r.ru_stime


COUNTS: Dict[str, float] = {}


def _counted(owner: Any, name: str, key: str) -> None:
    """Wraps ``owner.name`` to count its calls and their thread CPU under ``key``."""
    inner = getattr(owner, name)
    COUNTS[key] = COUNTS[key + " µs"] = 0.0

    def wrapper(self: Any, *args: Any) -> Any:
        t = time.thread_time()
        try:
            return inner(self, *args)
        finally:
            COUNTS[key] += 1
            COUNTS[key + " µs"] += (time.thread_time() - t) * 1e6

    setattr(owner, name, wrapper)


def count_loop_work() -> None:
    """Counts the loop's iterations, selects and the notifier's drains (``--count``)."""
    import asyncio.base_events
    import selectors

    from pyensign_fast import _bridge

    _counted(asyncio.base_events.BaseEventLoop, "_run_once", "iterations")
    _counted(selectors.EpollSelector, "select", "selects")
    _counted(_bridge.Bridge, "drain", "drains")


async def paced(a: argparse.Namespace) -> float:
    from pyensign_fast import Ensign, Event

    client = Ensign(
        endpoint=a.endpoint,
        insecure=True,
        auth_url=a.auth_url,
        client_id=a.client_id,
        client_secret=a.client_secret,
    )
    topic = f"split-{a.variant}-{a.loop}"
    await client.create_topic(topic)

    async def on_async(_: object) -> None:
        pass

    def on_plain(_: object) -> None:
        pass

    cbs: dict = {}
    if a.variant == "plain":
        cbs = {"on_ack": on_plain, "on_nack": on_plain}
    elif a.variant == "async":
        cbs = {"on_ack": on_async, "on_nack": on_async}
    await client.publish(topic, Event(b"x" * 100), **cbs)
    await client.flush()
    t0, c0 = time.perf_counter(), thread_cpu()
    for i in range(a.events):
        due = t0 + i / a.rate
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        if a.variant != "pacing":
            await client.publish(topic, Event(b"x" * 100), **cbs)
    await client.flush()
    used = thread_cpu() - c0
    await client.close()
    return used / a.events * 1e6


def run_variant(a: argparse.Namespace) -> str:
    """One variant in this process: its CPU per event, and the counts with ``--count``."""
    if a.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if a.count:
        count_loop_work()
    line = f"{asyncio.run(paced(a)):.1f}"
    if a.count:  # per event; asyncio's iterations and selects stay 0 on uvloop
        line += "  " + "  ".join(f"{k} {v / a.events:.2f}" for k, v in COUNTS.items())
    return line


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rate", type=float, default=10_000)
    p.add_argument("--events", type=int, default=30_000)
    p.add_argument("--count", action="store_true", help="count loop iterations and drains")
    p.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--loop", choices=["asyncio", "uvloop"], help=argparse.SUPPRESS)
    for name in ("endpoint", "auth-url", "client-id", "client-secret"):
        p.add_argument(f"--{name}", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:  # one variant, in this process
        print(run_variant(a))
        return
    print(f"loop-thread CPU µs per event at {a.rate:,.0f} events/s, {a.events:,} events")
    with Server() as srv:
        for loop in ("asyncio", "uvloop"):
            for variant in VARIANTS:
                cmd = [sys.executable, __file__, *srv.client_args(), "--variant", variant]
                cmd += ["--loop", loop, "--rate", str(a.rate), "--events", str(a.events)]
                cmd += ["--count"] if a.count else []
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                value = out.stdout.strip() or f"failed: {out.stderr[-300:]}"
                print(f"{loop:8} {variant:7} {value}")


if __name__ == "__main__":
    main()
