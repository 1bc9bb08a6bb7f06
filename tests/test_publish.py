"""Publishing through the Rust core: acks, callbacks per call, argument errors, flush,
close and wait_for_ack, against the in-process local server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pyensign_fast.ack import Ack
from pyensign_fast.events import Event, EventState
from pyensign_fast.exceptions import (
    EnsignClientClosingError,
    NackError,
    UnknownTopicError,
)
from pyensign_fast.messages import Ack as AckMessage
from pyensign_fast.messages import Nack as NackMessage

pytestmark = pytest.mark.all_loops


def make(n: int, prefix: str = "e") -> list:
    return [Event(f'{{"{prefix}": {i}}}'.encode(), "application/json") for i in range(n)]


async def test_publish_one_event_is_acked(client, topic):
    event = make(1)[0]
    await client.publish(topic, event)
    ack = await event.wait_for_ack()
    assert isinstance(ack, Ack)
    assert event.acked() and not event.nacked() and event.published()
    assert isinstance(event.id, bytes) and len(event.id) == 16
    assert ack.id == event.id
    assert event.committed.seconds > 0
    assert event.nack_error() is None


@pytest.mark.parametrize("style", ["varargs", "list", "tuple"])
async def test_publish_accepts_varargs_lists_and_tuples(client, topic, style):
    events = make(5)
    if style == "varargs":
        await client.publish(topic, *events)
    elif style == "list":
        await client.publish(topic, events)
    else:
        await client.publish(topic, tuple(events))
    await client.flush()
    assert all(e.acked() for e in events)
    assert len({e.id for e in events}) == 5


async def test_publish_argument_errors(client, topic):
    with pytest.raises(ValueError, match="topic is required"):
        await client.publish("", make(1))
    with pytest.raises(TypeError, match="expected type 'str' for topic, got 'int'"):
        await client.publish(42, make(1))
    with pytest.raises(ValueError, match="no events provided"):
        await client.publish(topic)
    with pytest.raises(ValueError, match="no events provided"):
        await client.publish(topic, [])
    with pytest.raises(UnknownTopicError, match="unknown topic: nope"):
        await client.publish("nope", make(1))
    with pytest.raises(UnknownTopicError):
        await client.publish("01HZZZZZZZZZZZZZZZZZZZZZZZ", make(1))


async def test_publish_rejects_bad_events_without_sending_any(client, topic):
    good = make(2)
    bad = make(1)[0]
    bad.data = "not bytes"
    with pytest.raises(TypeError, match="event data must be bytes"):
        await client.publish(topic, [good[0], bad, good[1]])
    assert not good[0].published()
    await client.publish(topic, good)
    await client.flush()
    assert all(e.acked() for e in good)


async def test_callbacks_apply_to_their_own_call(client, topic):
    first, second = [], []
    a, b = make(3, "a"), make(4, "b")
    await client.publish(topic, a, on_ack=first.append)
    await client.publish(topic, b, on_ack=second.append)
    await client.flush()
    # Let the loop run the callbacks queued by the last drain.
    await asyncio.sleep(0)
    assert sorted(x.id for x in first) == sorted(e.id for e in a)
    assert sorted(x.id for x in second) == sorted(e.id for e in b)
    assert all(isinstance(x, AckMessage) and x.committed.seconds > 0 for x in first)


async def test_async_callbacks_and_failing_callbacks(client, topic, caplog):
    seen = []

    async def on_ack(ack):
        seen.append(ack.id)

    def boom(ack):
        raise RuntimeError("callback bug")

    events = make(3)
    with caplog.at_level(logging.WARNING, logger="pyensign_fast"):
        await client.publish(topic, events[:2], on_ack=on_ack)
        await client.publish(topic, events[2:], on_ack=boom)
        await client.flush()
        for _ in range(5):
            await asyncio.sleep(0)
    assert sorted(seen) == sorted(e.id for e in events[:2])
    assert "callback" in caplog.text and "callback bug" in caplog.text
    # The stream survived the exception.
    more = make(2)
    await client.publish(topic, more)
    await client.flush()
    assert all(e.acked() for e in more)


async def test_wait_for_ack_on_many_events(client, topic):
    events = make(200)
    await client.publish(topic, events)
    acks = await asyncio.gather(*(e.wait_for_ack() for e in events))
    assert [a.id for a in acks] == [e.id for e in events]


async def test_flush_rejects_bad_timeouts(client):
    with pytest.raises(ValueError, match="timeout must be greater than 0"):
        await client.flush(timeout=0)
    await client.flush()  # nothing pending


async def test_flush_times_out_and_close_fails_pending_events(server, topic, client):
    await client.publish(topic, make(1))
    await client.flush()
    server.stop()
    events = make(10)
    nacks = []
    await client.publish(topic, events, on_nack=nacks.append)
    with pytest.raises(asyncio.TimeoutError):
        await client.flush(timeout=0.3)
    assert not any(e.acked() or e.nacked() for e in events)
    await client.close(timeout=0.3)
    for _ in range(5):
        await asyncio.sleep(0)
    assert all(e.nacked() for e in events)
    assert all(
        isinstance(e.nack_error(), NackMessage) and e.nack_error().code == 100 for e in events
    )
    assert sorted(n.id for n in nacks) == sorted(e.nack_error().id for e in events)
    with pytest.raises(NackError):
        await events[0].wait_for_ack()
    with pytest.raises(EnsignClientClosingError):
        await client.publish(topic, make(1))


async def test_async_with_closes_after_every_ack(server):
    async with server.client() as c:
        await c.create_topic("ctx")
        events = make(1000)
        await c.publish("ctx", events)
    assert all(e.acked() for e in events)


async def test_ensure_exists_creates_the_topic(client):
    events = make(3)
    await client.publish("fresh-topic", events, ensure_exists=True)
    await client.flush()
    assert all(e.acked() for e in events)


async def test_a_topic_created_after_the_stream_opened(client, topic):
    await client.publish(topic, make(1))
    await client.flush()
    await client.create_topic("newer")
    events = make(5)
    await client.publish("newer", events)
    await client.flush()
    assert all(e.acked() for e in events)
    by_id = make(2)
    await client.publish(str(client.topics.get("newer")), by_id)
    await client.flush()
    assert all(e.acked() for e in by_id)


async def test_small_window_makes_publish_wait_not_grow(server):
    c = server.client(max_inflight_events=16)
    try:
        await c.create_topic("w")
        events = make(500)
        await c.publish("w", events)
        await c.flush()
        assert all(e.acked() for e in events)
    finally:
        await c.close()


def test_events_state_before_publishing():
    e = make(1)[0]
    assert e._state is None or e.published() is False
    assert str(EventState.INITIALIZED) == "EventState.INITIALIZED"


@pytest.mark.parametrize("bad", [{"data": b"x"}, b"raw bytes", None], ids=["dict", "bytes", "none"])
async def test_non_events_are_refused_before_anything_is_sent(client, topic, bad):
    good = make(2)
    with pytest.raises(TypeError, match="events must be Event objects; item 1 is a"):
        await client.publish(topic, [good[0], bad, good[1]])
    assert not good[0].published() and not good[1].published()
