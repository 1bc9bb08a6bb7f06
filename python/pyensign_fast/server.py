"""``LocalEnsign``: a real, local Ensign-compatible server, in this process.

The server is written in Rust and runs on its own threads (its own tokio runtime), so it
needs no account and no network, and it never competes with the client's runtime::

    from pyensign_fast.server import LocalEnsign

    with LocalEnsign() as srv:                    # in memory, on a free port
        client = srv.client()
        ...

    async with LocalEnsign(data_dir="./ensign-data", auth=True) as srv:
        print(srv.endpoint, srv.auth_url, srv.client_id, srv.client_secret)

With ``data_dir`` every acknowledged event is on disk (it survives ``kill -9`` and power
loss) and the project, its topics and, with ``auth=True``, its credentials are kept there.
At start the server replays its log; a damaged record costs only itself, and what was
lost or repaired is reported in ``LocalEnsign.recovery``. A data directory whose event
log or ``meta.json`` is missing is refused (``ValueError``) unless ``repair=True``. With
``auth=True`` the server also serves the Quarterdeck endpoints (``/v1/authenticate``,
``/v1/refresh``, ``/.well-known/jwks.json``, ``/v1/status``) and checks tokens on every
RPC, as the hosted service does; pyensign itself can then talk to it.

With ``metrics_port`` (off by default) the server also serves Prometheus metrics at
``metrics_url`` (``http://host:port/metrics``), with the real Ensign server's names:
``ensign_events``, ``ensign_online_publishers``, ``ensign_online_subscribers`` and the
``grpc_server_*`` series, plus ``ensign_subscriber_evictions_total``,
``ensign_storage_errors_total`` and ``ensign_events_nacked_total``.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

__all__ = ["LocalEnsign", "RecoveryReport"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class RecoveryReport:
    """What recovery found and did when a durable server opened its data directory.

    ``damaged`` lists the regions of the event log that could not be read back, as
    ``(start, end, records)`` byte ranges (the records that started there are lost; their
    bytes stay in the file). ``torn_tail`` is the ``(start, end)`` of an incomplete last
    write (never acknowledged) that was cut off. ``actions`` lists repairs.
    """

    records: int = 0
    records_lost: int = 0
    bytes_dropped: int = 0
    damaged: Tuple[Tuple[int, int, int], ...] = ()
    torn_tail: Optional[Tuple[int, int]] = None
    actions: Tuple[str, ...] = ()
    summary: str = "clean (0 records)"

    @property
    def clean(self) -> bool:
        """True when nothing was lost, cut or repaired."""
        return not self.damaged and self.torn_tail is None and not self.actions

    def __str__(self) -> str:
        return self.summary

    @classmethod
    def _from_core(cls, d: dict) -> RecoveryReport:
        return cls(
            records=int(d["records"]),
            records_lost=int(d["records_lost"]),
            bytes_dropped=int(d["bytes_dropped"]),
            damaged=tuple(tuple(x) for x in d["damaged"]),  # type: ignore[misc]
            torn_tail=tuple(d["torn_tail"]) if d["torn_tail"] is not None else None,  # type: ignore[arg-type]
            actions=tuple(d["actions"]),
            summary=str(d["summary"]),
        )


class LocalEnsign:
    """A local Ensign server: a context manager (sync or async), or ``start()``/``stop()``.

    Arguments:
        data_dir: ``None`` keeps everything in memory; a path keeps a durable log there.
        host: address to listen on.
        port: gRPC port, ``0`` for a free one.
        auth: serve the auth endpoints and require tokens (credentials are made up, or
            kept in ``data_dir``, unless ``client_id``/``client_secret`` are given).
        http_port: port of the auth endpoints, ``0`` for a free one.
        access_ttl: lifetime of issued access tokens in seconds (Quarterdeck: 3600);
            short lifetimes let tests see clients refresh.
        refresh_ttl: lifetime of refresh tokens in seconds (Quarterdeck: 7200). A
            refresh token is usable from 15 minutes before its access token expires.
        metrics_port: serve Prometheus metrics on this port (``0`` for a free one);
            ``None`` (the default) serves none.
        metrics_host: address of the metrics endpoint; ``None`` means ``host``.
        repair: start even when data files are missing or damaged, repairing what can be
            repaired (an empty log for a missing one, ``meta.json`` from the log's header);
            every repair is listed in ``recovery.actions``.

    Errors when starting: ``OSError`` (port in use, data directory not writable or used
    by another server), ``ValueError`` (bad arguments, corrupt data files, or files
    missing in a way that needs ``repair=True``).
    """

    def __init__(
        self,
        data_dir: PathLike | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        auth: bool = False,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        http_port: int = 0,
        access_ttl: int | None = None,
        refresh_ttl: int | None = None,
        metrics_port: int | None = None,
        metrics_host: str | None = None,
        repair: bool = False,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ValueError("host must be a non-empty string")
        ports = [("port", port), ("http_port", http_port)]
        if metrics_port is not None:
            ports.append(("metrics_port", metrics_port))
        for name, value in ports:
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
                raise ValueError(f"{name} must be an integer between 0 and 65535")
        if metrics_host is not None and (not isinstance(metrics_host, str) or not metrics_host):
            raise ValueError("metrics_host must be a non-empty string")
        if not auth and (client_id is not None or client_secret is not None):
            raise ValueError("client_id and client_secret need auth=True")
        for name, ttl in (("access_ttl", access_ttl), ("refresh_ttl", refresh_ttl)):
            if ttl is None:
                continue
            if not auth:
                raise ValueError(f"{name} needs auth=True")
            if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
                raise ValueError(f"{name} must be a whole number of seconds >= 1")
        self.data_dir = os.fspath(data_dir) if data_dir is not None else None
        self.host = host
        self.port = port
        self.auth = bool(auth)
        self.http_port = http_port
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.repair = bool(repair)
        self._client_id = client_id
        self._client_secret = client_secret
        self._server: Any = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalEnsign:
        """Starts the server; returns once it listens. Raises if it is already running."""
        from pyensign_fast import _core, logs

        if self._server is not None and self._server.running:
            raise RuntimeError("the server is already running")
        # Its records go to the ``pyensign_fast.server`` logger (pyensign_fast.logs).
        logs.install()
        self._server = _core.LocalServer(
            host=self.host,
            port=self.port,
            data_dir=self.data_dir,
            auth=self.auth,
            client_id=self._client_id,
            client_secret=self._client_secret,
            http_port=self.http_port,
            access_ttl=self.access_ttl,
            refresh_ttl=self.refresh_ttl,
            metrics_addr=self._metrics_addr(),
            repair=self.repair,
        )
        return self

    def _metrics_addr(self) -> str | None:
        if self.metrics_port is None:
            return None
        host = self.metrics_host or self.host
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"{host}:{self.metrics_port}"

    def stop(self) -> None:
        """Stops the server: open streams are answered and ended, storage is made
        durable, the ports are freed. Safe to call more than once."""
        if self._server is not None:
            self._server.stop()

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    def __enter__(self) -> LocalEnsign:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> LocalEnsign:
        # Starting opens files and may generate an RSA key: keep it off the event loop.
        await asyncio.get_running_loop().run_in_executor(None, self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop)

    # -- where it is -------------------------------------------------------------------

    def _started(self) -> Any:
        if self._server is None:
            raise RuntimeError("the server has not been started")
        return self._server

    @property
    def endpoint(self) -> str:
        """``"host:port"`` of the gRPC service."""
        return str(self._started().endpoint)

    @property
    def auth_url(self) -> str | None:
        """``"http://host:port"`` of the auth endpoints; ``None`` without auth."""
        return self._started().auth_url

    @property
    def client_id(self) -> str | None:
        return self._started().client_id

    @property
    def client_secret(self) -> str | None:
        return self._started().client_secret

    @property
    def metrics_url(self) -> str | None:
        """``"http://host:port/metrics"`` of the Prometheus endpoint; ``None`` when the
        server was started without ``metrics_port``."""
        return self._started().metrics_url

    @property
    def project_id(self) -> str:
        """The project's id (a ULID string)."""
        return str(self._started().project_id)

    @property
    def recovery(self) -> RecoveryReport:
        """What recovery found and did at start (clean and empty in memory)."""
        return RecoveryReport._from_core(self._started().recovery)

    def client(self, **kwargs: Any) -> Any:
        """An ``Ensign`` client set up for this server; ``kwargs`` override or add
        constructor arguments."""
        from pyensign_fast.ensign import Ensign

        options: dict = {
            "endpoint": self.endpoint,
            "insecure": True,
            "auth_url": self.auth_url or "",
            "client_id": self.client_id or "",
            "client_secret": self.client_secret or "",
        }
        options.update(kwargs)
        return Ensign(**options)

    def __repr__(self) -> str:
        if self._server is None:
            return f"LocalEnsign(host={self.host!r}, port={self.port}, not started)"
        return (
            f"LocalEnsign(endpoint={self.endpoint!r}, auth_url={self.auth_url!r}, "
            f"data_dir={self.data_dir!r}, running={self.running})"
        )
