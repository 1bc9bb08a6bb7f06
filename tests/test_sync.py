"""The blocking API (``pyensign_fast.sync.Ensign``, ``Event``, ``wait_for_ack``) and the
sync ↔ async adapters, against the in-process local server."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import threading

import pytest

from pyensign_fast import sync
from pyensign_fast.ack import Ack
from pyensign_fast.enum import TopicState
from pyensign_fast.exceptions import (
    CouldNotAck,
    EnsignClientClosingError,
    EnsignTopicNotFoundError,
    InvalidQueryError,
    NackError,
    PyEnsignError,
    QueryNoRows,
    UnknownTopicError,
)
from pyensign_fast.messages import Ack as AckMessage
from pyensign_fast.sync import Ensign, Event


def make(n, prefix="e"):
    return [Event(f'{{"{prefix}": {i}}}'.encode(), "application/json") for i in range(n)]


@pytest.fixture
def bclient(server):
    with Ensign(endpoint=server.endpoint, insecure=True, auth_url="") as c:
        c.create_topic("events")
        yield c


def test_topics_and_project_block(bclient):
    assert bclient.status().status == 1
    assert bclient.topic_exists("events") and not bclient.topic_exists("nope")
    topic_id = bclient.ensure_topic_exists("more")
    assert bclient.topic_id("more") == topic_id
    assert bclient.topic_names() == ["events", "more"]
    assert [t.name for t in bclient.get_topics()] == ["events", "more"]
    assert bclient.retrieve_topic("more").status == TopicState.READY
    assert bclient.set_topic_deduplication_policy("more", 3) in (
        TopicState.PENDING,
        TopicState.READY,
    )
    assert bclient.info().num_topics == 2
    assert bclient.archive_topic("events") == TopicState.READONLY
    bclient.destroy_topic(topic_id)
    with pytest.raises(EnsignTopicNotFoundError):
        bclient.topic_id("more")


def test_publish_wait_for_ack_and_callbacks(bclient):
    acks = []
    events = make(500)
    bclient.publish("events", events, on_ack=acks.append)
    ack = events[-1].wait_for_ack()
    assert isinstance(ack, Ack) and ack.id == events[-1].id
    bclient.flush()
    # flush() returns after the callbacks of everything it waited for have run.
    assert len(acks) == 500 and all(isinstance(a, AckMessage) for a in acks)
    assert all(e.acked() for e in events)
    assert sync.wait_for_ack(events[0]).id == events[0].id
    assert bclient.wait_for_ack(events[1], timeout=5).id == events[1].id


def test_coroutine_and_failing_callbacks(bclient, caplog):
    seen = []

    async def on_ack(ack):
        seen.append(ack.id)

    def boom(ack):
        raise RuntimeError("callback bug")

    with caplog.at_level(logging.WARNING, logger="pyensign_fast"):
        bclient.publish("events", make(3), on_ack=on_ack)
        bclient.publish("events", make(2), on_ack=boom)
        bclient.flush()
    assert len(seen) == 3
    assert "callback bug" in caplog.text


def test_publish_more_than_the_window(server):
    # max_inflight_events=32: publish() waits for room (blocking) and continues.
    with Ensign(endpoint=server.endpoint, insecure=True, auth_url="", max_inflight_events=32) as c:
        c.create_topic("events")
        events = make(1000)
        c.publish("events", *events)
        c.flush(timeout=30)
        assert all(e.acked() for e in events)


def test_publish_to_a_topic_created_after_the_stream_opened(bclient, server):
    bclient.publish("events", make(1))
    with Ensign(endpoint=server.endpoint, insecure=True, auth_url="") as other:
        other.create_topic("late")
    event = make(1)[0]
    bclient.publish("late", event)
    assert event.wait_for_ack(timeout=10)


def test_publish_argument_errors(bclient):
    with pytest.raises(ValueError, match="topic is required"):
        bclient.publish("", make(1))
    with pytest.raises(TypeError, match="expected type 'str' for topic"):
        bclient.publish(1, make(1))
    with pytest.raises(ValueError, match="no events provided"):
        bclient.publish("events")
    with pytest.raises(UnknownTopicError):
        bclient.publish("nope", make(1))
    with pytest.raises(ValueError, match="timeout must be greater than 0"):
        bclient.flush(0)


def test_many_threads_share_one_client(bclient):
    errors = []

    def worker(k):
        try:
            events = make(300, f"t{k}")
            for chunk in range(0, 300, 50):
                bclient.publish("events", events[chunk : chunk + 50])
            for e in events:
                e.wait_for_ack(timeout=30)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert bclient.info().events == 1800


def test_refuses_the_event_loop_thread_but_works_in_its_executor(bclient):
    async def main():
        with pytest.raises(RuntimeError, match="cannot be called from a thread running an event"):
            bclient.status()
        with pytest.raises(RuntimeError, match="event loop"):
            bclient.publish("events", make(1))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, bclient.topic_names)

    assert asyncio.run(main()) == ["events"]


def test_blocking_waits_release_the_gil(bclient, server):
    bclient.publish("events", make(1))
    bclient.flush()
    server.stop()
    pending = make(5)
    bclient.publish("events", pending)
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        with pytest.raises(TimeoutError) as err:
            bclient.flush(timeout=0.5)
        assert isinstance(err.value, asyncio.TimeoutError)
        with pytest.raises(TimeoutError):
            pending[0].wait_for_ack(timeout=0.2)
    finally:
        stop.set()
        spinner.join()
    assert counter[0] > 10_000
    nacks = []
    bclient.publish("events", make(2), on_nack=nacks.append)
    bclient.close(timeout=0.3)
    # Closing gave every pending event its outcome, and ran the callbacks.
    assert all(e.nacked() for e in pending) and len(nacks) == 2
    with pytest.raises(NackError):
        pending[0].wait_for_ack()
    with pytest.raises(EnsignClientClosingError):
        bclient.publish("events", make(1))


def test_sync_event_methods_block(bclient):
    event = make(1)[0]
    with pytest.raises(CouldNotAck):
        event.ack()
    with pytest.raises(PyEnsignError, match="has not been published"):
        event.wait_for_ack()
    assert isinstance(event, sync.Event)


def test_waits_on_events_published_by_the_asyncio_client(server):
    from pyensign_fast.events import Event as AsyncEvent

    async def publish():
        async with server.client() as c:
            await c.create_topic("events")
            events = [AsyncEvent(b"x", "text/plain") for _ in range(3)]
            await c.publish("events", events)
            await c.flush()
            return events

    events = asyncio.run(publish())
    assert all(sync.wait_for_ack(e).id == e.id for e in events)


# ---------------------------------------------------------------------- adapters

_var: contextvars.ContextVar[str] = contextvars.ContextVar("test_var", default="unset")


def test_sync_to_async_runs_in_the_executor_with_the_context():
    main_thread = threading.get_ident()

    @sync.sync_to_async
    def where(x):
        return x, threading.get_ident(), _var.get()

    @sync.sync_to_async
    def gen(n):
        for i in range(n):
            yield i, threading.get_ident() != main_thread, _var.get()

    async def main():
        _var.set("set")
        value, ident, var = await where(1)
        items = [item async for item in gen(3)]
        return value, ident, var, items

    value, ident, var, items = asyncio.run(main())
    assert (value, var) == (1, "set") and ident != main_thread
    assert items == [(i, True, "set") for i in range(3)]
    with pytest.raises(TypeError):
        sync.sync_to_async(len)
    with pytest.raises(TypeError):
        sync.async_to_sync(lambda: None)


def test_async_to_sync_outside_and_inside_a_running_loop():
    @sync.async_to_sync
    async def double(x):
        await asyncio.sleep(0)
        return 2 * x

    @sync.async_to_sync
    async def loops(n):
        for _ in range(n):
            yield id(asyncio.get_running_loop())

    assert double(2) == 4
    assert len(set(loops(3))) == 1  # one loop for the whole generator

    async def in_jupyter():
        # pyensign deadlocked here: the caller's loop is running in this thread.
        return double(21), list(loops(2))

    value, ids = asyncio.run(in_jupyter())
    assert value == 42 and len(set(ids)) == 1


def test_async_to_sync_propagates_errors_and_closes_generators():
    closed = []

    @sync.async_to_sync
    async def fails():
        raise KeyError("boom")

    @sync.async_to_sync
    async def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.append(True)

    with pytest.raises(KeyError, match="boom"):
        fails()
    gen = endless()
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    assert closed == [True]


# ---------------------------------------------------------------------- subscribe, query


def test_blocking_subscribe(bclient):
    sub = bclient.subscribe("events")
    assert list(sub.ready()) == ["events"]

    async def on_loop():  # nothing buffered yet: next() would block the loop
        next(sub)

    with pytest.raises(RuntimeError, match="event loop"):
        asyncio.run(on_loop())
    bclient.publish("events", make(5))
    got = []
    for event in sub:
        assert isinstance(event, Event) and event.ack() is True
        got.append(json.loads(event.data))
        if len(got) == 5:
            break
    assert got == [{"e": i} for i in range(5)]
    sub.close()
    assert list(sub) == []  # a closed subscription just ends


def test_blocking_subscribe_ends_when_the_client_closes(server):
    c = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    c.create_topic("events")
    sub = c.subscribe("events")
    sub.ready()
    done = []

    def consume():
        done.append([e.nack(1) for e in sub])

    consumer = threading.Thread(target=consume)
    consumer.start()
    c.publish("events", make(3))
    c.flush()
    c.close()
    consumer.join(timeout=30)
    assert not consumer.is_alive() and len(done) == 1


def test_blocking_query(bclient):
    bclient.publish("events", make(12))
    bclient.flush()
    cursor = bclient.query("SELECT * FROM events")
    first = cursor.fetchone()
    assert isinstance(first, Event) and json.loads(first.data) == {"e": 0}
    assert len(cursor.fetchmany(4)) == 4
    assert [json.loads(e.data)["e"] for e in cursor.fetchall()] == list(range(5, 12))
    assert cursor.fetchone() is None and cursor.fetchmany(3) == []
    assert len(list(bclient.query("SELECT * FROM events LIMIT 3"))) == 3
    with pytest.raises(CouldNotAck):
        first.ack()
    with pytest.raises(QueryNoRows):
        bclient.query("SELECT * FROM events OFFSET 100")
    with pytest.raises(InvalidQueryError):
        bclient.query("SELECT FROM")
    with pytest.raises(ValueError):
        bclient.query("  ")
    with pytest.raises(NotImplementedError):
        bclient.explain_query("SELECT * FROM events")
