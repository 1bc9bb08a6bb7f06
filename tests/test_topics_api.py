"""Topic and project administration (``TopicsAPI``) against the in-process local server:
return types, caching, names and IDs everywhere, policies, info, status, and the ways
keys without ``topics:read`` resolve names."""

from __future__ import annotations

import json

import pytest

from pyensign_fast import _core
from pyensign_fast._topics_api import EnsignShardingNotSupportedError
from pyensign_fast.enum import DeduplicationStrategy, OffsetPosition, TopicState
from pyensign_fast.events import Event
from pyensign_fast.exceptions import (
    EnsignInvalidArgument,
    EnsignRPCError,
    EnsignTopicNotFoundError,
    TopicNotFoundError,
)
from pyensign_fast.projects import Project
from pyensign_fast.server import LocalEnsign
from pyensign_fast.status import ServerStatus
from pyensign_fast.topics import Deduplication, Topic
from pyensign_fast.utils.ulid import ULID


async def test_status(client):
    status = await client.status()
    assert isinstance(status, ServerStatus)
    assert status.status == 1
    assert status.version
    assert str(status).startswith("status: 1\nversion: ")


async def test_create_topic_returns_and_caches_its_id(client):
    topic_id = await client.create_topic("orders")
    assert str(ULID.from_str(topic_id)) == topic_id
    assert str(client.topics.get("orders")) == topic_id
    with pytest.raises(EnsignRPCError) as err:
        await client.create_topic("orders")
    assert err.value.name == "ALREADY_EXISTS"
    with pytest.raises(EnsignInvalidArgument):
        await client.create_topic("")


async def test_get_topics(client):
    ids = [await client.create_topic(f"t{i}") for i in range(3)]
    topics = await client.get_topics()
    assert [t.name for t in topics] == ["t0", "t1", "t2"]
    assert [str(t.id) for t in topics] == ids
    assert all(isinstance(t, Topic) and t.status == TopicState.READY for t in topics)
    assert all(t.created is not None and t.created.tzinfo is None for t in topics)


async def test_topic_exists_and_topic_id(client):
    assert not await client.topic_exists("nope")
    topic_id = await client.create_topic("present")
    assert await client.topic_exists("present")
    assert await client.topic_id("present") == topic_id
    with pytest.raises(EnsignTopicNotFoundError) as err:
        await client.topic_id("nope")
    assert isinstance(err.value, TopicNotFoundError)


async def test_topic_id_without_the_cache_pages_through_topic_names(server):
    # A second client has an empty cache: names resolve through TopicNames hashes, over
    # more than one page (100 per page).
    async with server.client() as creator:
        ids = {f"topic-{i}": await creator.create_topic(f"topic-{i}") for i in range(120)}
    async with server.client() as c:
        for name in ("topic-0", "topic-57", "topic-119"):
            assert await c.topic_id(name) == ids[name]
        assert len(await c.topic_names()) == 120


async def test_ensure_topic_exists_creates_once(client):
    first = await client.ensure_topic_exists("lazy")
    client.topics.clear()
    assert await client.ensure_topic_exists("lazy") == first
    assert [t.name for t in await client.get_topics()] == ["lazy"]


async def test_retrieve_topic_by_id_or_name(client):
    topic_id = await client.create_topic("kept")
    by_id = await client.retrieve_topic(topic_id)
    by_name = await client.retrieve_topic("kept")
    assert by_id == by_name and by_id.name == "kept" and str(by_id.id) == topic_id
    assert by_id.status == TopicState.READY
    with pytest.raises(EnsignTopicNotFoundError):
        await client.retrieve_topic(str(ULID.from_bytes(b"\x01" * 16)))
    with pytest.raises(TypeError):
        await client.retrieve_topic(42)


async def test_archive_topic(client):
    await client.create_topic("old")
    assert await client.archive_topic("old") == TopicState.READONLY
    with pytest.raises(EnsignRPCError, match="archived"):
        await client.set_topic_deduplication_policy("old", "strict")


@pytest.mark.parametrize("how", ["cached name", "uncached name", "id"])
async def test_destroy_topic_by_name_or_id(server, client, how):
    topic_id = await client.create_topic("doomed")
    if how == "uncached name":
        client.topics.clear()
    await client.destroy_topic(topic_id if how == "id" else "doomed")
    assert not await client.topic_exists("doomed")
    with pytest.raises(EnsignTopicNotFoundError):
        await client.destroy_topic("doomed")
    # The name can be used again.
    assert await client.create_topic("doomed") != topic_id


async def test_topic_names_in_creation_order(client):
    for name in ("b", "a", "c"):
        await client.create_topic(name)
    assert await client.topic_names() == ["b", "a", "c"]


@pytest.mark.parametrize(
    "strategy", [3, "datagram", " DATAGRAM ", DeduplicationStrategy.DATAGRAM], ids=repr
)
async def test_set_topic_deduplication_policy_accepts_int_str_and_enum(client, topic, strategy):
    topic_id = await client.topic_id(topic)
    state = await client.set_topic_deduplication_policy(topic_id, strategy=strategy)
    assert state in (TopicState.PENDING, TopicState.REPAIRING, TopicState.READY)
    dedup = (await client.retrieve_topic(topic_id)).deduplication
    assert isinstance(dedup, Deduplication)
    assert dedup.strategy == DeduplicationStrategy.DATAGRAM
    assert dedup.offset == OffsetPosition.OFFSET_EARLIEST


