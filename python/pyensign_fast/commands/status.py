"""``pyensign-fast status``: the server's status, version and uptime (``Ensign.status()``).

Prints ``status: HEALTHY``, ``version: ...``, ``uptime: ...`` (``--json``:
``{"status", "version", "uptime_seconds"}``). Exit status 0 when the server is HEALTHY,
1 otherwise (e.g. MAINTENANCE) or when it cannot be reached: usable as a health check.
"""

from __future__ import annotations

import argparse
import json

from pyensign_fast.commands._connection import (
    EXIT_FAILURE,
    EXIT_OK,
    add_connection_arguments,
    make_client,
    run_main,
)

__all__ = ["add_arguments", "run"]

# ensign.v1beta1.ServiceState.Status
STATUS_NAMES = {
    0: "UNKNOWN",
    1: "HEALTHY",
    2: "UNHEALTHY",
    3: "DANGER",
    4: "OFFLINE",
    5: "MAINTENANCE",
}
HEALTHY = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="JSON output")
    add_connection_arguments(p)


async def _main(args: argparse.Namespace) -> int:
    client = make_client(args)
    try:
        state = await client.status()
    finally:
        await client.close(timeout=args.timeout)
    code = int(getattr(state.status, "value", state.status))
    uptime = state.uptime
    seconds = uptime.seconds + uptime.nanos / 1e9 if uptime is not None else None
    name = STATUS_NAMES.get(code, str(code))
    if args.json:
        print(json.dumps({"status": name, "version": state.version, "uptime_seconds": seconds}))
    else:
        print(f"status: {name}")
        print(f"version: {state.version}")
        if seconds is not None:
            print(f"uptime: {seconds:.1f} s")
    return EXIT_OK if code == HEALTHY else EXIT_FAILURE


def run(args: argparse.Namespace) -> int:
    return run_main(lambda: _main(args))
