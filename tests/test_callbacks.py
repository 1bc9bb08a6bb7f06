"""on_ack/on_nack callbacks on every kind of loop: coroutine callbacks run eagerly (no task
per event unless they suspend), in order, with their exceptions logged; the batch-checking
rule; the notifier on loops without ``add_reader`` (the watcher thread) and on uvloop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pyensign_fast import _bridge
from pyensign_fast.events import Event

pytestmark = pytest.mark.all_loops


def make(n: int) -> list:
    return [Event(f'{{"n": {i}}}'.encode(), "application/json") for i in range(n)]


class TaskCounter:
    """Counts the tasks created on the running loop (a task factory)."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> TaskCounter:
        self.loop = asyncio.get_running_loop()
        self.previous = self.loop.get_task_factory()

        def factory(loop, coro, **kwargs):
            self.count += 1
            return asyncio.Task(coro, loop=loop, **kwargs)

        self.loop.set_task_factory(factory)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.set_task_factory(self.previous)


async def test_the_loop_kind_is_what_the_parameter_says(client, topic, request):
    await client.publish(topic, make(1))
    bridge = _bridge.get_bridge()
    uses_reader = "no_add_reader" not in request.node.name
    assert bridge.uses_reader is uses_reader


async def test_coroutine_callbacks_run_eagerly_in_order_without_tasks(client, topic):
    seen = []

    async def on_ack(ack):
        seen.append(ack.id)

    events = make(500)
    with TaskCounter() as tasks:
        for chunk in (events[:200], events[200:201], events[201:]):
            await client.publish(topic, chunk, on_ack=on_ack)
        await client.flush()
        # No sleep: callbacks that do not suspend have run when flush returns.
        assert seen == [e.id for e in events]
    assert tasks.count == 0


async def test_coroutine_nack_callbacks_run_eagerly(server, topic, client):
    await client.publish(topic, make(1))
    await client.flush()
    server.stop()
    nacks = []

    async def on_nack(nack):
        nacks.append((nack.id, nack.code))

    events = make(5)
    with TaskCounter() as tasks:
        await client.publish(topic, events, on_nack=on_nack)
        await client.close(timeout=0.2)
    assert [code for _, code in nacks] == [100] * 5  # UNPROCESSED
    assert [i for i, _ in nacks] == [e.error.id for e in events]
    assert tasks.count == 0


async def test_a_callback_that_suspends_finishes_in_a_task(client, topic):
    started, finished = [], []
    release = asyncio.get_running_loop().create_future()

    async def on_ack(ack):
        started.append(ack.id)
        if len(started) % 2 == 0:
            await release  # suspends until the test releases it
        await asyncio.sleep(0)
        finished.append(ack.id)
        return "ignored"

    events = make(6)
    await client.publish(topic, events, on_ack=on_ack)
    await client.flush()
    # Every callback started, in order; half of them wait for `release`.
    assert started == [e.id for e in events]
    release.set_result(None)
    for _ in range(20):
        if len(finished) == len(events):
            break
        await asyncio.sleep(0)
    assert sorted(finished) == sorted(e.id for e in events)


async def test_exceptions_are_logged_never_raised(client, topic, caplog):
    async def eager_boom(ack):
        raise RuntimeError("eager callback bug")

    async def late_boom(ack):
        await asyncio.sleep(0)
        raise ValueError("late callback bug")

    def plain_boom(ack):
        raise KeyError("plain callback bug")

    with caplog.at_level(logging.WARNING, logger="pyensign_fast"):
        for cb in (eager_boom, late_boom, plain_boom):
            await client.publish(topic, make(2), on_ack=cb)
        await client.flush()
        for _ in range(10):
            await asyncio.sleep(0)
    for text in (
        "RuntimeError: eager callback bug",
        "ValueError: late callback bug",
        "KeyError: 'plain callback bug'",
    ):
        assert caplog.text.count(text) == 2, text
    # The stream and the bridge survived.
    more = make(3)
    await client.publish(topic, more)
    await client.flush()
    assert all(e.acked() for e in more)


