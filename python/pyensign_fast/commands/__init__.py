"""The client commands of the ``pyensign-fast`` CLI (kcat / ``nats`` habits): ``pub``,
``sub``, ``query``, ``topics``, ``info``, ``status`` and ``bench``.

Each command is a module with ``add_arguments(parser)`` and ``run(args) -> int``;
``SUBCOMMANDS`` lists them for :mod:`pyensign_fast.cli`. Modules are imported only when
their command runs or its options are declared, and none imports the client at import
time, so ``pyensign-fast --help`` stays fast.

Conventions of every command: connection options from :mod:`._connection` (defaulting
to the client's ``ENSIGN_*`` environment variables); data on stdout, progress,
summaries and errors on stderr; exit status 0 on success, 1 on any failure (an error,
a nack, a missing event), 2 for bad usage, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
from typing import Callable, List, Tuple

__all__ = ["SUBCOMMANDS"]

Subcommand = Tuple[
    str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]
]


def _lazy(module: str) -> Tuple[Callable[[argparse.ArgumentParser], None], Callable[..., int]]:
    def add_arguments(p: argparse.ArgumentParser) -> None:
        importlib.import_module(f"pyensign_fast.commands.{module}").add_arguments(p)

    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(f"pyensign_fast.commands.{module}").run(args))

    return add_arguments, run


def _entry(name: str, module: str, help_text: str) -> Subcommand:
    add_arguments, run = _lazy(module)
    return (name, help_text, add_arguments, run)


SUBCOMMANDS: List[Subcommand] = [
    _entry("pub", "pub", "publish events: one per line from stdin or files, or one payload"),
    _entry("sub", "sub", "print the events published to topics from now on (and ack them)"),
    _entry("query", "query", "run an EnSQL query; rows as JSON lines or a table"),
    _entry("topics", "topics", "list, create, destroy topics, or check that one exists"),
    _entry("info", "info", "project and per-topic statistics"),
    _entry("status", "status", "the server's status and version"),
    _entry("bench", "bench", "measure publish / subscribe throughput and ack latency"),
]
