"""pyensign's low-level connection names (``pyensign.connection``): ``Connection``,
``Client`` and ``Cursor``.

In pyensign these wrapped a grpc.aio channel. Here gRPC lives in the Rust core, so:

* :class:`Connection` keeps pyensign's constructor and checks (``"host:port"``), and
  describes where and how to connect; there is no grpc channel to create.
* :class:`Client` keeps pyensign's constructor, including the reconnect tuning that
  pyensign exposed only here, and owns a core connection. Use it through
  :class:`pyensign_fast.ensign.Ensign`, which accepts the same tuning directly
  (``reconnect_tick``, ``reconnect_timeout``); :meth:`Client.ensign` builds one.
* ``Cursor`` is the EnSQL result cursor of :mod:`pyensign_fast.cursor`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pyensign_fast.cursor import Cursor
from pyensign_fast.topics import TopicCache

__all__ = ["Client", "Connection", "Cursor"]


class Connection:
    """Where an Ensign server is (``addrport``, e.g. ``"localhost:5356"``), whether to use
    TLS (``insecure=True`` means plaintext), and how to authenticate: ``auth`` is
    ``None`` (no authentication) or an object with ``url`` and ``creds`` (a dict with
    ``client_id`` and ``client_secret``), like pyensign's ``AuthClient``."""

    def __init__(self, addrport: str, insecure: bool = False, auth: Any = None) -> None:
        parts = addrport.split(":", 2)
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError("Invalid address:port format")
        self.addrport = addrport
        self.insecure = insecure
        self.auth = auth

    def create_channel(self) -> Any:
        """Not available: pyensign-fast speaks gRPC from its Rust core."""
        raise NotImplementedError(
            "pyensign-fast has no grpc channel; connect with pyensign_fast.ensign.Ensign"
        )

    def __repr__(self) -> str:
        return f"Connection(addrport={self.addrport!r}, insecure={self.insecure})"

    def _ensign_kwargs(self) -> dict:
        auth = self.auth
        if auth is None:
            return {"endpoint": self.addrport, "insecure": self.insecure, "auth_url": ""}
        creds = getattr(auth, "creds", None) or {}
        return {
            "endpoint": self.addrport,
            "insecure": self.insecure,
            "auth_url": getattr(auth, "url", ""),
            "client_id": creds.get("client_id", ""),
            "client_secret": creds.get("client_secret", ""),
        }


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Client:
    """A connection to Ensign with pyensign's reconnect tuning (defaults: a tick of
    750 ms, a timeout of 5 minutes). ``client_id`` is kept for compatibility (a new ULID
    when empty); ``topic_cache`` is a :class:`~pyensign_fast.topics.TopicCache`."""

    def __init__(
        self,
        connection: Connection,
        client_id: str = "",
        topic_cache: TopicCache | None = None,
        reconnect_tick: timedelta = timedelta(milliseconds=750),
        reconnect_timeout: timedelta = timedelta(minutes=5),
    ) -> None:
        from pyensign_fast.utils.ulid import ULID

        self.connection = connection
        self.topics = topic_cache
        self.reconnect_tick = reconnect_tick
        self.reconnect_timeout = reconnect_timeout
        self.client_id = client_id or str(ULID())
        self._ensign: Any = None

    def ensign(self) -> Any:
        """The :class:`~pyensign_fast.ensign.Ensign` client for this connection (built
        once), with this client's reconnect tuning and topic cache."""
        if self._ensign is None:
            from pyensign_fast.ensign import Ensign

            client = Ensign(
                **self.connection._ensign_kwargs(),
                reconnect_tick=self.reconnect_tick,
                reconnect_timeout=self.reconnect_timeout,
            )
            if self.topics is not None:
                client.topics = self.topics
            self._ensign = client
        return self._ensign

    async def flush(self, timeout: timedelta = timedelta(seconds=2.0)) -> None:
        """Wait until every published event has its outcome."""
        await self.ensign().flush(_seconds(timeout))

    async def close(self) -> None:
        """Flush and close the connection."""
        if self._ensign is not None:
            await self._ensign.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
