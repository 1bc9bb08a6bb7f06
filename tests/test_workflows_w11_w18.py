"""W11-W18 of pyensign-api.md (decorators, in-process pub/sub, ingest while subscribed,
pickled models, consumer groups, filters, Publisher/Subscriber classes), written as a
pyensign user writes them with only the import changed, against the in-process local
server with authentication (``ensign_env`` in ``conftest.py``). W1-W10 and the two
adjustments to the examples are described in ``test_workflows.py``.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import threading

from _workflows import json_event, publish_until
from pyensign_fast.api.v1beta1.groups_pb2 import ConsumerGroup
from pyensign_fast.ensign import Ensign, authenticate, publisher, subscriber
from pyensign_fast.events import Event, from_object
from pyensign_fast.mimetypes import ApplicationPythonPickle
from pyensign_fast.publisher import Publisher
from pyensign_fast.subscriber import Subscriber


def test_w11_decorator_publisher(ensign_env):
    @publisher("counter")
    async def count(i):
        return {"count": i}

    @authenticate()
    async def main():
        await Ensign().ensure_topic_exists("counter")
        for i in range(3):
            await count(i)

    asyncio.run(main())

    async def check():
        async with Ensign() as c:
            return (await c.info([await c.topic_id("counter")])).events

    assert asyncio.run(check()) == 3


def test_w12_decorator_pipeline(ensign_env):
    texts = []

    @publisher("text-updates")
    async def describe(event):
        position = json.loads(event.data)
        text = f"flight {position['id']} at {position['alt']} ft"
        texts.append(text)
        return text

    @authenticate(cred_path=ensign_env)
    @subscriber("flight-positions")
    async def process(updates):
        async for event in updates:
            await describe(event)
            await event.ack()
            if len(texts) == 3:
                return

    async def feed():
        async with Ensign() as c:
            await c.create_topic("flight-positions")
            await c.create_topic("text-updates")
            task = asyncio.create_task(process())
            make = lambda i: json_event({"id": i, "alt": 30000 + i})  # noqa: E731
            await publish_until(c, "flight-positions", task.done, make)
            await task

    asyncio.run(feed())
    assert len(texts) == 3 and texts[0].startswith("flight ")


async def test_w13_in_process_pub_and_sub(ensign_env):
    client = Ensign()
    if not await client.topic_exists("minimal"):
        await client.create_topic("minimal")
    got = []

    async def subscribe():
        async for event in client.subscribe("minimal"):
            got.append(event.data)
            await event.ack()
            if len(got) == 5:
                return

    async def publish():
        await publish_until(client, "minimal", lambda: len(got) >= 5, lambda i: json_event([i]))

    await asyncio.gather(publish(), subscribe())
    assert len(got) == 5
    await client.close()


async def test_w14_high_rate_ingest_while_subscribed(ensign_env):
    client = Ensign()
    await client.create_topic("trades")
    acks, nacks, received = [], [], []

    async def consume():
        async for event in client.subscribe("trades"):
            received.append(event)
            await event.ack()
            if len(received) >= 2000:
                return

    task = asyncio.create_task(consume())
    await publish_until(client, "trades", lambda: len(received) > 0, lambda i: json_event({"p": i}))
    for i in range(2000):  # one publish per websocket message
        await client.publish(
            "trades", json_event({"trade": i}), on_ack=acks.append, on_nack=nacks.append
        )
    await client.flush(timeout=30)
    await asyncio.wait_for(task, 30)
    assert len(acks) == 2000 and not nacks
    await client.close()


async def test_w15_model_registry_with_pickle(ensign_env):
    client = Ensign()
    await client.create_topic("model")
    model = {"weights": [0.1, 0.2], "bias": 3}
    models = []

    async def load():
        async for event in client.subscribe("model"):
            models.append(event.decode())
            await event.ack()
            return

    task = asyncio.create_task(load())
    make = lambda i: from_object(model, mimetype=ApplicationPythonPickle)  # noqa: E731
    await publish_until(client, "model", task.done, make)
    assert models == [model]
    explicit = Event(pickle.dumps(model), "application/python-pickle")
    assert explicit.decode() == model
    await client.close()


async def test_w16_consumer_group(ensign_env):
    client = Ensign()
    await client.create_topic("jobs")
    got = []

    async def worker():
        async for event in client.subscribe("jobs", consumer_group=ConsumerGroup(name="workers")):
            got.append(event)
            await event.ack()
            return

    task = asyncio.create_task(worker())
    await publish_until(client, "jobs", task.done, lambda i: json_event({"job": i}))
    assert got[0].acked()
    await client.close()


async def test_w17_subscribe_with_a_filter(ensign_env):
    client = Ensign()
    await client.create_topic("sensors")
    got = []

    async def filtered():
        query = "SELECT * FROM sensors WHERE x = $p"
        async for event in client.subscribe("sensors", query=query, params={"p": 1}):
            got.append(event)
            await event.ack()
            return

    task = asyncio.create_task(filtered())
    await publish_until(client, "sensors", task.done, lambda i: json_event({"x": 1}))
    assert got
    await client.close()


class Readings(Publisher):
    """W18: a publisher class."""

    def source_events(self):
        for i in range(10):
            yield json_event({"reading": i})

    def run_all(self):
        self.run(self.source_events())


def test_w18_publisher_class(ensign_env):
    async def setup():
        async with Ensign() as c:
            await c.create_topic("readings")

    asyncio.run(setup())
    Readings("readings").run_all()

    async def count():
        async with Ensign() as c:
            return (await c.info()).events

    assert asyncio.run(count()) == 10


def test_w18_subscriber_class(ensign_env):
    seen = []

    class Printer(Subscriber):
        async def on_event(self, event):
            seen.append(json.loads(event.data))
            await event.ack()
            if len(seen) == 3:
                await self.close()  # ends the subscription, so run() returns

    async def create():
        async with Ensign() as c:
            await c.create_topic("readings")

    asyncio.run(create())
    stop = threading.Event()

    def feed():  # another program publishing while the subscriber runs
        async def go():
            async with Ensign() as c:
                for i in range(500):
                    if stop.is_set():
                        return
                    await c.publish("readings", json_event({"r": i}))
                    await c.flush()

        asyncio.run(go())

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        # run() passes its arguments to subscribe() (pyensign gave them to asyncio.run, K5).
        Printer("readings").run(query="SELECT * FROM readings")
    finally:
        stop.set()
        feeder.join(timeout=60)
    # Events already received when the client closed are still handed over.
    assert len(seen) >= 3 and all("r" in d for d in seen)
