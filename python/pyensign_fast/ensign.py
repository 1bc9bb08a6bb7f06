"""``Ensign``: the client, with pyensign's constructor, arguments and errors.

Configuration follows pyensign (``client_id``/``client_secret`` arguments, the
``ENSIGN_CLIENT_ID``/``ENSIGN_CLIENT_SECRET`` environment variables, a JSON credentials
file) plus go-ensign's ``ENSIGN_ENDPOINT``, ``ENSIGN_INSECURE``, ``ENSIGN_AUTH_URL`` and
``ENSIGN_NO_AUTHENTICATION``. ``auth_url=""`` (or ``None``) means no authentication, for
local servers. Nothing is dialled at construction: the Rust core connects lazily, so a
client may be built outside an event loop.

Publishing makes one call into the core per ``publish()``: see ``docs/architecture.md``.
Delivery is at-least-once: after a reconnect, events without an ack are sent again.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from typing import Any, Callable, Dict, Optional, Union

from pyensign_fast import _bridge, _core, logs, tracing
from pyensign_fast._session import Session, publish_args
from pyensign_fast._streams_api import StreamsAPI
from pyensign_fast._topics_api import TopicsAPI, drive_async
from pyensign_fast.decorators import authenticate, publisher, subscriber  # noqa: F401 - pyensign's import path
from pyensign_fast.stats import StatsReporter
from pyensign_fast.topics import TopicCache
from pyensign_fast.version import user_agent

__all__ = ["Ensign"]

DEFAULT_ENDPOINT = "ensign.rotational.app:443"
DEFAULT_AUTH_URL = "https://auth.rotational.app"
_TRUE = frozenset(("1", "y", "t", "yes", "true", "on"))


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _seconds(name: str, value: Union[float, timedelta]) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds")
    return float(value)


def _load_credentials(cred_path: str) -> tuple[Any, Any]:
    try:
        with open(cred_path) as file:
            data = json.load(file)
        return data["ClientID"], data["ClientSecret"]
    except FileNotFoundError as e:
        raise ValueError("Credentials file not found", str(e)) from None
    except UnicodeDecodeError as e:
        raise ValueError("Error decoding credentials file", str(e)) from None
    except json.JSONDecodeError as e:
        raise ValueError("Credentials file has invalid JSON", str(e)) from None
    except (KeyError, TypeError) as e:
        raise ValueError("Credentials file is missing ClientID or ClientSecret", str(e)) from None
    except OSError as e:
        raise ValueError("IO error while reading credentials file:", str(e)) from None


class Ensign(TopicsAPI, StreamsAPI):
    """Connects to an Ensign server and provides access to the Ensign API.

    Publishing, flush and close live here; topic and project administration in
    :class:`~pyensign_fast._topics_api.TopicsAPI`; subscribe and EnSQL in
    :class:`~pyensign_fast._streams_api.StreamsAPI`.
    """

    def __init__(
        self,
        client_id: str = "",
        client_secret: str = "",
        cred_path: str = "",
        endpoint: str = DEFAULT_ENDPOINT,
        insecure: bool = False,
        auth_url: Optional[str] = DEFAULT_AUTH_URL,
        disable_topic_cache: bool = False,
        *,
        reconnect_tick: Union[float, timedelta] = 0.75,
        reconnect_timeout: Union[float, timedelta] = 300.0,
        max_inflight_events: int = 8192,
        max_inflight_bytes: int = 64 * 1024 * 1024,
        on_full: str = "block",
        stats_interval: Optional[float] = None,
        on_stats: Optional[Callable[[Dict[str, Any]], Any]] = None,
        otel: Optional[bool] = None,
    ) -> None:
        if on_full not in ("block", "error"):
            raise ValueError('on_full must be "block" or "error"')
        if (stats_interval is None) != (on_stats is None):
            raise ValueError("stats_interval and on_stats go together")
        # go-ensign's environment applies where the argument was left at its default.
        if endpoint == DEFAULT_ENDPOINT and os.environ.get("ENSIGN_ENDPOINT"):
            endpoint = os.environ["ENSIGN_ENDPOINT"]
        if not insecure and _env_bool("ENSIGN_INSECURE"):
            insecure = True
        if auth_url == DEFAULT_AUTH_URL and "ENSIGN_AUTH_URL" in os.environ:
            auth_url = os.environ["ENSIGN_AUTH_URL"]
        if _env_bool("ENSIGN_NO_AUTHENTICATION"):
            auth_url = None
        if not isinstance(endpoint, str):
            raise TypeError("endpoint must be a string")
        parts = endpoint.rsplit(":", 1)
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError("Invalid address:port format")

        if cred_path:
            client_id, client_secret = _load_credentials(cred_path)
        if not client_id:
            client_id = os.environ.get("ENSIGN_CLIENT_ID")  # type: ignore[assignment]
        if not client_secret:
            client_secret = os.environ.get("ENSIGN_CLIENT_SECRET")  # type: ignore[assignment]
        if auth_url:
            if client_id is None:
                raise ValueError(
                    "client_id is required but not provided or set in the ENSIGN_CLIENT_ID"
                    " environment variable"
                )
            if client_secret is None:
                raise ValueError(
                    "client_secret is required but not provided or set in the"
                    " ENSIGN_CLIENT_SECRET environment variable"
                )
            if not isinstance(client_id, str):
                raise TypeError("client_id must be a string")
            if not isinstance(client_secret, str):
                raise TypeError("client_secret must be a string")

        self.endpoint = endpoint
        self.insecure = bool(insecure)
        self.auth_url = auth_url or None
        self.topics = TopicCache(read_only=disable_topic_cache)
        self._core = _core.Client(
            endpoint,
            insecure=self.insecure,
            auth_url=self.auth_url,
            client_id=client_id if self.auth_url else None,
            client_secret=client_secret if self.auth_url else None,
            reconnect_tick=_seconds("reconnect_tick", reconnect_tick),
            reconnect_timeout=_seconds("reconnect_timeout", reconnect_timeout),
            max_inflight_events=max_inflight_events,
            max_inflight_bytes=max_inflight_bytes,
            user_agent=user_agent(),
        )
        self._session = Session(self._core, self.topics)
        self._whole = on_full == "error"
        self._window = (max_inflight_events, max_inflight_bytes)
        self._tracing = tracing.for_client(otel)
        logs.install()
        self._stats_reporter: Optional[StatsReporter] = None
        if on_stats is not None and stats_interval is not None:
            self._stats_reporter = StatsReporter(self, stats_interval, on_stats)

    @property
    def _closed(self) -> bool:
        return self._session.closed

    def __repr__(self) -> str:
        # Never the secret.
        return (
            f"Ensign(endpoint={self.endpoint!r}, insecure={self.insecure}, "
            f"auth_url={self.auth_url!r})"
        )

    # ------------------------------------------------------------------ publishing

    async def publish(
        self,
        topic: str,
        *events: Any,
        on_ack: Optional[Callable[[Any], Any]] = None,
        on_nack: Optional[Callable[[Any], Any]] = None,
        ensure_exists: bool = False,
    ) -> None:
        """Publish events to a topic (by name or ID). Returns as soon as the events are
        handed to the core; each event then ends acked, nacked by the server, or nacked
        by the client (``TIMEOUT`` after the reconnect timeout, ``UNPROCESSED`` when the
        client closes first). ``on_ack``/``on_nack`` apply to the events of this call;
        they may be functions or coroutine functions (run eagerly: no task unless they
        suspend). Waits only while the in-flight window is full (``on_full="block"``,
        the default); with ``on_full="error"`` raises ``EnsignBufferFullError`` instead,
        before anything of the call is sent. Every event is checked before any is sent:
        a bad one raises and none of the call is published."""
        batch = publish_args(topic, events)
        if self._tracing is not None:
            with self._tracing.publish_span(topic, batch):
                return await self._publish(topic, batch, on_ack, on_nack, ensure_exists)
        # NOTE: the body of `_publish`, inlined: the untraced path is the hot one (one
        # `publish()` per event in services) and saves a call frame per event.
        plan = self._session.publish(
            topic,
            batch,
            on_ack,
            on_nack,
            _bridge.get_bridge().notifier,
            self._p_ensure_topic_exists if ensure_exists else None,
            self._whole,
        )
        if plan is not None:
            await drive_async(plan)

    async def _publish(
        self, topic: str, batch: Any, on_ack: Any, on_nack: Any, ensure_exists: bool
    ) -> None:
        plan = self._session.publish(
            topic,
            batch,
            on_ack,
            on_nack,
            _bridge.get_bridge().notifier,
            self._p_ensure_topic_exists if ensure_exists else None,
            self._whole,
        )
        if plan is not None:
            await drive_async(plan)

    def pending_events(self) -> int:
        """Events handed to ``publish`` that have no ack or nack yet (what ``flush()``
        waits for). Not in pyensign."""
        return self._session.pending()

    def stats(self) -> Dict[str, Any]:
        """A snapshot of the client's statistics (see :mod:`pyensign_fast.stats` for the
        keys). Cheap: one short lock in the core. Not in pyensign."""
        out: Dict[str, Any] = self._core.stats()
        out["max_inflight_events"], out["max_inflight_bytes"] = self._window
        return out

    async def flush(self, timeout: float = 2.0) -> None:
        """Wait until every event handed over before this call has its outcome (ack or
        nack). Raises ``asyncio.TimeoutError`` if that takes longer than ``timeout``."""
        if timeout <= 0:
            raise ValueError("timeout must be greater than 0")
        if not await _bridge.get_bridge().run(self._core.flush, float(timeout)):
            raise asyncio.TimeoutError(f"events still pending after {timeout} seconds")

    async def close(self, timeout: float = 30.0) -> None:
        """Flush (up to ``timeout``), half-close the publish stream, wait for the
        server's CloseStream and close. Events still without an outcome are nacked
        ``UNPROCESSED``. The client is unusable afterwards."""
        if self._stats_reporter is not None:
            self._stats_reporter.stop()
        if self._session.mark_closed():
            await _bridge.get_bridge().run(self._core.close, float(timeout))

    async def __aenter__(self) -> Ensign:
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        await self.close()