async def test_dedup_policy_options_and_errors(client, topic):
    state = await client.set_topic_deduplication_policy(
        topic, "key_grouped", offset="latest", keys=["b", "a"]
    )
    assert state in (TopicState.PENDING, TopicState.READY)
    dedup = (await client.retrieve_topic(topic)).deduplication
    assert dedup.strategy == DeduplicationStrategy.KEY_GROUPED
    assert dedup.offset == OffsetPosition.OFFSET_LATEST
    assert dedup.keys == ["a", "b"]
    # Once applied, the same policy reports the topic's (READY) state.
    topic_state = (await client.retrieve_topic(topic)).status
    if topic_state == TopicState.READY:
        again = await client.set_topic_deduplication_policy(
            topic, DeduplicationStrategy.KEY_GROUPED, OffsetPosition.OFFSET_LATEST, keys=["a", "b"]
        )
        assert again == TopicState.READY
    with pytest.raises(ValueError, match="unknown deduplication strategy"):
        await client.set_topic_deduplication_policy(topic, "sideways")
    with pytest.raises(ValueError, match="unknown offset position"):
        await client.set_topic_deduplication_policy(topic, 2, offset=99)
    with pytest.raises(TypeError, match="keys must be a list of strings"):
        await client.set_topic_deduplication_policy(topic, 4, keys="a")
    with pytest.raises(EnsignInvalidArgument):
        await client.set_topic_deduplication_policy(topic, "unique_key")  # needs keys
    with pytest.raises(EnsignTopicNotFoundError):
        await client.set_topic_deduplication_policy(str(ULID.from_bytes(b"\x02" * 16)), 2)


async def test_set_topic_sharding_strategy_reports_a_clear_error(client, topic):
    with pytest.raises(EnsignShardingNotSupportedError) as err:
        await client.set_topic_sharding_strategy(topic, "random")
    assert isinstance(err.value, EnsignRPCError) and isinstance(err.value, NotImplementedError)
    assert err.value.name == "UNIMPLEMENTED" and "sharding" in err.value.details
    with pytest.raises(EnsignShardingNotSupportedError):
        await client.set_topic_sharding_strategy(topic)  # the default, no_sharding
    with pytest.raises(ValueError, match="unknown sharding strategy"):
        await client.set_topic_sharding_strategy(topic, "diagonal")
    with pytest.raises(EnsignInvalidArgument):
        await client.set_topic_sharding_strategy(topic, "unknown")


async def test_info(client, topic):
    other = await client.create_topic("other")
    events = [Event(json.dumps({"i": i}).encode(), "application/json") for i in range(5)]
    await client.publish(topic, events)
    await client.flush()
    project = await client.info()
    assert isinstance(project, Project)
    assert project.num_topics == 2 and project.events == 5
    assert project.data_size_bytes > 0
    only = await client.info([other])
    assert only.num_topics == 1 and str(only.topics[0].id) == other
    assert only.events == 0
    assert (await client.info((other,))).num_topics == 1
    with pytest.raises(TypeError, match="expected list of topic IDs"):
        await client.info(other)
    with pytest.raises(ValueError, match="not parseable as a topic ID: events"):
        await client.info(["events"])


async def test_disabled_topic_cache_still_resolves_names(server):
    # K15: pyensign's read-only cache never resolved names.
    async with server.client(disable_topic_cache=True) as c:
        topic_id = await c.create_topic("plain")
        assert len(c.topics) == 0
        assert await c.topic_id("plain") == topic_id
        assert await c.ensure_topic_exists("plain") == topic_id
        events = [Event(b"x", "text/plain") for _ in range(3)]
        await c.publish("plain", events)
        await c.publish("plain", Event(b"y", "text/plain"))
        await c.flush()
        assert all(e.acked() for e in events)
        await c.destroy_topic("plain")
        assert not await c.topic_exists("plain")


@pytest.fixture
def publisher_key_server(tmp_path):
    """A server with auth whose only API key holds just the ``publisher`` permission;
    it has the topics ``alpha`` and ``beta``."""
    with LocalEnsign(data_dir=tmp_path, auth=True) as srv:
        import asyncio

        async def make() -> None:
            async with srv.client() as c:
                await c.create_topic("alpha")
                await c.create_topic("beta")

        asyncio.run(make())
    path = tmp_path / "auth.json"
    stored = json.loads(path.read_text())
    stored["key"]["permissions"] = ["publisher"]
    path.write_text(json.dumps(stored))
    with LocalEnsign(data_dir=tmp_path, auth=True) as srv:
        yield srv


async def test_publisher_only_key_resolves_names(publisher_key_server):
    async with publisher_key_server.client() as c:
        with pytest.raises(EnsignRPCError) as err:
            await c.get_topics()
        assert err.value.name == "PERMISSION_DENIED"
        alpha = await c.topic_id("alpha")
        assert await c.ensure_topic_exists("beta") != alpha
        assert await c.topic_names() == ["alpha", "beta"]
        event = Event(b"x", "text/plain")
        await c.publish("alpha", event)
        await event.wait_for_ack()


async def test_topic_id_falls_back_to_the_publish_stream(publisher_key_server, monkeypatch):
    # Servers that refuse TopicNames too: ListTopics is refused, the stream map answers.
    def refuse(client, name, waiter):
        raise EnsignRPCError("PERMISSION_DENIED", 7, "not authorized to perform this action")

    monkeypatch.setattr(_core, "find_topic_id", refuse)
    async with publisher_key_server.client() as c:
        beta = await c.topic_id("beta")
        assert str(ULID.from_str(beta)) == beta
        with pytest.raises(EnsignTopicNotFoundError):
            await c.topic_id("gamma")
