"""K1-K15 of pyensign-api.md: each test fails on pyensign's behaviour and passes here.
Against the in-process local server; no sleeps, no fixed ports, bounded counts."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

from pyensign_fast import _core
from pyensign_fast.enum import TopicState
from pyensign_fast.events import Event
from pyensign_fast.exceptions import AuthenticationError, EnsignRPCError, NackError, PyEnsignError
from pyensign_fast.server import LocalEnsign


def make(n, prefix="e"):
    return [Event(json.dumps({prefix: i}).encode(), "application/json") for i in range(n)]


async def test_k1_policies_take_enums_ints_and_strings_and_send_a_dedup_policy(
    client, topic, monkeypatch
):
    # pyensign put Enum members into the protobuf (TypeError), even for the default offset.
    topic_id = await client.topic_id(topic)
    assert await client.set_topic_deduplication_policy(topic_id, strategy=3) in (
        TopicState.PENDING,
        TopicState.READY,
    )
    sent = []
    real = _core.set_topic_policy

    def spy(core, topic_id, dedup, sharding, waiter):
        sent.append((dedup, sharding))
        return real(core, topic_id, dedup, sharding, waiter)

    monkeypatch.setattr(_core, "set_topic_policy", spy)
    with pytest.raises(EnsignRPCError) as err:
        await client.set_topic_sharding_strategy(topic_id, "consistent_key_hash")
    # A deduplication policy is always sent, so the server answers what it means
    # (UNIMPLEMENTED), not INTERNAL from a nil policy.
    assert sent[-1][0] is not None and sent[-1][1] == 2
    assert err.value.name == "UNIMPLEMENTED"


async def test_k2_destroy_topic_by_id_or_cached_name(client):
    by_id = await client.create_topic("by-id")
    await client.create_topic("by-name")  # cached by create_topic
    await client.destroy_topic(by_id)
    await client.destroy_topic("by-name")
    assert await client.topic_names() == []


async def test_k3_more_than_ten_concurrent_streams(client):
    # pyensign ran at most 10 stream loops: the 11th topic's events never left.
    names = [f"topic-{i}" for i in range(14)]
    for name in names:
        await client.create_topic(name)
    batches = {name: make(20, name) for name in names}
    await asyncio.gather(*(client.publish(name, events) for name, events in batches.items()))
    await client.flush(timeout=30)
    assert all(e.acked() for events in batches.values() for e in events)


async def test_k3_more_than_ten_concurrent_subscriptions(client):
    names = [f"sub-{i}" for i in range(12)]
    for name in names:
        await client.create_topic(name)
    subs = {name: client.subscribe(name) for name in names}
    for sub in subs.values():
        await sub.ready()  # live: events published from now on are delivered

    async def consume(name):
        got = []
        async for event in subs[name]:
            got.append(json.loads(event.data))
            await event.ack()
            if len(got) == 3:
                return got

    tasks = [asyncio.create_task(consume(name)) for name in names]
    for name in names:
        await client.publish(name, make(3, name))
    received = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert received == [[{name: i} for i in range(3)] for name in names]


def test_k4_nested_authenticated_async_generator_runs_once(server):
    from pyensign_fast.ensign import authenticate

    kw = {"endpoint": server.endpoint, "insecure": True, "auth_url": ""}
    runs = []

    @authenticate(**kw)
    async def inner():
        runs.append(1)
        yield "x"

    @authenticate(**kw)
    async def outer():
        return [x async for x in inner()]

    assert asyncio.run(outer()) == ["x"] and runs == [1]


def test_k5_subscriber_run_passes_its_kwargs_to_subscribe():
    from pyensign_fast.subscriber import Subscriber

    seen = {}

    class Recorder(Subscriber):
        def subscribe(self, *topics, **kwargs):
            seen.update(kwargs, topics=topics)

            async def nothing():
                return
                yield

            return nothing()

    Recorder("t", endpoint="localhost:1", auth_url="").run(query="SELECT * FROM t", params=None)
    assert seen == {"topics": ("t",), "query": "SELECT * FROM t", "params": None}


async def test_k6_unreachable_auth_server_raises_authentication_error():
    from pyensign_fast.ensign import Ensign

    for url in ("http://nonexistent.invalid", f"http://127.0.0.1:{_closed_port()}"):
        c = Ensign(endpoint="127.0.0.1:1", auth_url=url, client_id="id", client_secret="s")
        with pytest.raises(AuthenticationError):
            await c.create_topic("x")
        await c.close(timeout=1)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_k7_events_in_flight_when_the_stream_drops_are_resent(tmp_path):
    # pyensign dropped them: flush() succeeded, wait_for_ack() hung forever.
    srv = LocalEnsign(data_dir=tmp_path).start()
    port = int(srv.endpoint.rsplit(":", 1)[1])
    client = srv.client()
    try:
        await client.create_topic("t")
        await client.publish("t", make(1))
        await client.flush()
        srv.stop()
        events = make(50)
        await client.publish("t", events)
        with pytest.raises(asyncio.TimeoutError):
            await client.flush(timeout=0.3)  # not reported as done while unacked
        srv = LocalEnsign(data_dir=tmp_path, port=port).start()
        await client.flush(timeout=30)
        assert all(e.acked() for e in events)
        assert (await client.info()).events == 51
    finally:
        await client.close(timeout=5)
        srv.stop()


async def test_k7_events_are_nacked_when_the_server_stays_away(server):
    client = server.client(reconnect_tick=0.05, reconnect_timeout=0.5)
    await client.create_topic("t")
    await client.publish("t", make(1))
    await client.flush()
    server.stop()
    events = make(5)
    await client.publish("t", events)
    waits = asyncio.gather(*(e.wait_for_ack() for e in events), return_exceptions=True)
    outcomes = await asyncio.wait_for(waits, 30)  # none hangs (pyensign's did)
    assert all(isinstance(o, NackError) and o.code == 101 for o in outcomes)  # TIMEOUT
    assert all(e.nacked() for e in events)
    await client.close(timeout=1)


async def test_k8_reconnect_ticks_of_a_second_or_more_are_honoured():
    # pyensign slept tick.microseconds: 0 for a tick of exactly 1 s, so it spun.
    from pyensign_fast.ensign import Ensign

    attempts = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            attempts.append(time.monotonic())
            conn.close()  # not a gRPC server: every attempt fails

    threading.Thread(target=accept, daemon=True).start()
    endpoint = f"127.0.0.1:{listener.getsockname()[1]}"
    client = Ensign(endpoint=endpoint, auth_url="", reconnect_tick=1.0, reconnect_timeout=2.2)
    start = time.monotonic()
    try:
        with pytest.raises(PyEnsignError):  # gave up after the reconnect timeout
            await client.publish("01HZZZZZZZZZZZZZZZZZZZZZZZ", make(1))
        elapsed = time.monotonic() - start
    finally:
        await client.close(timeout=1)
        listener.close()
    assert elapsed >= 2.0
    assert 1 <= len(attempts) <= 5, attempts


def test_k9_received_events_with_empty_data_are_kept():
    from pyensign_fast.api.v1beta1 import event_pb2

    wrapper = event_pb2.EventWrapper(
        id=b"\x01" * 10, event=event_pb2.Event(mimetype=1).SerializeToString()
    )
    event = Event.from_wrapper(wrapper)
    assert event.data == b"" and event.id is not None


def test_k10_publisher_run_flushes_and_closes(server):
    from pyensign_fast.publisher import Publisher

    events = make(200)
    acked = []
    pub = Publisher("t", endpoint=server.endpoint, insecure=True, auth_url="")
    asyncio.run(pub.create_topic("t"))
    pub.run(iter(events), on_ack=acked.append)
    assert pub._closed
    assert all(e.acked() for e in events) and len(acked) == 200


async def test_k11_publish_creates_no_per_event_future_or_task(client, topic, monkeypatch):
    loop = asyncio.get_running_loop()
    created = []
    real = loop.create_future

    def counting():
        created.append(1)
        return real()

    monkeypatch.setattr(loop, "create_future", counting)
    tasks_before = len(asyncio.all_tasks())
    await client.publish(topic, make(5000))
    assert len(created) <= 2  # topic resolution only; none per event
    assert len(asyncio.all_tasks()) == tasks_before
    monkeypatch.undo()
    await client.flush(timeout=30)


async def test_k12_insecure_without_authentication(server, monkeypatch):
    from pyensign_fast.ensign import Ensign

    monkeypatch.delenv("ENSIGN_CLIENT_ID", raising=False)
    monkeypatch.delenv("ENSIGN_CLIENT_SECRET", raising=False)
    for auth_url in ("", None):
        async with Ensign(endpoint=server.endpoint, insecure=True, auth_url=auth_url) as c:
            await c.ensure_topic_exists("t")
            event = make(1)[0]
            await c.publish("t", event)
            await event.wait_for_ack()
    monkeypatch.setenv("ENSIGN_NO_AUTHENTICATION", "true")
    async with Ensign(endpoint=server.endpoint, insecure=True) as c:
        assert await c.topic_exists("t")


def test_k13_no_local_timezone_dependence():
    code = (
        "import datetime\n"
        "from pyensign_fast.events import Event\n"
        "from pyensign_fast.timestamps import Timestamp\n"
        "from pyensign_fast.topics import Topic\n"
        "from pyensign_fast.utils import pbtime\n"
        "e = Event(b'x', 'text/plain'); e.created = Timestamp(1700000000, 5000)\n"
        "t = Topic.from_dict({'id': b'\\x01' * 16, 'created': (1700000000, 0)})\n"
        "print(pbtime.to_datetime(Timestamp(1700000000, 0)), t.created,"
        " [l for l in str(e).splitlines() if 'created' in l])\n"
    )
    outputs = set()
    for tz in ("UTC", "America/Los_Angeles", "Asia/Kolkata"):
        env = {"TZ": tz, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
        )
        assert out.returncode == 0, out.stderr
        outputs.add(out.stdout)
    assert len(outputs) == 1
    assert "2023-11-14 22:13:20" in outputs.pop()


def test_k14_install_requirements_are_ranges():
    # pyensign pinned grpcio==1.59.0, protobuf==4.24.4, PyJWT==2.8.0, python-ulid==2.2.0.
    requirements = importlib.metadata.requires("pyensign-fast") or []
    specifiers = [r.split(";")[0] for r in requirements]  # drop the environment markers
    assert any(s.startswith("protobuf") for s in specifiers)
    assert not [s for s in specifiers if "==" in s]


async def test_k15_disabled_topic_cache_resolves_names_once(server):
    async with server.client(disable_topic_cache=True) as c:
        await c.create_topic("plain")
        for _ in range(3):
            await c.publish("plain", make(2))
        await c.flush()
        assert len(c.topics) == 0  # the cache stays disabled...
        assert await c.topic_id("plain")  # ...and names still resolve
        assert list(c._core.stream_topics()) == ["plain"]  # one publish stream
