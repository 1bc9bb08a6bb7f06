"""EnSQL through the Rust core against the in-process local server: the cursor API
(fetchone, fetchmany, fetchall, async for, close), QueryNoRows, InvalidQueryError with
the server's message, OFFSET/LIMIT, include_duplicates, parameter checks, explain, and
the blocking calls the sync client uses. Every wait is bounded."""

from __future__ import annotations

import asyncio
from typing import Any, List

import pytest

from pyensign_fast import _bridge, _core
from pyensign_fast import nack as nack_codes
from pyensign_fast.cursor import Cursor
from pyensign_fast.events import Event, EventState
from pyensign_fast.exceptions import (
    CouldNotAck,
    CouldNotNack,
    EnSQLError,
    InvalidQueryError,
    QueryNoRows,
)
from pyensign_fast.utils.rlid import RLID
from pyensign_fast.utils.ulid import ULID

WAIT = 30.0


async def seed(client: Any, topic: str, n: int, prefix: str = "e") -> List[Event]:
    events = [Event(f"{prefix}{i}".encode(), "text/plain", "Row", "1.0.0") for i in range(n)]
    await client.publish(topic, events)
    await client.flush(timeout=WAIT)
    assert all(e.acked() for e in events)
    return events


def data(events: List[Event]) -> List[bytes]:
    return [e.data for e in events]


async def test_fetchone_fetchmany_fetchall(client, topic):
    await seed(client, topic, 600)
    cursor = await asyncio.wait_for(client.query(f"SELECT * FROM {topic}"), WAIT)
    assert isinstance(cursor, Cursor)
    first = await cursor.fetchone()
    assert first is not None and first.data == b"e0"
    some = await cursor.fetchmany(300)
    assert data(some) == [f"e{i}".encode() for i in range(1, 301)]
    rest = await cursor.fetchall()
    assert data(rest) == [f"e{i}".encode() for i in range(301, 600)]
    assert await cursor.fetchone() is None
    assert await cursor.fetchmany(5) == []
    assert await cursor.fetchall() == []


async def test_async_for_and_result_fields(client, topic):
    await seed(client, topic, 300)
    topic_id = await client.topic_id(topic)
    got = [e async for e in await client.query(f"SELECT * FROM {topic};")]
    assert data(got) == [f"e{i}".encode() for i in range(300)]
    for event in got:
        assert event.state is EventState.INITIALIZED
        assert isinstance(event.id, RLID) and len(str(event.id)) == 16
        assert event.topic_id == ULID.from_str(topic_id)
        assert str(event.type) == "Row v1.0.0" and event.mimetype == 1
    assert [e.id for e in got] == sorted(e.id for e in got)
    with pytest.raises(CouldNotAck):
        await got[0].ack()
    with pytest.raises(CouldNotNack):
        await got[0].nack(nack_codes.UnknownType)


async def test_close_stops_the_cursor(client, topic):
    await seed(client, topic, 2000)
    cursor = await client.query(f"SELECT * FROM {topic}")
    assert len(await cursor.fetchmany(10)) == 10
    cursor.close()
    cursor.close()
    assert await cursor.fetchone() is None
    assert await cursor.fetchall() == []
    # The client is fine afterwards.
    assert len(await (await client.query(f"SELECT * FROM {topic} LIMIT 3")).fetchall()) == 3


async def test_no_rows(client, topic):
    with pytest.raises(QueryNoRows, match="no results returned by query"):
        await client.query(f"SELECT * FROM {topic}")
    await seed(client, topic, 3)
    with pytest.raises(QueryNoRows):
        await client.query(f"SELECT * FROM {topic} OFFSET 3")


@pytest.mark.parametrize(
    "sql, message",
    [
        ("SELECT FROM events", "SELECT requires field projection or *"),
        ("SELECT * FROM missing", "unknown topic in query"),
        ("UPDATE events", 'syntax error at position 0 near "UPDATE": invalid query type'),
    ],
)
async def test_invalid_queries_carry_the_servers_message(client, topic, sql, message):
    with pytest.raises(InvalidQueryError) as info:
        await client.query(sql)
    assert str(info.value) == message
    assert isinstance(info.value, EnSQLError)


async def test_offset_and_limit(client, topic):
    await seed(client, topic, 20)
    cursor = await client.query(f"SELECT * FROM {topic} OFFSET 5 LIMIT 4")
    assert data(await cursor.fetchall()) == [b"e5", b"e6", b"e7", b"e8"]
    cursor = await client.query(f"select * from {topic} limit 2 offset 18")
    assert data(await cursor.fetchall()) == [b"e18", b"e19"]


