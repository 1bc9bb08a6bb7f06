"""Shared fixtures: an in-process local Ensign server on 127.0.0.1:0 and clients for it."""

from __future__ import annotations

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
