"""The pytest plugin (``pyensign_fast.testing``, entry point ``pytest11``): a user's test
file that uses only its fixtures passes in a separate pytest run, where nothing but the
installed entry point can provide them; without the plugin the same file errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

from _cli import TIMEOUT, clean_env

USER_TESTS = textwrap.dedent(
    """
    import json

    import pytest

    from pyensign_fast.ensign import Ensign
    from pyensign_fast.events import Event


    @pytest.mark.asyncio
    async def test_publish_then_query(ensign_client, ensign_topic):
        await ensign_client.publish(ensign_topic, Event(b'{"n": 1}', "application/json"))
        await ensign_client.flush()
        cursor = await ensign_client.query(f"SELECT * FROM {ensign_topic}")
        assert [e.data for e in await cursor.fetchall()] == [b'{"n": 1}']


    def test_blocking_client(ensign_sync_client, ensign_topic):
        event = Event(b"hello", "text/plain")
        ensign_sync_client.publish(ensign_topic, event)
        ensign_sync_client.flush()
        assert event.acked()


    def test_every_test_gets_a_fresh_server(ensign_sync_client):
        assert ensign_sync_client.get_topics() == []


    @pytest.mark.ensign(auth=True, topic="secure")
    def test_marker_configures_the_server(ensign_server, ensign_sync_client, ensign_topic):
        assert ensign_server.auth_url and ensign_topic == "secure"
        assert ensign_sync_client.topic_exists("secure")


    def test_auth_server(ensign_auth_server):
        assert ensign_auth_server.client_id and ensign_auth_server.client_secret


    @pytest.mark.asyncio
    async def test_environment(ensign_env, ensign_topic):
        async with Ensign() as client:  # configured by ENSIGN_* only
            assert await client.topic_exists(ensign_topic)
    """
)


def _pytest(path: Any, *options: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, str(path)],
        cwd=path.parent,  # no ini file: pytest's defaults, as in a user's project
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=TIMEOUT,
        check=False,
    )


def test_a_user_test_file_using_only_the_fixtures_passes(tmp_path: Any) -> None:
    path = tmp_path / "test_user.py"
    path.write_text(USER_TESTS)
    result = _pytest(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout
    assert "PytestUnknownMarkWarning" not in result.stdout  # the marker is registered

    # A shell configured for another server changes nothing.
    elsewhere = _pytest(
        path,
        ENSIGN_ENDPOINT="127.0.0.1:1",
        ENSIGN_NO_AUTHENTICATION="true",
        ENSIGN_AUTH_URL="http://127.0.0.1:1",
        ENSIGN_CLIENT_ID="someone",
        ENSIGN_CLIENT_SECRET="else",
    )
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr

    without = _pytest(path, "-p", "no:pyensign_fast")
    assert without.returncode != 0 and "fixture 'ensign_client' not found" in without.stdout
