"""Helpers of the workflow tests (``test_workflows*.py``): a pyensign-style JSON event,
and publishing until a live subscriber has seen what it waits for."""

from __future__ import annotations

import asyncio
import json

from pyensign_fast.events import Event


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
