"""W1-W10 of pyensign-api.md: the workflows of the Ensign docs and examples, written as a
pyensign user writes them with only the import changed, against the in-process local
server (with authentication, configured through the environment as in production: the
``ensign_env`` fixture of ``conftest.py``). W11-W18 are in ``test_workflows_w11_w18.py``.

Two deliberate adjustments: where the examples sleep so that a subscriber is up before
the publisher starts (subscriptions are live-only), the tests publish until the
subscriber has seen an event instead; and W7's remote endpoint is skipped without staging
credentials (it needs the internet). W10 needs pandas, which the test extras install.
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from _workflows import json_event, publish_until
from pyensign_fast import nack
from pyensign_fast.api.v1beta1.ensign_pb2 import Nack
from pyensign_fast.ensign import Ensign
from pyensign_fast.events import Event


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
