"""The Rust core's logs in Python :mod:`logging`.

The core (client and in-process server) logs with Rust's ``tracing``. :func:`install`,
called when a client or a :class:`~pyensign_fast.server.LocalEnsign` is created, sets one
process-wide subscriber that queues records in Rust (bounded: 2048; a full queue drops and
counts) and starts a daemon thread that waits for them with the GIL released and hands
each batch to :mod:`logging` with one call into Rust: no Rust thread ever takes the GIL.

Logger names: client records go to ``pyensign_fast.client`` (a child per Rust module, e.g.
``pyensign_fast.client.publisher.driver``), the in-process server's to
``pyensign_fast.server``, records of libraries below them (tonic, h2) to
``pyensign_fast.lib.<crate>``. Each record's ``created`` time is the time Rust emitted it;
``record.rust_target`` holds the Rust module path.

What Rust emits at all is decided before anything is formatted: ``PYENSIGN_FAST_LOG``
(``tracing_subscriber`` EnvFilter syntax, e.g. ``ensign_client=debug,ensign_server=info``)
when set, else a filter derived from the effective levels of the ``pyensign_fast.client``
and ``pyensign_fast.server`` loggers (WARNING by default) each time a client or server is
created, or when :func:`refresh_filter` is called after changing those levels.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

# _bridge registers the atexit hook after which threads that finish a GIL-free wait park
# instead of re-entering the exiting interpreter (rust/python/src/exiting.rs): the log
# thread waits that way too, also in programs that only run a LocalEnsign.
from pyensign_fast import _bridge, _core  # noqa: F401

__all__ = [
    "ENV_FILTER",
    "JsonFormatter",
    "dropped",
    "flush",
    "install",
    "refresh_filter",
    "to_stderr",
]

ENV_FILTER = "PYENSIGN_FAST_LOG"
TRACE = 5
logging.addLevelName(TRACE, "TRACE")

_lock = threading.Lock()  # one drainer at a time, so records keep their order
_install_lock = threading.Lock()
_thread: Optional[threading.Thread] = None
_filter: Optional[str] = None
_dropped_seen = 0
_names: Dict[str, str] = {}
_warning = logging.getLogger("pyensign_fast")

_PREFIXES = (
    ("ensign_client", "pyensign_fast.client"),
    ("_core", "pyensign_fast.client"),
    ("ensign_server", "pyensign_fast.server"),
)


def _directive(level: int) -> str:
    if level <= TRACE:
        return "trace"
    if level <= logging.DEBUG:
        return "debug"
    if level <= logging.INFO:
        return "info"
    if level <= logging.WARNING:
        return "warn"
    if level <= logging.ERROR:
        return "error"
    return "off"


def derived_filter() -> str:
    """The Rust-side filter for the current levels of the Python loggers (or
    ``PYENSIGN_FAST_LOG`` when it is set)."""
    spec = os.environ.get(ENV_FILTER, "").strip()
    if spec:
        return spec
    client = _directive(logging.getLogger("pyensign_fast.client").getEffectiveLevel())
    server = _directive(logging.getLogger("pyensign_fast.server").getEffectiveLevel())
    return f"warn,ensign_client={client},_core={client},ensign_server={server}"


def refresh_filter() -> None:
    """Re-derives the Rust-side filter (call after changing the loggers' levels; clients
    and servers do it when created). Raises ``ValueError`` for a bad ``PYENSIGN_FAST_LOG``."""
    global _filter
    spec = derived_filter()
    if spec != _filter:
        _core._logs_install(spec)
        _filter = spec


def install() -> None:
    """Installs the subscriber and starts the drain thread (once per process; cheap
    afterwards), and refreshes the filter."""
    global _thread
    refresh_filter()
    if _thread is None:
        with _install_lock:
            if _thread is None:
                t = threading.Thread(target=_run, name="pyensign-fast-logs", daemon=True)
                t.start()
                _thread = t


def _logger_name(target: str) -> str:
    name = _names.get(target)
    if name is None:
        crate, _, rest = target.partition("::")
        base = next((py for rs, py in _PREFIXES if rs == crate), None)
        if base is None:
            base, rest = "pyensign_fast.lib", target
        name = ".".join([base, *(p for p in rest.split("::") if p)])
        _names[target] = name
    return name


def _dispatch(records: List[Tuple[Any, ...]]) -> None:
    global _dropped_seen
    start = logging._startTime  # type: ignore[attr-defined]
    for created, level, target, message, path, line, thread in records:
        name = _logger_name(target)
        logger = logging.getLogger(name)
        if not logger.isEnabledFor(level):
            continue
        record = logger.makeRecord(name, level, path or target, line, message, (), None)
        record.created = created
        record.msecs = (created - int(created)) * 1000.0
        record.relativeCreated = (created - start) * 1000.0
        record.rust_target = target
        if thread:
            record.threadName = thread
        logger.handle(record)
    dropped_now = _core._logs_dropped()
    if dropped_now != _dropped_seen:
        _warning.warning(
            "%d log record(s) of the Rust core were dropped: the log queue (%d) was full",
            dropped_now - _dropped_seen,
            _core._LOGS_CAPACITY,
        )
        _dropped_seen = dropped_now


def flush() -> None:
    """Hands every record queued so far to :mod:`logging`, on this thread; when it returns,
    each record emitted before the call has been handled (tests, before reading caplog)."""
    with _lock:
        records = _core._logs_take()
        if records:
            _dispatch(records)


def dropped() -> int:
    """Records dropped because the queue was full, since the process started."""
    return int(_core._logs_dropped())


def _run() -> None:
    while True:
        try:
            if _core._logs_wait(1.0):
                flush()
        except Exception:  # a failing handler must not end log forwarding
            try:
                sys.stderr.write("pyensign_fast: a log handler failed\n")
            except Exception:
                pass


def _after_fork_in_child() -> None:
    global _thread
    _core._logs_after_fork()
    if _thread is not None:
        _thread = None
        install()


os.register_at_fork(after_in_child=_after_fork_in_child)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (RFC 3339, UTC), ``level``, ``logger``,
    ``message``, and ``target`` (the Rust module) when the record came from Rust."""

    def format(self, record: logging.LogRecord) -> str:
        import datetime

        when = datetime.datetime.fromtimestamp(record.created, tz=datetime.timezone.utc)
        out: Dict[str, Any] = {
            "time": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        target = getattr(record, "rust_target", None)
        if target:
            out["target"] = target
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"
LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO}
LEVELS["debug"] = logging.DEBUG


def to_stderr(logger_name: str, level: str = "warn", fmt: str = "text") -> logging.Handler:
    """Sends ``logger_name``'s records at ``level`` (error, warn, info, debug) and above to
    stderr as text or JSON lines, and sets the Rust-side filter to match. Used by
    ``pyensign-fast serve --log-level/--log-format``."""
    if level not in LEVELS:
        raise ValueError(f"invalid log level {level!r}: want one of {', '.join(LEVELS)}")
    if fmt not in ("text", "json"):
        raise ValueError(f"invalid log format {fmt!r}: want text or json")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logger = logging.getLogger(logger_name)
    logger.setLevel(LEVELS[level])
    logger.addHandler(handler)
    logger.propagate = False
    install()
    return handler
