"""``pyensign-fast topics [ls|create|destroy|exists] [NAME...]``: topic administration.

* ``topics`` / ``topics ls``: the project's topics, as a table or (``--json``) a JSON
  array of ``{"id", "name", "project_id", "status", "offset", "deduplication",
  "created", "modified"}``.
* ``topics create NAME...``: creates each topic (``--if-missing`` skips existing ones
  instead of failing); prints the ids.
* ``topics destroy TOPIC...``: destroys topics and their events (by name or id). On a
  terminal it asks first, unless ``--yes``.
* ``topics exists NAME``: prints ``true`` or ``false``; exit status 0 if the topic
  exists, 1 if not (like ``test``), 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List

from pyensign_fast.commands._connection import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_connection_arguments,
    describe,
    make_client,
    run_main,
)
from pyensign_fast.commands._output import print_table, topic_json

__all__ = ["add_arguments", "run"]

ACTIONS = ("ls", "create", "destroy", "exists")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=ACTIONS, default="ls", help="(default ls)")
    p.add_argument("names", nargs="*", metavar="NAME", help="topic names (or ids for destroy)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--if-missing", action="store_true", help="create: skip existing topics")
    p.add_argument("-y", "--yes", action="store_true", help="destroy: do not ask")
    add_connection_arguments(p)


async def _ls(client: Any, args: argparse.Namespace) -> int:
    topics = [topic_json(t) for t in await client.get_topics()]
    topics.sort(key=lambda t: t["name"] or "")
    if args.json:
        print(json.dumps(topics, indent=2))
    else:
        rows = [[t["name"], t["id"], t["status"], t["created"]] for t in topics]
        print_table(["name", "id", "status", "created"], rows, max_width=0)
    return EXIT_OK


async def _create(client: Any, args: argparse.Namespace) -> int:
    created: Dict[str, Any] = {}
    for name in args.names:
        if args.if_missing and await client.topic_exists(name):
            created[name] = {"id": await client.topic_id(name), "created": False}
            continue
        created[name] = {"id": await client.create_topic(name), "created": True}
    if args.json:
        print(json.dumps(created, indent=2))
    else:
        for name, info in created.items():
            print(f"{name}\t{info['id']}" + ("" if info["created"] else "\t(exists)"))
    return EXIT_OK


def _confirm(names: List[str]) -> bool:
    if not sys.stdin.isatty():
        return True
    answer = input(f"destroy {', '.join(names)} and all their events? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _destroy(client: Any, args: argparse.Namespace) -> int:
    if not args.yes and not _confirm(args.names):
        print("nothing destroyed", file=sys.stderr)
        return EXIT_FAILURE
    for name in args.names:
        await client.destroy_topic(name)
        if not args.json:
            print(f"destroyed {name}")
    if args.json:
        print(json.dumps({"destroyed": args.names}))
    return EXIT_OK


async def _exists(client: Any, args: argparse.Namespace) -> int:
    from pyensign_fast.exceptions import PyEnsignError

    name = args.names[0]
    try:
        exists = bool(await client.topic_exists(name))
    except (PyEnsignError, OSError) as e:
        # 1 means "does not exist" here, so errors exit 2.
        raise CommandError(describe(e), exit_code=EXIT_USAGE) from None
    print(json.dumps({"name": name, "exists": exists}) if args.json else str(exists).lower())
    return EXIT_OK if exists else EXIT_FAILURE


async def _main(args: argparse.Namespace) -> int:
    if args.action == "ls" and args.names:
        raise CommandError("topics ls takes no names", exit_code=EXIT_USAGE)
    if args.action in ("create", "destroy") and not args.names:
        raise CommandError(f"topics {args.action} needs at least one NAME", EXIT_USAGE)
    if args.action == "exists" and len(args.names) != 1:
        raise CommandError("topics exists takes one NAME", exit_code=EXIT_USAGE)
    client = make_client(args)
    try:
        action = {"ls": _ls, "create": _create, "destroy": _destroy, "exists": _exists}
        return await action[args.action](client, args)
    finally:
        await client.close(timeout=args.timeout)


def run(args: argparse.Namespace) -> int:
    return run_main(lambda: _main(args))