async def test_a_callback_returning_an_awaitable_gets_it_awaited(client, topic):
    loop = asyncio.get_running_loop()
    futures = []

    def on_ack(ack):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, ack.id)
        futures.append(fut)
        return fut

    events = make(3)
    await client.publish(topic, events, on_ack=on_ack)
    await client.flush()
    assert [await f for f in futures] == [e.id for e in events]


async def test_wait_for_ack_and_results_reach_the_loop(client, topic):
    events = make(50)
    await client.publish(topic, events)
    acks = await asyncio.gather(*(e.wait_for_ack() for e in events))
    assert [a.id for a in acks] == [e.id for e in events]
    assert await client.topic_exists(topic)


async def test_subscribe_on_every_loop(client, topic):
    sub = client.subscribe(topic)
    await sub.ready()
    await client.publish(topic, make(20))
    got = []
    async for event in sub:
        got.append(event)
        await event.ack()
        if len(got) == 20:
            break
    await sub.aclose()
    assert [e.data for e in got] == [e.data for e in make(20)]


# -- the batch-checking rule -------------------------------------------------------------


@pytest.mark.parametrize("where", [0, 15, 16, 399])
async def test_a_bad_event_anywhere_in_a_big_batch_sends_nothing(server, where):
    # The window holds 16 events: the batch is admitted in many calls, and the bad event
    # may sit in the first window, at its edge, or far beyond it.
    c = server.client(max_inflight_events=16)
    try:
        await c.create_topic("big")
        events = make(400)
        events[where].data = "not bytes"
        with pytest.raises(TypeError, match="event data must be bytes"):
            await c.publish("big", events)
        assert not any(e.published() for e in events)
        assert c._core.pending() == 0
        events[where].data = b'{"fixed": true}'
        await c.publish("big", events)
        await c.flush()
        assert all(e.acked() for e in events)
        assert (await c.info()).events == 400
    finally:
        await c.close()


# -- the drain itself (synthetic outcomes, no server) -----------------------------------


def test_a_base_exception_in_a_callback_propagates_and_loses_nothing():
    from pyensign_fast import _core

    notifier = _core.Notifier()
    seen = []

    def on_ack(ack):
        seen.append(ack.committed.nanos)
        if len(seen) == 3:
            raise KeyboardInterrupt

    notifier._push_outcomes(10, on_ack)
    with pytest.raises(KeyboardInterrupt):
        notifier.drain()
    assert seen == [0, 1, 2]
    assert notifier.drain() == []  # the rest, in order, on the next drain
    assert seen == list(range(10))


def test_drain_builds_pyensign_like_acks_and_nacks():
    from pyensign_fast import _core
    from pyensign_fast.messages import Ack, Nack
    from pyensign_fast.timestamps import Timestamp

    notifier = _core.Notifier()
    acks, nacks = [], []
    notifier._push_outcomes(2, acks.append)
    notifier._push_outcomes(1, on_nack=nacks.append, nack=True)
    assert notifier.drain() == []
    assert [type(a) for a in acks] == [Ack, Ack]
    assert isinstance(acks[1].committed, Timestamp)
    assert (acks[1].committed.seconds, acks[1].committed.nanos) == (1_700_000_000, 1)
    assert acks[1].id == bytes(15) + b"\x01"
    assert type(nacks[0]) is Nack
    assert (nacks[0].code, nacks[0].error) == (100, "synthetic")


# -- the blocking client -----------------------------------------------------------------


def test_sync_client_runs_coroutine_callbacks(server):
    from pyensign_fast.sync import Ensign

    seen, late = [], []

    async def on_ack(ack):
        seen.append(ack.id)

    async def suspending(ack):
        await asyncio.sleep(0.001)
        late.append(ack.id)

    with Ensign(endpoint=server.endpoint, insecure=True, auth_url="") as c:
        c.create_topic("sync")
        events = make(50)
        c.publish("sync", events[:40], on_ack=on_ack)
        c.publish("sync", events[40:], on_ack=suspending)
        c.flush()
        assert seen == [e.id for e in events[:40]]
        assert late == [e.id for e in events[40:]]
