"""Flow control choices: ``on_full="block"|"error"`` and ``pending_events()``, on the
asyncio and the blocking client, with a small window and the server stopped (nothing can
be acked, so the window stays full until it comes back)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from pyensign_fast import sync
from pyensign_fast.events import Event
from pyensign_fast.exceptions import EnsignBufferFullError, EnsignError, PyEnsignError
from pyensign_fast.server import LocalEnsign

WINDOW = 10


def _events(n: int):
    return [Event(b"x", "text/plain") for _ in range(n)]


def test_the_error_class_is_both_pyensigns_and_a_buffer_error():
    assert issubclass(EnsignBufferFullError, EnsignError)
    assert issubclass(EnsignBufferFullError, PyEnsignError)
    assert issubclass(EnsignBufferFullError, BufferError)


def test_on_full_is_checked():
    with pytest.raises(ValueError, match="on_full"):
        sync.Ensign(endpoint="localhost:1", insecure=True, auth_url="", on_full="drop")


@pytest.mark.parametrize("on_full", ["error", "block"])
async def test_a_full_window_raises_at_once_or_waits(tmp_path, on_full):
    srv = LocalEnsign(data_dir=str(tmp_path)).start()
    port = int(srv.endpoint.rsplit(":", 1)[1])
    c = srv.client(
        max_inflight_events=WINDOW, on_full=on_full, reconnect_tick=0.05, reconnect_timeout=60
    )
    srv2 = None
    try:
        await c.create_topic("fc")
        await c.publish("fc", _events(1))
        await c.flush()
        assert c.pending_events() == 0
        srv.stop()
        held = _events(WINDOW)
        await c.publish("fc", held)  # fills the window exactly
        assert c.pending_events() == WINDOW
        with pytest.raises(asyncio.TimeoutError):
            await c.flush(timeout=0.1)
        assert c.pending_events() == WINDOW
        over = _events(1)
        if on_full == "error":
            with pytest.raises(EnsignBufferFullError, match="no room for 1 more"):
                await c.publish("fc", over)
            # Nothing of that call was sent or registered.
            assert not over[0].published() and c.pending_events() == WINDOW
            assert c.stats()["published"] == 1 + WINDOW
        else:
            task = asyncio.ensure_future(c.publish("fc", over))
            for _ in range(20):
                await asyncio.sleep(0)
            assert not task.done(), "the over-window publish waits for room"
        srv2 = LocalEnsign(data_dir=str(tmp_path), port=port).start()
        if on_full == "block":
            await task
        await c.flush(timeout=60)
        assert c.pending_events() == 0
        assert all(e.acked() for e in held)
        if on_full == "block":
            assert over[0].acked()
        else:
            await c.publish("fc", over)  # room again: accepted
            await c.flush(timeout=30)
            assert over[0].acked()
    finally:
        await c.close(timeout=5)
        if srv2 is not None:
            srv2.stop()
        srv.stop()


def test_a_batch_larger_than_the_window_is_refused_whole_with_error(server):
    with sync.Ensign(
        endpoint=server.endpoint,
        insecure=True,
        auth_url="",
        max_inflight_events=WINDOW,
        on_full="error",
    ) as c:
        c.create_topic("big")
        batch = _events(WINDOW + 1)
        with pytest.raises(BufferError):
            c.publish("big", batch)
        assert not any(e.published() for e in batch)
        assert c.pending_events() == 0 and c.stats()["published"] == 0
        c.publish("big", batch[:WINDOW])
        c.flush()
        assert c.stats()["acked"] == WINDOW


def test_the_blocking_client_raises_or_waits(tmp_path):
    srv = LocalEnsign(data_dir=str(tmp_path)).start()
    port = int(srv.endpoint.rsplit(":", 1)[1])
    common = dict(
        endpoint=srv.endpoint,
        insecure=True,
        auth_url="",
        max_inflight_events=WINDOW,
        reconnect_tick=0.05,
        reconnect_timeout=60,
    )
    err = sync.Ensign(**common, on_full="error")
    block = sync.Ensign(**common)
    srv2 = None
    try:
        err.create_topic("fc")
        for c in (err, block):
            c.publish("fc", _events(1))
            c.flush()
        srv.stop()
        for c in (err, block):
            c.publish("fc", _events(WINDOW))
            assert c.pending_events() == WINDOW
        with pytest.raises(EnsignBufferFullError):
            err.publish("fc", _events(1))
        done = threading.Event()

        def publish_over() -> None:
            block.publish("fc", _events(1))
            done.set()

        t = threading.Thread(target=publish_over, daemon=True)
        t.start()
        assert not done.wait(0.2), "the blocking publish waits for room"
        srv2 = LocalEnsign(data_dir=str(tmp_path), port=port).start()
        t.join(60)
        assert done.is_set()
        for c in (err, block):
            c.flush(timeout=60)
            assert c.pending_events() == 0
    finally:
        err.close(timeout=5)
        block.close(timeout=5)
        if srv2 is not None:
            srv2.stop()
        srv.stop()
