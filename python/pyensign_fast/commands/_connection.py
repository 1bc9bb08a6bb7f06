"""Connection options shared by every client command, and running a command's coroutine
with its errors turned into messages and exit codes.

The options default to the client's environment variables, so a shell configured for
``Ensign()`` needs no flags: ``ENSIGN_ENDPOINT``, ``ENSIGN_INSECURE``,
``ENSIGN_NO_AUTHENTICATION``, ``ENSIGN_AUTH_URL``, ``ENSIGN_CLIENT_ID``,
``ENSIGN_CLIENT_SECRET``. A secret given with ``--client-secret`` is visible to other
users of the machine (``ps``): prefer the environment or ``--cred-path``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any, Awaitable, Callable, Dict

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "add_connection_arguments",
    "client_options",
    "describe",
    "make_client",
    "positive_float",
    "positive_int",
    "run_main",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A failure to report as ``error: <message>`` with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _env(name: str, fallback: str) -> str:
    return os.environ.get(name) or fallback


def add_connection_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (defaults from the ENSIGN_* environment variables)")
    g.add_argument(
        "--endpoint",
        metavar="HOST:PORT",
        help="Ensign server (default: $ENSIGN_ENDPOINT, else ensign.rotational.app:443)",
    )
    g.add_argument(
        "--insecure",
        action="store_true",
        help="plaintext gRPC, no TLS (default: $ENSIGN_INSECURE)",
    )
    g.add_argument(
        "--no-auth",
        action="store_true",
        help="send no token, e.g. for `pyensign-fast serve` (default: $ENSIGN_NO_AUTHENTICATION)",
    )
    g.add_argument(
        "--auth-url",
        metavar="URL",
        help="token endpoint (default: $ENSIGN_AUTH_URL, else https://auth.rotational.app)",
    )
    g.add_argument(
        "--cred-path", metavar="FILE", help="JSON API key file with ClientID and ClientSecret"
    )
    g.add_argument("--client-id", metavar="ID", help="API key id (default: $ENSIGN_CLIENT_ID)")
    g.add_argument(
        "--client-secret",
        metavar="SECRET",
        help="API key secret (default: $ENSIGN_CLIENT_SECRET; prefer the variable)",
    )
    g.add_argument(
        "--timeout",
        type=positive_float,
        default=30.0,
        metavar="SECONDS",
        help="give up on a lost connection or on outstanding acks after this (default 30)",
    )


def client_options(args: argparse.Namespace) -> Dict[str, Any]:
    """``Ensign`` keyword arguments for the options given; what is not given is left to
    the client, which reads the same environment variables."""
    options: Dict[str, Any] = {}
    if args.endpoint:
        options["endpoint"] = args.endpoint
    if args.insecure:
        options["insecure"] = True
    if args.no_auth:
        options["auth_url"] = ""
    elif args.auth_url:
        options["auth_url"] = args.auth_url
    if args.cred_path:
        options["cred_path"] = args.cred_path
    if args.client_id:
        options["client_id"] = args.client_id
    if args.client_secret:
        options["client_secret"] = args.client_secret
    options["reconnect_timeout"] = args.timeout
    return options


def make_client(args: argparse.Namespace, **extra: Any) -> Any:
    """An asyncio ``Ensign`` for the command's options; bad settings (no credentials, a
    malformed endpoint, an unreadable key file) become a usage error."""
    from pyensign_fast.ensign import Ensign

    try:
        return Ensign(**client_options(args), **extra)
    except (ValueError, TypeError) as e:
        raise CommandError(describe(e), exit_code=EXIT_USAGE) from None


def describe(e: BaseException) -> str:
    """An exception as one line for ``error: ...`` (never a secret: our errors hold none)."""
    if isinstance(e, ValueError) and len(e.args) > 1:
        # pyensign's credential errors carry (message, detail).
        return ": ".join(str(a) for a in e.args)
    text = str(e) or type(e).__name__
    from pyensign_fast.exceptions import PyEnsignError

    if isinstance(e, PyEnsignError) and type(e).__name__ not in text:
        return f"{type(e).__name__}: {text}"
    return text


def run_main(main: Callable[[], Awaitable[int]]) -> int:
    """Run ``main()`` on a new event loop; errors become ``error: ...`` on stderr and an
    exit code (1, or the ``CommandError``'s), Ctrl-C becomes 130."""
    from pyensign_fast.exceptions import PyEnsignError

    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except CommandError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader of stdout went away (``| head``): stop quietly, and keep Python from
        # complaining when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except (PyEnsignError, OSError, ValueError, TypeError, asyncio.TimeoutError) as e:
        print(f"error: {describe(e)}", file=sys.stderr)
        return EXIT_FAILURE
