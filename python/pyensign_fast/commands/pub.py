"""``pyensign-fast pub TOPIC``: publish events, kcat ``-P`` / ``nats pub`` style.

Input: one event per line of stdin (or of each ``--file``; ``-`` is stdin), or one
``DATA`` argument published ``--count`` times. Lines are split on ``--delimiter``
(newline by default, which is not part of the event); blank lines are skipped and
counted. Events go out in batches: one ``publish()`` call per batch of up to ``--batch``
lines, as soon as that many lines are there or the input pauses. ``--rate`` paces them.

At the end the command flushes (waits for every ack or nack, up to ``--timeout``) and
prints a summary on stderr::

    published 3 events to "readings" in 0.01 s (412 events/s): 3 acked, 0 nacked

It exits 1 if any event was nacked or is still without an outcome, or on an error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import IO, Any, Dict, List, Optional

from pyensign_fast.commands._connection import (
    EXIT_FAILURE,
    EXIT_OK,
    CommandError,
    add_connection_arguments,
    describe,
    make_client,
    positive_float,
    positive_int,
    run_main,
)
from pyensign_fast.commands._records import Records, parse_delimiter

__all__ = ["add_arguments", "run"]

# How many nacks the summary lists one by one.
NACKS_SHOWN = 5


def _meta_pair(text: str) -> tuple:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("topic", help="topic name or id")
    p.add_argument("data", nargs="?", help="publish this payload (--count times) instead of lines")
    p.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="FILE",
        help="read events from FILE, one per line ('-' is stdin); repeatable",
    )
    p.add_argument("-m", "--mimetype", default="text/plain", help="(default text/plain)")
    p.add_argument("--schema", default="Unknown", metavar="NAME", help="event type name")
    p.add_argument("--schema-version", default="0.0.0", metavar="SEMVER", help="(default 0.0.0)")
    p.add_argument(
        "--meta", action="append", type=_meta_pair, metavar="KEY=VALUE", help="repeatable"
    )
    p.add_argument(
        "-n", "--count", type=positive_int, help="publish DATA N times, or at most N lines"
    )
    p.add_argument("--rate", type=positive_float, metavar="EVENTS/S", help="pace the events")
    p.add_argument(
        "--batch", type=positive_int, default=1000, help="events per publish call (default 1000)"
    )
    p.add_argument("-D", "--delimiter", default="\\n", help="record delimiter (default '\\n')")
    p.add_argument("--ensure-exists", action="store_true", help="create the topic if needed")
    add_connection_arguments(p)


class _Outcomes:
    """Counts nacks (the callback runs on the event loop). NOTE: there is no per-event
    ``on_ack`` (~1 µs of Python each): once the client has flushed or closed, every
    event published has its outcome, so the acks are the events not nacked."""

    def __init__(self) -> None:
        self.nacked = 0
        self.nacks: List[Any] = []

    def on_nack(self, nack: Any) -> None:
        self.nacked += 1
        if len(self.nacks) < NACKS_SHOWN:
            self.nacks.append(nack)


class _Pacer:
    """Spaces events ``1/rate`` apart on average, in bursts of at most 10 ms' worth."""

    def __init__(self, rate: Optional[float]) -> None:
        self.rate = rate
        self.start = time.perf_counter()
        self.sent = 0

    def burst(self, batch: int) -> int:
        if self.rate is None:
            return batch
        return max(1, min(batch, int(self.rate / 100)))

    async def wait(self, n: int) -> None:
        if self.rate is not None:
            delay = self.start + self.sent / self.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        self.sent += n


def _topic_hint(e: Exception, args: argparse.Namespace) -> Exception:
    """A missing topic (or a project without topics) gets a hint about --ensure-exists."""
    from pyensign_fast.exceptions import UnknownTopicError

    missing = isinstance(e, UnknownTopicError) or (
        getattr(e, "name", "") == "FAILED_PRECONDITION" and "no topics" in str(e)
    )
    if missing and not args.ensure_exists:
        return CommandError(f"topic {args.topic!r}: {describe(e)} (--ensure-exists creates it)")
    return e


def _open_inputs(args: argparse.Namespace) -> List[IO[bytes]]:
    if args.data is not None:
        if args.file:
            raise CommandError("give either DATA or --file, not both", exit_code=2)
        return []
    streams: List[IO[bytes]] = []
    for path in args.file or ["-"]:
        if path == "-":
            streams.append(sys.stdin.buffer)
            continue
        try:
            streams.append(open(path, "rb"))
        except OSError as e:
            raise CommandError(f"cannot read {path}: {e.strerror or e}", exit_code=2) from None
    return streams