async def test_include_duplicates(client, topic):
    await seed(client, topic, 3, "same")
    await seed(client, topic, 3, "same")
    topic_id = await client.topic_id(topic)
    await client.set_topic_deduplication_policy(topic_id, "strict")

    async def count(include: bool) -> int:
        cursor = await client.query(f"SELECT * FROM {topic}", include_duplicates=include)
        return len(await cursor.fetchall())

    assert await asyncio.wait_for(count(True), WAIT) == 6
    assert await asyncio.wait_for(count(False), WAIT) == 3


async def test_parameter_and_argument_errors(client, topic):
    await seed(client, topic, 1)
    with pytest.raises(ValueError, match="query must not be empty"):
        await client.query("   ")
    with pytest.raises(TypeError, match="query must be a string"):
        await client.query(b"SELECT * FROM events")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="unsupported parameter type: list"):
        await client.query(f"SELECT * FROM {topic}", {"x": [1]})
    with pytest.raises(TypeError, match="params must be a dict"):
        await client.query(f"SELECT * FROM {topic}", [("x", 1)])  # type: ignore[arg-type]
    # Every supported type is accepted (the server ignores parameters).
    params = {"b": True, "i": -3, "d": 1.5, "y": b"\x00", "s": "x"}
    cursor = await client.query(f"SELECT * FROM {topic}", params)
    assert data(await cursor.fetchall()) == [b"e0"]
    # WHERE filters (the payload b"e0" has no field a): no rows, never unfiltered ones.
    with pytest.raises(QueryNoRows):
        await client.query(f"SELECT * FROM {topic} WHERE a = 1")


async def test_reserved_word_prefixed_topic_names(client):
    # The real server's tokenizer cannot parse "orders" (semantics.md §6.9); the local
    # server can, and the client passes the name through unchanged.
    await client.create_topic("orders")
    await seed(client, "orders", 2)
    cursor = await client.query("SELECT * FROM orders")
    assert data(await cursor.fetchall()) == [b"e0", b"e1"]


async def test_explain_is_not_implemented_by_the_server(client, topic):
    with pytest.raises(NotImplementedError, match="does not implement Explain") as info:
        await client.explain_query(f"SELECT * FROM {topic}", None)
    assert "explain query is not implemented yet" in str(info.value)
    with pytest.raises(ValueError):
        await client.explain_query("", None)


async def test_blocking_calls_for_the_sync_client(client, topic):
    await seed(client, topic, 700)

    def run() -> List[Event]:
        cursor = _core.query(client._core, f"SELECT * FROM {topic}", [], False, None)
        got: List[Event] = []
        while True:
            page = cursor.next_batch(256, None)
            if page is None:
                return got
            assert len(page) <= 256
            got.extend(page)

    got = await asyncio.wait_for(asyncio.to_thread(run), WAIT)
    assert data(got) == [f"e{i}".encode() for i in range(700)]

    def no_rows() -> None:
        _core.query(client._core, f"SELECT * FROM {topic} OFFSET 700", [], False, None)

    with pytest.raises(QueryNoRows):
        await asyncio.to_thread(no_rows)


async def test_query_results_can_be_published_again_with_their_schema(client, topic):
    # A received event has no encoded schema yet (its shared parts end in None): the core
    # makes its Type on publish and encodes it; the copy must keep name and version.
    await seed(client, topic, 3)
    # Page by page (what the cursor does), since the schema tuple is shared within a
    # page: the results may arrive in more than one.
    cursor = await client.query(f"SELECT * FROM {topic}")
    core = cursor._core
    first = cursor._buf[::-1]  # a page query() may have fetched already
    pages: List[List[Event]] = [first] if first else []
    while (page := core.poll(256)) is not None:
        if page:
            pages.append(page)
        else:
            await _bridge.get_bridge().run(core.wait)
    got = [e for page in pages for e in page]
    assert all(e._type is None and e._tparts[4] is None for e in got)
    for page in pages:  # one tuple per schema and page, not one per event
        assert all(e._tparts is page[0]._tparts for e in page)
    await client.create_topic("copies")
    await client.publish("copies", got)
    await client.flush(timeout=WAIT)
    assert all(e.acked() for e in got)
    copies = await (await client.query("SELECT * FROM copies")).fetchall()
    assert data(copies) == [b"e0", b"e1", b"e2"]
    assert {str(e.type) for e in copies} == {"Row v1.0.0"}
