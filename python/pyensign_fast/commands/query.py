"""``pyensign-fast query "SELECT * FROM topic [OFFSET n] [LIMIT n]"``: run an EnSQL
query over the stored events of a topic.

Rows go to stdout as JSON lines (``--format json``, the default when stdout is not a
terminal: the same objects as ``sub --format json``), as a table (``--format table``,
the default on a terminal), or as raw data lines (``--format raw``). The row count goes
to stderr. No rows is not an error (exit 0); a query the server rejects exits 1 with its
message. ``--param NAME=VALUE`` passes typed parameters (int, float, true/false, else a
string); Ensign servers currently ignore them, as they ignore WHERE.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Dict, List

from pyensign_fast.commands._connection import (
    EXIT_OK,
    CommandError,
    add_connection_arguments,
    make_client,
    run_main,
)
from pyensign_fast.commands._output import event_json, json_line, print_table
from pyensign_fast.commands._records import parse_delimiter

__all__ = ["add_arguments", "parse_param", "run"]

PAGE = 1000


def parse_param(text: str) -> tuple:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    value: Any = raw
    if raw in ("true", "false"):
        value = raw == "true"
    else:
        for kind in (int, float):
            try:
                value = kind(raw)
                break
            except ValueError:
                continue
    return name, value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help='EnSQL, e.g. "SELECT * FROM readings LIMIT 10"')
    p.add_argument(
        "--format",
        choices=("json", "table", "raw"),
        help="rows as JSON lines, a table or raw data (default: table on a terminal, else json)",
    )
    p.add_argument("--param", action="append", type=parse_param, metavar="NAME=VALUE")
    p.add_argument("--include-duplicates", action="store_true", help="also duplicate events")
    p.add_argument("-D", "--delimiter", default="\\n", help="after each raw row (default '\\n')")
    add_connection_arguments(p)


def _table_row(row: Dict[str, Any]) -> List[Any]:
    data = row.get("data")
    if data is None:
        data = "base64:" + row.get("data_base64", "")
    return [row["id"], row["mimetype"], row["type"], row["created"], data]


async def _main(args: argparse.Namespace) -> int:
    from pyensign_fast.exceptions import InvalidQueryError, QueryNoRows

    fmt = args.format or ("table" if sys.stdout.isatty() else "json")
    try:
        delimiter = parse_delimiter(args.delimiter)
    except ValueError as e:
        raise CommandError(str(e), exit_code=2) from None
    client = make_client(args)
    count = 0
    table: List[List[Any]] = []
    try:
        try:
            cursor = await client.query(
                args.query, dict(args.param or []), include_duplicates=args.include_duplicates
            )
        except QueryNoRows:
            cursor = None
        except InvalidQueryError as e:
            raise CommandError(f"invalid query: {e}") from None
        while cursor is not None:
            rows = await cursor.fetchmany(PAGE)
            if not rows:
                break
            count += len(rows)
            if fmt == "raw":
                out = sys.stdout.buffer
                for event in rows:
                    out.write(event.data)
                    out.write(delimiter)
            elif fmt == "json":
                sys.stdout.write("".join(json_line(event_json(e)) + "\n" for e in rows))
            else:
                table.extend(_table_row(event_json(e)) for e in rows)
        if fmt == "table":
            print_table(["id", "mimetype", "type", "created", "data"], table)
        sys.stdout.flush()
        print(f"{count:,} rows", file=sys.stderr)
        return EXIT_OK
    finally:
        await client.close(timeout=args.timeout)


def run(args: argparse.Namespace) -> int:
    return run_main(lambda: _main(args))
