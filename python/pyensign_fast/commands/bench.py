"""``pyensign-fast bench pub|sub|pubsub [TOPIC]``: throughput and latency, nats-bench style.

* ``pub``: publishes ``--events`` events of ``--size`` bytes in ``publish()`` calls of
  ``--batch`` events and waits for every ack. Latency: publish call → ack.
* ``sub``: subscribes, then starts a publisher process (``bench pub`` with the same
  options) and receives and acks the events. Latency: the event's creation on the
  publisher → its receipt (end to end, one clock).
* ``pubsub``: both in this process, concurrently.

``--local`` runs an in-process ``LocalEnsign`` (in memory) instead of connecting; its
CPU time then counts in this process's. Results: events/s, MB/s (payload), CPU µs per
event (this process's user+system time / events) and p50/p99/max latency, as a table on
stdout, a JSON document (``--json``), and/or rows appended to ``--csv FILE``. A progress
bar is drawn on stderr when it is a terminal (see :mod:`._bench_report`). Exits 1 if any
event is nacked or missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from typing import Any, Dict, Iterator, List, Optional

from pyensign_fast.commands._bench_report import Latencies, Progress, report
from pyensign_fast.commands._connection import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    add_connection_arguments,
    client_options,
    make_client,
    positive_int,
    run_main,
)

__all__ = ["add_arguments", "run"]

# Latency samples kept per run (every k-th event beyond that: the percentiles stay exact
# enough and sampling costs nothing per event).
MAX_SAMPLES = 200_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("mode", choices=("pub", "sub", "pubsub"))
    p.add_argument("topic", nargs="?", help="topic to use (default: a new bench-… topic)")
    p.add_argument("-n", "--events", type=positive_int, default=100_000, help="(default 100,000)")
    p.add_argument("-s", "--size", type=positive_int, default=128, help="payload bytes (128)")
    p.add_argument("-b", "--batch", type=positive_int, default=1000, help="events per publish")
    p.add_argument("--json", action="store_true", help="results as one JSON document")
    p.add_argument("--csv", metavar="FILE", help="append the result rows to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--local", action="store_true", help="use an in-process LocalEnsign")
    add_connection_arguments(p)


def _row(mode: str, a: argparse.Namespace, seconds: float, cpu: float, **extra: Any) -> Dict:
    n = a.events
    row: Dict[str, Any] = {
        "mode": mode,
        "events": n,
        "size": a.size,
        "batch": a.batch,
        "seconds": round(seconds, 4),
        "events_per_s": round(n / seconds, 1) if seconds > 0 else None,
        "mb_per_s": round(n * a.size / seconds / 1e6, 2) if seconds > 0 else None,
        "cpu_us_per_event": round(cpu / n * 1e6, 3),
    }
    row.update(extra)
    return row


class _Publisher:
    """Publishes ``a.events`` events in batches and waits for every outcome.

    Latency is sampled once per batch: from the ``publish()`` call to the ack of the
    batch's last event (acks come back in order). NOTE: no per-event ``on_ack``: a
    callback per event costs ~1 µs of Python (an ``Ack`` object each) and would double
    the CPU measured; a waiter per batch costs ~0.02 µs per event at batches of 1,000.
    """

    def __init__(self, client: Any, topic: str, a: argparse.Namespace) -> None:
        self.client, self.topic, self.a = client, topic, a
        self.sent = self.nacked = 0
        self.confirmed = 0  # events of the batches whose last event has its outcome
        self.flushed = False
        self.latency = Latencies()

    @property
    def acked(self) -> int:
        done = self.sent if self.flushed else self.confirmed
        return done - self.nacked

    def _on_nack(self, nack: Any) -> None:
        self.nacked += 1

    async def _time(self, last: Any, n: int, sent: float) -> None:
        from pyensign_fast.exceptions import NackError

        with contextlib.suppress(NackError):
            await last.wait_for_ack()
        self.latency.add(time.perf_counter() - sent)
        self.confirmed += n

    async def run(self) -> float:
        from pyensign_fast.events import Event

        a, perf = self.a, time.perf_counter
        payload = os.urandom(a.size)
        timers = []
        start = perf()
        for first in range(0, a.events, a.batch):
            n = min(a.batch, a.events - first)
            events = [Event(payload, "application/octet-stream") for _ in range(n)]
            sent = perf()
            await self.client.publish(self.topic, events, on_nack=self._on_nack)
            self.sent += n
            timers.append(asyncio.ensure_future(self._time(events[-1], n, sent)))
            # NOTE: publish() does not yield while the window has room; without this the
            # loop would resolve no waiter before the end, and latency would be the run.
            await asyncio.sleep(0)
        try:
            await self.client.flush(timeout=max(a.timeout, 1.0))
            self.flushed = True
        except asyncio.TimeoutError:
            pass  # reported as missing acks
        elapsed = perf() - start
        for timer in timers:
            if not timer.done():
                timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        return elapsed


class _Subscriber:
    """Receives and acks ``total`` events; end-to-end latency from ``event.created``."""

    def __init__(self, client: Any, topic: str, total: int, idle_timeout: float) -> None:
        self.total, self.idle_timeout = total, idle_timeout
        self.subscription = client.subscribe(topic)
        self.received = 0
        self.latency = Latencies()
        self.stride = max(1, total // MAX_SAMPLES)
        self.first = self.last = 0.0

    async def run(self) -> None:
        perf, now_ns = time.perf_counter, time.time_ns
        add, stride, total = self.latency.add, self.stride, self.total
        loop = asyncio.get_running_loop()
        seen = -1
        timer: Optional[asyncio.TimerHandle] = None

        def watchdog() -> None:
            # NOTE: a timer, not wait_for() per event (a task each: ~20 µs per event).
            nonlocal seen, timer
            if self.received == seen:
                self.subscription.close()  # idle too long: the loop below ends
                return
            seen = self.received
            timer = loop.call_later(self.idle_timeout, watchdog)

        timer = loop.call_later(self.idle_timeout, watchdog)
        try:
            async for event in self.subscription:
                await event.ack()
                self.received += 1
                if self.received == 1:
                    self.first = perf()
                if self.received % stride == 0:
                    add((now_ns() - event.created.ToNanoseconds()) / 1e9)
                if self.received >= total:
                    break
        finally:
            if timer is not None:
                timer.cancel()
        self.last = perf()
        await self.subscription.aclose()

    @property
    def seconds(self) -> float:
        return max(self.last - self.first, 1e-9)


def _child_command(a: argparse.Namespace, topic: str, endpoint: str) -> List[str]:
    argv = [sys.executable, "-m", "pyensign_fast", "bench", "pub", topic]
    argv += ["--events", str(a.events), "--size", str(a.size), "--batch", str(a.batch)]
    argv += ["--no-progress", "--json", "--endpoint", endpoint, "--timeout", str(a.timeout)]
    options: Dict[str, Any] = {"insecure": True, "auth_url": ""} if a.local else client_options(a)
    if options.get("insecure"):
        argv.append("--insecure")
    if options.get("auth_url") == "":
        argv.append("--no-auth")
    elif options.get("auth_url"):
        argv += ["--auth-url", options["auth_url"]]
    if options.get("cred_path"):
        argv += ["--cred-path", options["cred_path"]]
    return argv


def _child_env(a: argparse.Namespace) -> Dict[str, str]:
    env = dict(os.environ)
    # Secrets go to the child through its environment, never its command line.
    if a.client_id:
        env["ENSIGN_CLIENT_ID"] = a.client_id
    if a.client_secret:
        env["ENSIGN_CLIENT_SECRET"] = a.client_secret
    return env


@contextlib.contextmanager
def _server(a: argparse.Namespace) -> Iterator[Any]:
    if not a.local:
        yield None
        return
    from pyensign_fast.server import LocalEnsign

    with LocalEnsign() as server:
        yield server


async def _publisher_process(a: argparse.Namespace, topic: str, endpoint: str) -> Any:
    return await asyncio.create_subprocess_exec(
        *_child_command(a, topic, endpoint), stdout=asyncio.subprocess.PIPE, env=_child_env(a)
    )


async def _receive_with(child: Any, receiving: asyncio.Future) -> bytes:
    """Wait for the subscriber, unless the publisher process fails first; its output."""
    output = asyncio.ensure_future(child.communicate())
    await asyncio.wait({output, receiving}, return_when=asyncio.FIRST_COMPLETED)
    if output.done() and child.returncode != 0:
        receiving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await receiving
    out, _ = await output
    return bytes(out or b"")


async def _bench(a: argparse.Namespace, server: Any) -> int:
    from pyensign_fast.ensign import Ensign

    if server is not None:
        client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="",
                        reconnect_timeout=a.timeout)  # fmt: skip
    else:
        client = make_client(a)
    endpoint = client.endpoint
    topic = a.topic or f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    progress = Progress(enabled=not a.no_progress)
    rows: List[Dict[str, Any]] = []
    ok = True
    child: Any = None
    try:
        await client.ensure_topic_exists(topic)
        publisher = subscriber = None
        if a.mode in ("sub", "pubsub"):
            subscriber = _Subscriber(client, topic, a.events, a.timeout)
            await subscriber.subscription.ready()
            progress.track("received", a.events, lambda: subscriber.received)  # type: ignore[union-attr]
        if a.mode in ("pub", "pubsub"):
            publisher = _Publisher(client, topic, a)
            progress.track("acked", a.events, lambda: publisher.acked)  # type: ignore[union-attr]
        cpu0 = time.process_time()
        progress.start()
        try:
            receiving = asyncio.ensure_future(subscriber.run()) if subscriber else None
            pub_seconds = await publisher.run() if publisher else 0.0
            if a.mode == "sub":
                assert receiving is not None
                child = await _publisher_process(a, topic, endpoint)
                out = await _receive_with(child, receiving)
                ok = child.returncode == 0
                if ok:
                    rows.extend(json.loads(out)["results"])
            elif receiving is not None:
                await receiving
        finally:
            await progress.stop()
        cpu = time.process_time() - cpu0
        if publisher is not None:
            ok = ok and publisher.nacked == 0 and publisher.flushed
            row = _row("publish", a, pub_seconds, cpu, latency="publish-ack")
            row.update(publisher.latency.summary(), acked=publisher.acked)
            rows.append({**row, "nacked": publisher.nacked, "received": None})
        if subscriber is not None:
            ok = ok and subscriber.received == a.events
            row = _row("subscribe", a, subscriber.seconds, cpu, latency="end-to-end")
            row.update(subscriber.latency.summary(), acked=None, nacked=None)
            rows.append({**row, "received": subscriber.received})
    finally:
        if child is not None and child.returncode is None:
            child.kill()
            await child.wait()
        await client.close(timeout=a.timeout)
    notes = []
    if server is not None:
        notes.append("CPU includes the in-process server.")
    if a.mode == "pubsub":
        notes.append("CPU µs/event is this process's, publishing and subscribing.")
    if a.mode == "sub":
        notes.append("The publish row was measured by the publisher process.")
    where = "in-process LocalEnsign" if server is not None else endpoint
    report(rows, {"command": a.mode, "where": where, "topic": topic}, a.json, a.csv, notes)
    for r in rows:
        if r.get("nacked") or (r["mode"] == "subscribe" and r["received"] != a.events):
            print(f"error: {r['mode']}: not every event made it", file=sys.stderr)
    if child is not None and child.returncode != 0:
        print(f"error: the publisher process exited with {child.returncode}", file=sys.stderr)
    return EXIT_OK if ok else EXIT_FAILURE


def run(args: argparse.Namespace) -> int:
    if args.local and (args.endpoint or args.auth_url or args.cred_path or args.client_id):
        print("error: --local uses its own server: drop the connection options", file=sys.stderr)
        return EXIT_USAGE
    try:
        with _server(args) as server:
            return run_main(lambda: _bench(args, server))
    except (OSError, ValueError) as e:  # the local server could not start
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE
