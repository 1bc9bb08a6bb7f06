"""Shared fixtures: an in-process local Ensign server on 127.0.0.1:0 and clients for it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest


@pytest.fixture
def server():
    """A fresh in-memory local server for one test."""
    from pyensign_fast.server import LocalEnsign

    with LocalEnsign() as srv:
        yield srv


@pytest.fixture
async def client(server):
    """An ``Ensign`` client of ``server``, closed after the test."""
    c = server.client()
    try:
        yield c
    finally:
        await c.close(timeout=5)


@pytest.fixture
async def topic(client):
    """A topic name that exists on the server."""
    await client.create_topic("events")
    return "events"


@pytest.fixture
def ensign_env(tmp_path, monkeypatch):
    """A server with authentication; ``Ensign()`` finds it through the environment, and
    ``key.json`` holds the credentials in pyensign's format. Yields the key's path."""
    from pyensign_fast.server import LocalEnsign

    with LocalEnsign(auth=True) as srv:
        monkeypatch.setenv("ENSIGN_ENDPOINT", srv.endpoint)
        monkeypatch.setenv("ENSIGN_INSECURE", "true")
        monkeypatch.setenv("ENSIGN_AUTH_URL", srv.auth_url)
        monkeypatch.setenv("ENSIGN_CLIENT_ID", srv.client_id)
        monkeypatch.setenv("ENSIGN_CLIENT_SECRET", srv.client_secret)
        key = tmp_path / "key.json"
        key.write_text(json.dumps({"ClientID": srv.client_id, "ClientSecret": srv.client_secret}))
        yield str(key)


@pytest.fixture
def set_timezone(monkeypatch):
    """Sets the process's timezone (``set_timezone("Asia/Kathmandu")``) until the test
    ends; skips where ``time.tzset`` does not exist."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available")

    def apply(zone: str) -> None:
        monkeypatch.setenv("TZ", zone)
        time.tzset()

    yield apply
    monkeypatch.undo()
    time.tzset()


# -- event loops ----------------------------------------------------------------------
# Tests marked ``all_loops`` run on the default asyncio loop, on uvloop (when installed)
# and on a selector loop without ``add_reader`` (standing in for Windows' Proactor loop,
# which forces the bridge's watcher-thread notifier); every other test on asyncio's.


class NoAddReaderLoop(asyncio.SelectorEventLoop):
    """An event loop that, like Windows' ``ProactorEventLoop``, has no ``add_reader``."""

    def add_reader(self, *args: object, **kwargs: object) -> None:
        raise NotImplementedError


def _loop_factories() -> dict:
    factories = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop

        factories["uvloop"] = uvloop.new_event_loop
    except ImportError:  # not installable on every platform
        pass
    factories["no_add_reader"] = NoAddReaderLoop
    return factories


_ALL_LOOPS = _loop_factories()
_DEFAULT_LOOP = {"asyncio": asyncio.new_event_loop}


def pytest_asyncio_loop_factories(config, item):
    if item.get_closest_marker("all_loops") is not None:
        return _ALL_LOOPS
    return _DEFAULT_LOOP
