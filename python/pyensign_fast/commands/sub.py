"""``pyensign-fast sub TOPIC...``: print the events published to topics from now on, and
ack each once printed (kcat ``-C`` / ``nats sub`` style).

Subscriptions are live-only (an Ensign server does not replay; use ``query`` for
history). Once the server accepted the subscription, ``subscribed to ...`` goes to
stderr: events published after that line are delivered. Output on stdout:

* ``--format raw`` (default): each event's data, then the delimiter (newline);
* ``--format json``: one JSON object per line (see :mod:`._output`).

Output is flushed at once on a terminal, otherwise within 50 ms of an event (so a pipe
gets large writes under load and no event waits long). ``--count N`` exits after N
events; an error that ends the subscription exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Callable, Dict, Optional

from pyensign_fast.commands._connection import (
    EXIT_OK,
    CommandError,
    add_connection_arguments,
    make_client,
    positive_int,
    run_main,
)
from pyensign_fast.commands._output import event_json, json_line
from pyensign_fast.commands._records import parse_delimiter

__all__ = ["add_arguments", "run"]

# Longest an event printed to a pipe or file waits in the output buffer.
FLUSH_INTERVAL = 0.05


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("topics", nargs="+", metavar="TOPIC", help="topic names or ids")
    p.add_argument("--format", choices=("raw", "json"), default="raw", help="(default raw)")
    p.add_argument("-n", "--count", type=positive_int, help="exit after N events")
    p.add_argument("-D", "--delimiter", default="\\n", help="after each raw event (default '\\n')")
    add_connection_arguments(p)


class _Flusher:
    """Flushes ``out`` at most every ``FLUSH_INTERVAL`` while events arrive, and always
    within that time of the last one (a timer on the loop)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.timer: Optional[asyncio.TimerHandle] = None
        self.interactive = bool(getattr(out, "isatty", lambda: False)())
        self.error: Optional[OSError] = None

    def _tick(self) -> None:
        self.timer = None
        try:
            self.out.flush()
        except OSError as e:  # e.g. the reader of a pipe left: raised with the next event
            self.error = e

    def written(self) -> None:
        if self.error is not None:
            raise self.error
        if self.interactive:
            self.out.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, self._tick)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.out.flush()


def _writer(args: argparse.Namespace, names: Dict[str, str]) -> Callable[[Any], None]:
    if args.format == "json":
        out = sys.stdout

        def write_json(event: Any) -> None:
            out.write(json_line(event_json(event, names)))
            out.write("\n")

        return write_json
    binary = sys.stdout.buffer
    delimiter = parse_delimiter(args.delimiter)

    def write_raw(event: Any) -> None:
        binary.write(event.data)
        binary.write(delimiter)

    return write_raw


async def _main(args: argparse.Namespace) -> int:
    try:
        parse_delimiter(args.delimiter)
    except ValueError as e:
        raise CommandError(str(e), exit_code=2) from None
    client = make_client(args)
    flusher: Optional[_Flusher] = None
    try:
        subscription = client.subscribe(*args.topics)
        topics = await subscription.ready()
        names = {str(tid): name for name, tid in topics.items()}
        print(f"subscribed to {', '.join(sorted(topics))}", file=sys.stderr, flush=True)
        write = _writer(args, names)
        flusher = _Flusher(sys.stdout.buffer if args.format == "raw" else sys.stdout)
        received = 0
        limit = args.count
        async for event in subscription:
            write(event)
            flusher.written()
            await event.ack()
            received += 1
            if limit is not None and received >= limit:
                break
        else:
            raise CommandError("the subscription ended")  # the server went away for good
        await subscription.aclose()
        return EXIT_OK
    finally:
        if flusher is not None:
            try:
                flusher.close()
            except BrokenPipeError:
                pass
        await client.close(timeout=args.timeout)


def run(args: argparse.Namespace) -> int:
    return run_main(lambda: _main(args))