async def _main(args: argparse.Namespace) -> int:
    from pyensign_fast.events import Event
    from pyensign_fast.exceptions import EnsignRPCError, UnknownTopicError

    try:
        delimiter = parse_delimiter(args.delimiter)
        Event(b"x", args.mimetype, args.schema, args.schema_version)  # validates them once
    except (ValueError, TypeError) as e:
        raise CommandError(str(e), exit_code=2) from None
    meta: Optional[Dict[str, str]] = dict(args.meta) if args.meta else None
    streams = _open_inputs(args)
    if args.data is not None and not args.data:
        raise CommandError("DATA must not be empty", exit_code=2)

    client = make_client(args)
    outcomes = _Outcomes()
    pacer = _Pacer(args.rate)
    burst = pacer.burst(args.batch)
    published = 0
    records = Records(streams, delimiter) if args.data is None else None
    started = time.perf_counter()

    async def publish(chunk: List[bytes]) -> None:
        nonlocal published
        for i in range(0, len(chunk), burst):
            part = chunk[i : i + burst]
            await pacer.wait(len(part))
            events = [
                Event(data, args.mimetype, args.schema, args.schema_version, meta) for data in part
            ]
            try:
                await client.publish(
                    args.topic,
                    events,
                    on_nack=outcomes.on_nack,
                    ensure_exists=args.ensure_exists and published == 0,
                )
            except (UnknownTopicError, EnsignRPCError) as e:
                raise _topic_hint(e, args) from None
            published += len(part)

    try:
        if records is None:
            payload = str(args.data).encode()
            total = args.count or 1
            while published < total:
                await publish([payload] * min(args.batch, total - published))
        else:
            pending: List[bytes] = []
            limit = args.count
            async for chunk in records:
                pending.extend(chunk)
                if limit is not None and published + len(pending) >= limit:
                    del pending[limit - published :]
                    records.stop()
                    break
                # A full batch goes now; a partial one only when no more input is waiting.
                while len(pending) >= args.batch:
                    await publish(pending[: args.batch])
                    del pending[: args.batch]
                if pending and not records.more_ready():
                    await publish(pending)
                    pending = []
            if pending:
                await publish(pending)
    except BaseException:
        if records is not None:
            records.stop()
        await client.close(timeout=args.timeout)
        raise
    if records is not None:
        records.stop()
    return await _finish(args, client, outcomes, published, records, started)


async def _finish(
    args: argparse.Namespace,
    client: Any,
    outcomes: _Outcomes,
    published: int,
    records: Optional[Records],
    started: float,
) -> int:
    """Waits for every outcome, closes the client, prints the summary."""
    from pyensign_fast import nack as nack_codes

    timed_out = False
    try:
        await client.flush(timeout=args.timeout)
    except asyncio.TimeoutError:
        timed_out = True
    elapsed = time.perf_counter() - started
    # After a timeout, closing nacks what is still pending (UNPROCESSED): then every
    # event has exactly one outcome and the counts below are exact.
    await client.close(timeout=1.0 if timed_out else args.timeout)
    acked = published - outcomes.nacked
    rate = published / elapsed if elapsed > 0 else 0.0
    err = sys.stderr
    print(
        f'published {published:,} events to "{args.topic}" in {elapsed:.2f} s '
        f"({rate:,.0f} events/s): {acked:,} acked, {outcomes.nacked:,} nacked",
        file=err,
    )
    if records is not None and records.skipped:
        print(f"skipped {records.skipped:,} empty lines (an event needs data)", file=err)
    if timed_out:
        print(f"not every event had its ack after {args.timeout:g} s", file=err)
    for nack in outcomes.nacks:
        name = nack_codes.names_by_value.get(nack.code, str(nack.code))
        print(f"nack {name} ({nack.code}): {nack.error}", file=err)
    if outcomes.nacked > len(outcomes.nacks):
        print(f"... and {outcomes.nacked - len(outcomes.nacks):,} more nacks", file=err)
    return EXIT_FAILURE if outcomes.nacked or timed_out else EXIT_OK


def run(args: argparse.Namespace) -> int:
    return run_main(lambda: _main(args))
