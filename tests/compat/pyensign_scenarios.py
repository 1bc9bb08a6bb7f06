"""Scenarios run by the *official* pyensign (0.12.1b0, in its own virtualenv) against a
local server in auth mode. Run as ``python pyensign_scenarios.py SCENARIO [ARGS]`` with
``ENSIGN_TEST_ENDPOINT``, ``ENSIGN_TEST_AUTH_URL``, ``ENSIGN_CLIENT_ID`` and
``ENSIGN_CLIENT_SECRET`` set; prints one JSON object with what it saw.

Scenarios:
    roundtrip TOPIC       status, create/exists/id/list, live subscribe while publishing
                          with acks, EnSQL back, info, destroy.
    publish TOPIC N       create TOPIC, publish N events, wait for every ack.
    count TOPIC           EnSQL every event of TOPIC; report their payloads.
"""

import asyncio
import json
import os
import sys

from pyensign.ensign import Ensign
from pyensign.events import Event


def client():
    return Ensign(
        endpoint=os.environ["ENSIGN_TEST_ENDPOINT"],
        insecure=True,
        auth_url=os.environ["ENSIGN_TEST_AUTH_URL"],
    )


async def roundtrip(topic):
    out = {}
    ensign = client()
    status = await ensign.status()
    out["status"] = [status.status, status.version]
    topic_id = await ensign.create_topic(topic)
    out["topic_id"] = topic_id
    out["exists"] = await ensign.topic_exists(topic)
    out["missing_exists"] = await ensign.topic_exists("no-such-topic")
    out["topic_id_lookup"] = await ensign.topic_id(topic)
    out["listed"] = [t.name for t in await ensign.get_topics()]

    received = []
    first = asyncio.Event()

    async def subscriber():
        async for event in ensign.subscribe(topic):
            await event.ack()
            if event.data == b"warmup":
                first.set()
                continue
            received.append({"data": event.data.decode(), "id_len": len(event.id.bytes)})
            if len(received) == 10:
                return

    task = asyncio.create_task(subscriber())
    # The subscription is live only once its stream is open: publish warm-up events
    # until the subscriber has seen one (pyensign offers no "ready" signal).
    for _ in range(100):
        await ensign.publish(topic, Event(b"warmup", mimetype="text/plain"))
        try:
            await asyncio.wait_for(first.wait(), 0.2)
            break
        except asyncio.TimeoutError:
            pass
    out["subscribed"] = first.is_set()

    acks = []

    async def on_ack(ack):
        acks.append(len(ack.id))

    events = [Event(f"event {i}".encode(), mimetype="text/plain") for i in range(10)]
    await ensign.publish(topic, events, on_ack=on_ack)
    for e in events:
        await asyncio.wait_for(e.wait_for_ack(), 20)
    out["acked"] = sum(e.acked() for e in events)
    await asyncio.wait_for(task, 20)
    out["received"] = received

    cursor = await ensign.query(f"SELECT * FROM {topic}")
    rows = await cursor.fetchall()
    out["query"] = [r.data.decode() for r in rows]
    limited = await ensign.query(f"SELECT * FROM {topic} OFFSET 2 LIMIT 3")
    out["query_limited"] = [r.data.decode() for r in await limited.fetchall()]

    info = await ensign.info()
    out["info"] = {"events": info.events, "num_topics": info.num_topics}
    await ensign.close()
    # pyensign's destroy_topic fails on a name in its topic cache (it passes a ULID
    # object where a string is needed): use a client whose cache is empty.
    fresh = client()
    await fresh.destroy_topic(topic)
    # (topic_exists would answer from pyensign's cache: list the server's topics.)
    out["listed_after_destroy"] = [t.name for t in await fresh.get_topics()]
    await fresh.close()
    return out


async def publish(topic, n):
    ensign = client()
    await ensign.ensure_topic_exists(topic)
    events = [Event(f"{i}".encode(), mimetype="text/plain") for i in range(n)]
    for i in range(0, n, 100):
        await ensign.publish(topic, events[i : i + 100])
    for e in events:
        await asyncio.wait_for(e.wait_for_ack(), 60)
    acked = sum(e.acked() for e in events)
    await ensign.close()
    return {"acked": acked}


async def count(topic):
    ensign = client()
    cursor = await ensign.query(f"SELECT * FROM {topic}")
    rows = await cursor.fetchall()
    await ensign.close()
    return {"payloads": sorted(int(r.data) for r in rows)}


def main():
    scenario, args = sys.argv[1], sys.argv[2:]
    if scenario == "roundtrip":
        result = asyncio.run(roundtrip(args[0]))
    elif scenario == "publish":
        result = asyncio.run(publish(args[0], int(args[1])))
    elif scenario == "count":
        result = asyncio.run(count(args[0]))
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
