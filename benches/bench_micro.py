"""Micro-benchmarks of the per-event costs, with pytest-benchmark (never part of the test
run: ``tests/`` is the only test path). Saved JSON makes runs comparable::

    python -m pytest benches/bench_micro.py --benchmark-json benches/results/micro.json
    python -m pytest benches/bench_micro.py --benchmark-compare=benches/results/micro.json \\
        --benchmark-compare-fail=median:25%

(Compare medians: the ack-dispatch rounds keep every ``Ack`` their callback appended, so a
few rounds pay a full collection of the cyclic GC and the means move with them.)

Each benchmark times a batch of ``N`` operations (the ``per event`` figure is the median
divided by ``N``, printed at the end): Event creation, one batch crossing into the core
(admission of 1,000 events, against an in-process local server), one ack dispatch with a
plain and with an ``async def`` callback (``Notifier.drain`` of synthetic acks, no
server), and one received Event (``_receive.received_batch``, the Python half of a
subscribe page).
"""

from __future__ import annotations

import asyncio
from typing import Any, Iterator

import pytest

from pyensign_fast import _core
from pyensign_fast._receive import received_batch
from pyensign_fast.events import Event

N = 1000
PAYLOAD = b"x" * 100
_per_event: dict = {}


@pytest.fixture(scope="module")
def sync_client() -> Iterator[Any]:
    from pyensign_fast.server import LocalEnsign
    from pyensign_fast.sync import Ensign

    with LocalEnsign() as srv:
        client = Ensign(
            endpoint=srv.endpoint, insecure=True, auth_url="", max_inflight_events=16384
        )
        client.create_topic("micro")
        client.publish("micro", Event(PAYLOAD))
        client.flush()
        yield client
        client.close()


def _record(benchmark: Any, name: str) -> None:
    _per_event[name] = benchmark.stats.stats.median / N * 1e6


def test_event_creation(benchmark: Any) -> None:
    def make() -> list:
        return [Event(PAYLOAD, "application/json") for _ in range(N)]

    benchmark(make)
    _record(benchmark, "Event(...)")


def test_batch_crossing(benchmark: Any, sync_client: Any) -> None:
    """One ``publish()`` of 1,000 events: checks, reads, encoding, admission."""

    def setup() -> tuple:
        sync_client.flush(timeout=30)  # keep the window empty between rounds
        return ([Event(PAYLOAD, "application/json") for _ in range(N)],), {}

    def publish(batch: list) -> None:
        sync_client.publish("micro", batch)

    benchmark.pedantic(publish, setup=setup, rounds=60, warmup_rounds=3)
    _record(benchmark, "publish() of 1,000: per event")


def _dispatch(benchmark: Any, callback: Any, name: str) -> None:
    notifier = _core.Notifier()

    def setup() -> tuple:
        notifier._push_outcomes(N, callback)
        return (), {}

    def drain() -> None:
        assert notifier.drain() == []

    loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(loop)
    try:
        benchmark.pedantic(drain, setup=setup, rounds=200, warmup_rounds=5)
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
    _record(benchmark, name)


def test_ack_dispatch_plain_callback(benchmark: Any) -> None:
    seen = []
    _dispatch(benchmark, seen.append, "ack dispatch, plain callback")


def test_ack_dispatch_coroutine_callback(benchmark: Any) -> None:
    seen = []

    async def on_ack(ack: Any) -> None:
        seen.append(ack)

    _dispatch(benchmark, on_ack, "ack dispatch, async def callback")


def test_received_event(benchmark: Any) -> None:
    new = object.__new__
    parts = ("Generic", 1, 0, 0, None)  # shared by a page's events of one schema, as in Rust

    def rows() -> list:
        # The row layout of ``_receive.received_batch`` (its docstring).
        return [
            (new(Event), PAYLOAD, 2, None, parts, 1_700_000_000_000_000_000, b"r" * 10,
             b"t" * 16, 1_700_000_000_000_000_001)
            for _ in range(N)
        ]  # fmt: skip

    def setup() -> tuple:
        return (rows(), None), {}

    benchmark.pedantic(received_batch, setup=setup, rounds=200, warmup_rounds=5)
    _record(benchmark, "received Event (Python half)")


def test_zz_report() -> None:
    """Prints the per-event figures (median / N)."""
    for name, us in _per_event.items():
        print(f"{name:40} {us:8.3f} us per event")
