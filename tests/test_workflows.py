"""W1-W18 of pyensign-api.md: the workflows of the Ensign docs and examples, written as a
pyensign user writes them with only the import changed, against the in-process local
server (with authentication, configured through the environment as in production).

Two deliberate adjustments: where the examples sleep so that a subscriber is up before
the publisher starts (subscriptions are live-only), the tests publish until the
subscriber has seen an event instead; and W7's remote endpoint is skipped without staging
credentials (it needs the internet). W10 needs pandas, which the test extras install.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import threading

import pytest

from pyensign_fast import nack
from pyensign_fast.api.v1beta1.ensign_pb2 import Nack
from pyensign_fast.api.v1beta1.groups_pb2 import ConsumerGroup
from pyensign_fast.ensign import Ensign, authenticate, publisher, subscriber
from pyensign_fast.events import Event, from_object
from pyensign_fast.mimetypes import ApplicationPythonPickle
from pyensign_fast.publisher import Publisher
from pyensign_fast.server import LocalEnsign
from pyensign_fast.subscriber import Subscriber


@pytest.fixture
def ensign_env(tmp_path, monkeypatch):
    """A server with authentication; ``Ensign()`` finds it through the environment, and
    ``key.json`` holds the credentials in pyensign's format. Yields the key's path."""
    with LocalEnsign(auth=True) as srv:
        monkeypatch.setenv("ENSIGN_ENDPOINT", srv.endpoint)
        monkeypatch.setenv("ENSIGN_INSECURE", "true")
        monkeypatch.setenv("ENSIGN_AUTH_URL", srv.auth_url)
        monkeypatch.setenv("ENSIGN_CLIENT_ID", srv.client_id)
        monkeypatch.setenv("ENSIGN_CLIENT_SECRET", srv.client_secret)
        key = tmp_path / "key.json"
        key.write_text(json.dumps({"ClientID": srv.client_id, "ClientSecret": srv.client_secret}))
        yield str(key)


def json_event(data):
    return Event(
        json.dumps(data).encode("utf-8"),
        mimetype="application/json",
        schema_name="Generic",
        schema_version="1.0.0",
    )


async def publish_until(client, topic, done, make_event, limit=500):
    """Publish one event at a time until ``done()`` (the subscriber saw what it needs)."""
    for i in range(limit):
        await client.publish(topic, make_event(i))
        await client.flush()
        for _ in range(20):  # let the subscriber task run
            if done():
                return
            await asyncio.sleep(0)
    raise AssertionError(f"the subscriber did not get its events after {limit} publishes")


async def test_w1_connect_and_health_check(ensign_env, capsys):
    client = Ensign()
    print(await client.status())
    client = Ensign(cred_path=ensign_env)
    print(await client.status())
    await client.close()
    out = capsys.readouterr().out
    assert out.count("status: 1") == 2 and "version:" in out


async def test_w2_publish_one_or_many_json_events(ensign_env):
    client = Ensign()
    await client.ensure_topic_exists("quality-metrics")
    e1, e2, e3 = (json_event({"sensor": i, "value": i * 1.5}) for i in range(3))
    await client.publish("quality-metrics", e1)
    await client.publish("quality-metrics", e1, e2, e3)
    await client.publish("quality-metrics", [e2, e3])
    await client.flush()
    assert all(e.acked() for e in (e1, e2, e3))
    await client.close()


async def test_w3_realtime_subscribe_loop(ensign_env):
    client = Ensign()
    await client.ensure_topic_exists("quality-metrics")
    seen = []

    async def subscribe():
        async for event in client.subscribe("quality-metrics"):
            seen.append(json.loads(event.data))
            await event.ack()
            if len(seen) == 3:
                break

    task = asyncio.create_task(subscribe())
    await publish_until(
        client, "quality-metrics", lambda: len(seen) >= 3, lambda i: json_event({"i": i})
    )
    await task
    assert all("i" in d for d in seen)
    await client.close()


class TradesPublisher:
    """W4: the data engineers' publisher service (bound-method callbacks, env config)."""

    def __init__(self, topic="trades", interval=60):
        self.topic = topic
        self.interval = interval
        self.ensign = Ensign()
        self.acks, self.nacks = [], []

    async def print_ack(self, ack):
        ts = ack.committed.seconds + ack.committed.nanos / 1e9
        self.acks.append((ack.id, ts))

    async def print_nack(self, nack):
        self.nacks.append((nack.code, nack.error))

    async def recv_and_publish(self, rounds):
        await self.ensign.ensure_topic_exists(self.topic)
        for r in range(rounds):
            events = [json_event({"round": r, "price": p}) for p in range(5)]
            await self.ensign.publish(
                self.topic, events, on_ack=self.print_ack, on_nack=self.print_nack
            )
            await asyncio.sleep(0)  # the example waits self.interval here
        await self.ensign.close()

    def run_forever(self, rounds=3):
        asyncio.run(self.recv_and_publish(rounds))


