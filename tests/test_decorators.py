"""``@authenticate``, ``@publisher`` and ``@subscriber`` for every kind of function,
against the in-process local server; nested calls, isolation, closing, and K4."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from pyensign_fast import decorators
from pyensign_fast.ensign import Ensign, authenticate, publisher, subscriber
from pyensign_fast.events import from_object
from pyensign_fast.sync import Ensign as SyncEnsign


@pytest.fixture
def kw(server):
    """``Ensign`` arguments for the test server; the topics ``counter`` and ``other``."""
    options = {"endpoint": server.endpoint, "insecure": True, "auth_url": ""}
    with SyncEnsign(**options) as c:
        c.create_topic("counter")
        c.create_topic("other")
    return options


def stored(kw, topic="counter"):
    """The payloads stored in a topic (through project info: count and mimetypes)."""
    with SyncEnsign(**kw) as c:
        info = c.info([c.topic_id(topic)])
        return info.events, sorted({t.mimetype for t in info.topics[0].types})


def test_coroutine_publisher_publishes_return_values(kw):
    @publisher("counter")
    async def count(i):
        return {"count": i} if i != 1 else None  # None is not published

    @authenticate(**kw)
    async def main():
        return [await count(i) for i in range(4)]

    assert asyncio.run(main()) == [{"count": 0}, None, {"count": 2}, {"count": 3}]
    assert stored(kw) == (3, [50])


def test_async_generator_publisher_yields_everything(kw):
    @publisher("counter", mimetype="text/plain")
    async def words():
        for word in ("a", None, "b"):
            yield word

    @authenticate(**kw)
    async def main():
        return [w async for w in words()]

    assert asyncio.run(main()) == ["a", None, "b"]
    assert stored(kw) == (2, [1])


def test_sync_functions_and_generators_are_callable_from_sync_code(kw):
    @publisher("counter")
    def one(i):
        return {"i": i}

    @publisher("counter", encoder=None)
    def many(n):
        yield from (f"w{i}" for i in range(n))

    @authenticate(**kw)
    def main():
        first = [one(i) for i in range(2)]
        return first, list(many(3))

    assert main() == ([{"i": 0}, {"i": 1}], ["w0", "w1", "w2"])
    assert stored(kw) == (5, [1, 50])


def test_sync_generator_under_a_running_loop(kw):
    # The sync wrapper is called on the loop thread: it must not deadlock (pyensign did).
    @publisher("counter")
    def numbers():
        yield from ({"n": n} for n in range(3))

    @authenticate(**kw)
    async def main():
        return list(numbers())

    assert asyncio.run(main()) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert stored(kw) == (3, [50])


def test_publisher_needs_authenticate():
    @publisher("counter")
    async def value():
        return 1

    with pytest.raises(RuntimeError, match="use the authenticate decorator"):
        asyncio.run(value())


def test_nested_authenticated_async_generator_runs_once(kw):
    # K4: pyensign ran the body of a nested @authenticate async generator twice.
    calls = []

    @authenticate(**kw)
    async def inner():
        calls.append("inner")
        yield decorators.current_client()

    @authenticate(**kw)
    async def outer():
        outer_client = decorators.current_client()
        seen = [c async for c in inner()]
        return outer_client, seen

    outer_client, seen = asyncio.run(outer())
    assert calls == ["inner"]
    assert seen == [outer_client]


def test_authenticate_closes_its_client_and_resets(kw):
    opened = []

    @authenticate(**kw)
    async def main(fail):
        opened.append(decorators.current_client())
        if fail:
            raise KeyError("boom")

    asyncio.run(main(False))
    with pytest.raises(KeyError, match="boom"):
        asyncio.run(main(True))
    assert len(opened) == 2 and opened[0] is not opened[1]
    assert all(c._closed for c in opened)
    assert decorators.current_client() is None and decorators._client is None


def test_concurrent_authenticated_calls_have_their_own_clients(kw):
    @publisher("counter")
    async def send(i):
        return {"i": i}

    @authenticate(**kw)
    async def job(i, started, release):
        started.set()
        await release.wait()
        await send(i)
        return decorators.current_client()

    async def main():
        release = asyncio.Event()
        first_started = asyncio.Event()
        first = asyncio.create_task(job(0, first_started, release))
        await first_started.wait()
        second_started = asyncio.Event()
        second = asyncio.create_task(job(1, second_started, release))
        await second_started.wait()
        release.set()
        return await first, await second

    a, b = asyncio.run(main())
    assert a is not b and a._closed and b._closed
    assert stored(kw)[0] == 2


def test_decorators_reject_other_objects(kw):
    with pytest.raises(TypeError, match="expected a function or generator function"):
        authenticate(**kw)(42)
    with pytest.raises(TypeError, match="expected a function or generator function"):
        publisher("counter")(len)
    with pytest.raises(TypeError, match="does not support synchronous generator functions"):

        @subscriber("counter")
        def gen(events):
            yield from events


def test_subscriber_needs_authenticate():
    @subscriber("counter")
    async def consume(events):
        async for _ in events:
            pass

    with pytest.raises(RuntimeError, match="use the authenticate decorator"):
        asyncio.run(consume())


def test_decorated_functions_keep_their_names(kw):
    @authenticate(**kw)
    @publisher("counter")
    async def my_function():
        """Doc."""
        return json.dumps({})

    assert my_function.__name__ == "my_function" and my_function.__doc__ == "Doc."


# ---------------------------------------------------------------------- subscriber


def test_subscriber_coroutine_gets_the_events(kw):
    ready = asyncio.Event()

    @authenticate(**kw)
    @subscriber("counter")
    async def consume(events, n):
        await events.ready()
        ready.set()
        out = []
        async for event in events:
            out.append(json.loads(event.data))
            await event.ack()
            if len(out) == n:
                return out

    async def main():
        task = asyncio.create_task(consume(3))
        await ready.wait()
        async with Ensign(**kw) as c:
            await c.publish("counter", [from_object({"i": i}) for i in range(3)])
        return await asyncio.wait_for(task, 30)

    assert asyncio.run(main()) == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_subscriber_async_generator_yields_through(kw):
    @authenticate(**kw)
    @subscriber("counter", "other")
    async def transform(events):
        await events.ready()
        yield "ready"
        async for event in events:
            await event.ack()
            yield event.decode()

    async def main():
        out = []
        gen = transform()
        assert await gen.__anext__() == "ready"
        async with Ensign(**kw) as c:
            await c.publish("other", from_object("a"))
            await c.publish("counter", from_object("b"))
        async for value in gen:
            out.append(value)
            if len(out) == 2:
                break
        await gen.aclose()
        return sorted(out)

    assert asyncio.run(main()) == ["a", "b"]


def test_subscriber_plain_function_is_called_per_event(kw):
    seen = []
    enough = threading.Event()

    class Enough(Exception):
        pass

    @subscriber("counter")
    def on_event(event, tag):
        seen.append((tag, event.decode()))
        if len(seen) == 3:
            enough.set()
            raise Enough  # the only way out of a callback subscriber

    def feed():  # another program publishing until the subscriber had enough
        async def go():
            async with Ensign(**kw) as c:
                for i in range(500):
                    if enough.is_set():
                        return
                    await c.publish("counter", from_object(i))
                    await c.flush()

        asyncio.run(go())

    @authenticate(**kw)
    def main():
        feeder = threading.Thread(target=feed)
        feeder.start()
        try:
            on_event("t")  # blocking: a plain function subscriber is sync
        finally:
            enough.set()
            feeder.join(timeout=60)

    with pytest.raises(Enough):
        main()
    assert len(seen) == 3 and all(tag == "t" for tag, _ in seen)
