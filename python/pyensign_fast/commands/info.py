"""``pyensign-fast info [TOPIC...]``: the project's statistics (``Ensign.info()``),
for every topic or the ones named; ``--json`` prints ``{"project_id", "num_topics",
"num_readonly_topics", "events", "duplicates", "data_size_bytes", "topics": [...]}``.

On the hosted service these counts are gathered in the background every ~75 s; the
local server's are exact.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from pyensign_fast.commands._connection import (
    EXIT_OK,
    add_connection_arguments,
    make_client,
    run_main,
)
from pyensign_fast.commands._output import print_table, project_json

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("topics", nargs="*", metavar="TOPIC", help="only these topics (names or ids)")
    p.add_argument("--json", action="store_true", help="JSON output")
    add_connection_arguments(p)


async def _main(args: argparse.Namespace) -> int:
    from pyensign_fast.utils.ulid import ULID

    client = make_client(args)
    try:
        names: Dict[str, str] = {}
        ids: List[str] = []
        for topic in args.topics:
            try:
                ids.append(str(ULID.from_str(topic)))
            except ValueError:
                ids.append(str(await client.topic_id(topic)))
        project = await client.info(ids)
        if project.topics:
            names = {str(t.id): t.name for t in await client.get_topics()}
        info = project_json(project, names)
    finally:
        await client.close(timeout=args.timeout)
    if args.json:
        print(json.dumps(info, indent=2))
        return EXIT_OK
    for key in ("project_id", "num_topics", "num_readonly_topics", "events", "duplicates"):
        print(f"{key}: {info[key]}")
    print(f"data_size_bytes: {info['data_size_bytes']}")
    if info["topics"]:
        rows: List[List[Any]] = [
            [t["name"] or "", t["topic_id"], t["events"], t["duplicates"], t["data_size_bytes"]]
            for t in info["topics"]
        ]
        print()
        numeric = ("events", "duplicates", "bytes")
        print_table(["topic", "id", "events", "duplicates", "bytes"], rows, numeric=numeric)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    return run_main(lambda: _main(args))
