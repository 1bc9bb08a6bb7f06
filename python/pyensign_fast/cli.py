"""The ``pyensign-fast`` command (also ``python -m pyensign_fast``).

Subcommands are registered in ``SUBCOMMANDS``: each entry is a ``(name, help, add_arguments,
run)`` tuple, where ``add_arguments(parser)`` declares its options and ``run(args)`` returns
the exit code. Add a subcommand by appending an entry. The client commands (``pub``,
``sub``, ``query``, ``topics``, ``info``, ``status``, ``bench``) live in
:mod:`pyensign_fast.commands`, one module each.

``serve`` runs a local Ensign server until SIGINT or SIGTERM::

    pyensign-fast serve [--host H] [--port 5356] [--data-dir DIR [--repair] | --memory] [--auth]
                        [--access-ttl SECONDS] [--refresh-ttl SECONDS]
                        [--metrics-addr HOST:PORT]
                        [--log-level error|warn|info|debug] [--log-format text|json]

Once it listens it prints ``Ensign server listening on HOST:PORT`` (and, with ``--auth``,
``auth url: ...``, ``client id: ...``, ``client secret: ...``; with metrics,
``metrics: http://HOST:PORT/metrics``; with ``--data-dir``, ``recovery: ...``, what the
log replay found) and flushes stdout. Prometheus metrics are off
unless ``--metrics-addr`` is given or ``ENSIGN_MONITORING_ENABLED`` is true (then at
``ENSIGN_MONITORING_BIND_ADDR``, default ``:1205``; an empty host means ``--host``).
The server's logs go to stderr at ``--log-level`` (default ``ENSIGN_LOG_LEVEL``, else
``warn``) as text or, with ``--log-format json``, one JSON object per line (see
:mod:`pyensign_fast.logs`); at ``info`` the listening line is also a log record.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Callable, List, Optional, Sequence, Tuple

from pyensign_fast import commands as _client_commands

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

DEFAULT_PORT = 5356
DEFAULT_METRICS_ADDR = ":1205"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 second: {value}")
    return value


def _serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"gRPC port, 0 = any (default {DEFAULT_PORT})",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data-dir", metavar="DIR", help="keep data durably in DIR")
    where.add_argument("--memory", action="store_true", help="keep data in memory (default)")
    p.add_argument("--auth", action="store_true", help="require tokens; serve the auth endpoints")
    p.add_argument("--http-port", type=_port, default=0, help="auth endpoints port (default: any)")
    p.add_argument("--client-id", help="client id of the API key (with --auth; default: made up)")
    p.add_argument("--client-secret", help="its secret (with --auth; default: made up)")
    p.add_argument(
        "--access-ttl",
        type=_seconds,
        metavar="SECONDS",
        help="access token lifetime (with --auth; default 3600, as Quarterdeck)",
    )
    p.add_argument(
        "--refresh-ttl",
        type=_seconds,
        metavar="SECONDS",
        help="refresh token lifetime (with --auth; default 7200, as Quarterdeck)",
    )
    p.add_argument(
        "--metrics-addr",
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (default: off, or "
        "ENSIGN_MONITORING_BIND_ADDR when ENSIGN_MONITORING_ENABLED is true)",
    )
    p.add_argument(
        "--repair",
        action="store_true",
        help="start even if data files are missing or damaged, repairing what can be",
    )
    p.add_argument(
        "--log-level",
        type=_log_level,
        default=None,
        help="log to stderr at this level: error, warn, info, debug "
        "(default: ENSIGN_LOG_LEVEL, else warn)",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="stderr log format: text, or json (one object per line)",
    )


LOG_LEVELS = ("error", "warn", "info", "debug")


def _log_level(text: str) -> str:
    level = text.strip().lower()
    level = {"warning": "warn", "trace": "debug", "fatal": "error", "panic": "error"}.get(
        level, level
    )
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"invalid log level {text!r}: want one of {', '.join(LOG_LEVELS)}"
        )
    return level


def _metrics_addr(args: argparse.Namespace) -> Optional[Tuple[str, int]]:
    """Where to serve metrics: ``--metrics-addr``, else the real server's environment
    variables; ``None`` when off. Raises ``ValueError`` for a malformed address."""
    addr = args.metrics_addr
    if addr is None:
        enabled = os.environ.get("ENSIGN_MONITORING_ENABLED", "").strip().lower()
        if enabled not in ("1", "true", "t", "yes", "on"):
            return None
        addr = os.environ.get("ENSIGN_MONITORING_BIND_ADDR") or DEFAULT_METRICS_ADDR
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"invalid metrics address {addr!r}: want HOST:PORT")
    return host.strip("[]") or args.host, int(port)


def _serve(args: argparse.Namespace) -> int:
    from pyensign_fast.server import LocalEnsign

    if not args.auth and (args.client_id or args.client_secret):
        print("error: --client-id and --client-secret need --auth", file=sys.stderr)
        return 2
    if not args.auth and (args.access_ttl or args.refresh_ttl):
        print("error: --access-ttl and --refresh-ttl need --auth", file=sys.stderr)
        return 2
    try:
        metrics = _metrics_addr(args)
        level = args.log_level or _log_level(os.environ.get("ENSIGN_LOG_LEVEL") or "warn")
    except (ValueError, argparse.ArgumentTypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from pyensign_fast import logs

    logs.to_stderr("pyensign_fast.server", level, args.log_format)
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server = LocalEnsign(
                data_dir=None if args.memory else args.data_dir,
                host=args.host,
                port=args.port,
                auth=args.auth,
                client_id=args.client_id,
                client_secret=args.client_secret,
                http_port=args.http_port,
                access_ttl=args.access_ttl,
                refresh_ttl=args.refresh_ttl,
                metrics_port=metrics[1] if metrics else None,
                metrics_host=metrics[0] if metrics else None,
                repair=args.repair,
            ).start()
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        try:
            print(f"Ensign server listening on {server.endpoint}")
            if args.auth:
                print(f"auth url: {server.auth_url}")
                print(f"client id: {server.client_id}")
                print(f"client secret: {server.client_secret}")
            if server.metrics_url:
                print(f"metrics: {server.metrics_url}")
            print(f"project id: {server.project_id}")
            print(f"data: {args.data_dir if args.data_dir and not args.memory else 'in memory'}")
            if args.data_dir and not args.memory:
                print(f"recovery: {server.recovery}")
            sys.stdout.flush()
            logs.flush()  # the startup records (the listening line at info) come out now
            while not stop.wait(0.5):
                pass
            if args.log_format == "text":  # JSON stderr stays JSON lines only
                print("shutting down", file=sys.stderr)
        finally:
            server.stop()
            logs.flush()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


Subcommand = Tuple[
    str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]
]


def _demo_arguments(p: argparse.ArgumentParser) -> None:
    from pyensign_fast import demo

    demo.add_arguments(p)


def _demo(args: argparse.Namespace) -> int:
    from pyensign_fast import demo

    return demo.run(args)


SUBCOMMANDS: List[Subcommand] = [
    ("serve", "run a local Ensign-compatible server", _serve_arguments, _serve),
    (
        "demo",
        "publish and consume a large stream through the embedded server",
        _demo_arguments,
        _demo,
    ),
    # pub, sub, query, topics, info, status, bench: one module each in commands/.
    *_client_commands.SUBCOMMANDS,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyensign-fast", description="pyensign-fast: a fast Ensign SDK and local server"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text, add_arguments, run in SUBCOMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
