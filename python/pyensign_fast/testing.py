"""pytest fixtures for code that uses Ensign: a real local server per test, and clients
set up for it. Installed with pyensign-fast as a pytest plugin (the ``pytest11`` entry
point), so there is nothing to import or configure::

    async def test_orders(ensign_client, ensign_topic):
        await ensign_client.publish(ensign_topic, Event(b"{}", "application/json"))
        await ensign_client.flush()

    def test_blocking(ensign_sync_client, ensign_topic):
        ensign_sync_client.publish(ensign_topic, Event(b"{}", "application/json"))

Fixtures (all function-scoped: every test gets a fresh, empty server):

* ``ensign_server``: a started :class:`~pyensign_fast.server.LocalEnsign` (in memory, on
  a free port of 127.0.0.1). ``@pytest.mark.ensign(auth=True)`` on a test gives it a
  server that requires tokens (``ensign_server.client_id``/``client_secret``/
  ``auth_url``); other keyword arguments of the marker go to ``LocalEnsign``.
* ``ensign_auth_server``: the same with ``auth=True``, without the marker.
* ``ensign_client``: an asyncio ``Ensign`` for ``ensign_server``, closed after the test.
  With pytest-asyncio it is an async fixture (closed on the test's event loop);
  otherwise it is closed with ``asyncio.run``.
* ``ensign_sync_client``: a blocking ``pyensign_fast.sync.Ensign`` for it.
* ``ensign_topic``: the name of a topic created on ``ensign_server`` (``"events"``, or
  ``@pytest.mark.ensign(topic="orders")``).
* ``ensign_env``: sets ``ENSIGN_ENDPOINT``, ``ENSIGN_INSECURE``, ``ENSIGN_AUTH_URL`` /
  ``ENSIGN_NO_AUTHENTICATION`` and the credentials for ``ensign_server``, so that a plain
  ``Ensign()`` (or ``pyensign-fast`` in a subprocess) finds it; returns the server.

The fixtures' clients are set up for their server whatever ``ENSIGN_*`` variables the
shell has. Importing this module is cheap: the Rust core loads when a fixture is first
used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any, Dict, Iterator

import pytest

# (ensign_client is registered under that name by one of two functions, below.)
__all__ = [
    "ensign_auth_server",
    "ensign_env",
    "ensign_server",
    "ensign_sync_client",
    "ensign_topic",
]

MARKER = "ensign"
DEFAULT_TOPIC = "events"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(auth=False, topic='{DEFAULT_TOPIC}', **local_ensign_kwargs): configure the "
        "pyensign_fast ensign_server / ensign_topic fixtures for this test",
    )


def _marker_options(request: pytest.FixtureRequest) -> Dict[str, Any]:
    marker = request.node.get_closest_marker(MARKER)
    return dict(marker.kwargs) if marker is not None else {}


def _start(options: Dict[str, Any]) -> Any:
    from pyensign_fast.server import LocalEnsign

    options.pop("topic", None)
    return LocalEnsign(**options).start()


@pytest.fixture
def ensign_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh in-memory ``LocalEnsign`` (see ``@pytest.mark.ensign``)."""
    server = _start(_marker_options(request))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ensign_auth_server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh in-memory ``LocalEnsign(auth=True)``: it requires tokens."""
    server = _start({**_marker_options(request), "auth": True})
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def _no_env_override() -> Iterator[None]:
    # The clients read ENSIGN_NO_AUTHENTICATION even over an explicit auth_url: a shell
    # set up for another server must not turn the fixtures' tokens off.
    saved = os.environ.pop("ENSIGN_NO_AUTHENTICATION", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["ENSIGN_NO_AUTHENTICATION"] = saved


def _options(server: Any) -> Dict[str, Any]:
    return {
        "endpoint": server.endpoint,
        "insecure": True,
        "auth_url": server.auth_url or "",
        "client_id": server.client_id or "",
        "client_secret": server.client_secret or "",
    }


def _client_of(server: Any) -> Any:
    from pyensign_fast.ensign import Ensign

    with _no_env_override():
        return Ensign(**_options(server))


def _sync_client_of(server: Any) -> Any:
    from pyensign_fast.sync import Ensign

    with _no_env_override():
        return Ensign(**_options(server))


@pytest.fixture
def ensign_sync_client(ensign_server: Any) -> Iterator[Any]:
    """A blocking ``pyensign_fast.sync.Ensign`` for ``ensign_server``, closed after."""
    client = _sync_client_of(ensign_server)
    try:
        yield client
    finally:
        client.close(timeout=5)


@pytest.fixture
def ensign_topic(ensign_server: Any, request: pytest.FixtureRequest) -> str:
    """A topic created on ``ensign_server`` (``"events"`` unless the marker says)."""
    name = str(_marker_options(request).get("topic", DEFAULT_TOPIC))
    client = _sync_client_of(ensign_server)
    try:
        client.create_topic(name)
    finally:
        client.close(timeout=5)
    return name


@pytest.fixture
def ensign_env(ensign_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The ``ENSIGN_*`` environment for ``ensign_server``; returns the server."""
    monkeypatch.setenv("ENSIGN_ENDPOINT", ensign_server.endpoint)
    monkeypatch.setenv("ENSIGN_INSECURE", "true")
    if ensign_server.auth_url:
        monkeypatch.delenv("ENSIGN_NO_AUTHENTICATION", raising=False)
        monkeypatch.setenv("ENSIGN_AUTH_URL", ensign_server.auth_url)
        monkeypatch.setenv("ENSIGN_CLIENT_ID", ensign_server.client_id)
        monkeypatch.setenv("ENSIGN_CLIENT_SECRET", ensign_server.client_secret)
    else:
        monkeypatch.setenv("ENSIGN_NO_AUTHENTICATION", "true")
        for name in ("ENSIGN_AUTH_URL", "ENSIGN_CLIENT_ID", "ENSIGN_CLIENT_SECRET"):
            monkeypatch.delenv(name, raising=False)
    return ensign_server


try:
    import pytest_asyncio
except ImportError:  # no asyncio plugin: close on a loop of our own

    @pytest.fixture(name="ensign_client")
    def _ensign_client_closed_by_asyncio_run(ensign_server: Any) -> Iterator[Any]:
        """An asyncio ``Ensign`` for ``ensign_server``, closed after the test."""
        client = _client_of(ensign_server)
        try:
            yield client
        finally:
            asyncio.run(client.close(timeout=5))

else:

    @pytest_asyncio.fixture(name="ensign_client")
    async def _ensign_client_closed_on_the_test_loop(ensign_server: Any) -> Any:
        """An asyncio ``Ensign`` for ``ensign_server``, closed after the test (on its loop)."""
        client = _client_of(ensign_server)
        try:
            yield client
        finally:
            await client.close(timeout=5)