def test_w4_publisher_service(ensign_env):
    service = TradesPublisher()
    service.run_forever()
    assert len(service.acks) == 15 and not service.nacks
    assert all(ts > 1e9 for _, ts in service.acks)


async def test_w5_subscriber_service_nacks_bad_payloads(ensign_env):
    client = Ensign()
    await client.ensure_topic_exists("trades")
    good, bad = [], []

    async def handle(event):
        try:
            data = json.loads(event.data)
        except json.JSONDecodeError:
            bad.append(event)
            await event.nack(nack.UnknownType)
            return
        good.append(data)
        await event.ack()

    async def subscribe():
        async for event in client.subscribe("trades"):
            await handle(event)
            if len(bad) >= 1 and len(good) >= 1:
                break

    def make(i):
        if i % 2:
            return Event(b"not json{", "application/json")
        return json_event({"i": i})

    task = asyncio.create_task(subscribe())
    await publish_until(client, "trades", lambda: task.done(), make)
    await task
    assert bad[0].nacked() and not bad[0].acked()
    await client.close()


async def test_w6_data_science_stream_processing(ensign_env):
    ensign = Ensign(cred_path=ensign_env)
    await ensign.create_topic("documents")
    topic_id = await ensign.topic_id("documents")
    processed, rejected = [], []

    async def process():
        async for event in ensign.subscribe(topic_id):
            if event.mimetype != 50:
                await event.nack(Nack.Code.UNKNOWN_TYPE)
                rejected.append(event)
                continue
            doc = json.loads(event.data)
            processed.append(len(doc["text"].split()))
            await event.ack()
            if len(processed) == 2:
                return

    def make(i):
        if i == 1:
            return Event(b"\x00\x01", "application/octet-stream")
        return json_event({"text": "the quick brown fox " * (i + 1)})

    task = asyncio.create_task(process())
    await publish_until(ensign, "documents", task.done, make)
    await task
    assert processed and all(n % 4 == 0 for n in processed)
    await ensign.close()


async def test_w7_staging_endpoint():
    client = Ensign(
        endpoint="staging.ensign.world:443",
        auth_url="https://auth.ensign.world",
        client_id="my-client-id",
        client_secret="my-client-secret",
    )
    assert client.endpoint == "staging.ensign.world:443" and not client.insecure
    assert "my-client-secret" not in repr(client)
    await client.close(timeout=1)
    if not os.environ.get("ENSIGN_STAGING_CLIENT_ID"):
        pytest.skip("W7 remote part: no staging credentials (ENSIGN_STAGING_CLIENT_ID) here")
    remote = Ensign(
        endpoint="staging.ensign.world:443",
        auth_url="https://auth.ensign.world",
        client_id=os.environ["ENSIGN_STAGING_CLIENT_ID"],
        client_secret=os.environ.get("ENSIGN_STAGING_CLIENT_SECRET", ""),
    )
    print(await remote.status())
    await remote.close()


async def test_w8_topic_admin(ensign_env, capsys):
    ensign = Ensign()
    topic_id = await ensign.create_topic("dedup-me")
    await ensign.publish("dedup-me", [json_event({"same": True}) for _ in range(3)])
    await ensign.flush()
    print(await ensign.info())
    state = await ensign.set_topic_deduplication_policy(topic_id, strategy=3)
    print(state)
    for _ in range(100):  # PENDING until the server has applied the policy
        topics = await ensign.get_topics()
        if topics[0].status.name == "READY":
            break
    assert topics[0].status.name == "READY"
    assert topics[0].deduplication.strategy.name == "DATAGRAM"
    assert "Project" in capsys.readouterr().out
    await ensign.close()


async def test_w9_replay_history_with_ensql(ensign_env):
    client = Ensign()
    await client.create_topic("history")
    await client.publish("history", [json_event({"a": i}) for i in range(25)])
    await client.flush()
    cursor = await client.query("SELECT * FROM history WHERE a > 1 LIMIT 10", {"x": 1})
    first = await cursor.fetchone()
    some = await cursor.fetchmany(4)
    rest = await cursor.fetchall()
    assert first is not None and len(some) == 4 and len(rest) == 5
    count = 0
    async for event in await client.query("SELECT * FROM history", include_duplicates=True):
        count += bool(json.loads(event.data))
    assert count == 25
    await client.close()


async def test_w10_history_into_pandas(ensign_env):
    from pyensign_fast.ml.dataframe import DataFrame

    client = Ensign()
    await client.create_topic("prices")
    await client.publish("prices", [json_event({"price": i, "sym": "X"}) for i in range(6)])
    await client.flush()
    df = await DataFrame.from_events(await client.query("SELECT * FROM prices"))
    assert list(df.columns) == ["price", "sym"] and list(df["price"]) == list(range(6))
    await client.close()


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
