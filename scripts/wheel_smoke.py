"""Smoke test of an *installed* pyensign-fast (a wheel or an sdist build), run outside the
source tree by ``scripts/check_wheel.py`` and by the release workflow on every platform.

It needs only the standard library and the installed package, and checks, in order:

1. ``pyensign_fast`` and its extension come from the environment's site-packages, not
   from a source checkout (so a stray ``python/`` on ``sys.path`` cannot pass for the wheel);
2. the asyncio API against an in-process ``LocalEnsign``: publish a batch with ``on_ack``,
   ``flush``, then read every event back through ``subscribe`` and ack it;
3. the blocking API (``pyensign_fast.sync``) against the same server;
4. the ``pyensign-fast serve`` console script as a subprocess on a free port (``--port 0``,
   the port read from its first line): publish to it, then stop it with a signal and check
   that it exits cleanly.

Every wait is bounded (``TIMEOUT``), so a broken wheel fails instead of hanging. Prints one
line per check and exits non-zero on the first failure::

    python scripts/wheel_smoke.py
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

TIMEOUT = 60.0  # seconds; generous, for a loaded CI machine
EVENTS = 2000


def check_installed() -> None:
    import pyensign_fast
    from pyensign_fast import _core

    package = Path(pyensign_fast.__file__).resolve().parent
    roots = {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    if not any(root in package.parents for root in roots):
        raise SystemExit(f"pyensign_fast comes from {package}, not from {sorted(roots)}")
    if (package.parent / "pyproject.toml").exists() or (package.parents[1] / "Cargo.toml").exists():
        raise SystemExit(f"pyensign_fast comes from a source tree: {package}")
    print(f"ok   installed: {package} ({Path(_core.__file__).name})")


async def check_async() -> None:
    from pyensign_fast.events import Event
    from pyensign_fast.server import LocalEnsign

    async with LocalEnsign() as srv:
        client = srv.client()
        try:
            await client.create_topic("smoke")
            sub = client.subscribe("smoke")
            await asyncio.wait_for(sub.ready(), TIMEOUT)
            acks: list[object] = []
            events = [Event(f"event {i}".encode(), "text/plain") for i in range(EVENTS)]
            await client.publish("smoke", events, on_ack=acks.append)
            await client.flush(timeout=TIMEOUT)
            if len(acks) != EVENTS or not all(e.acked() for e in events):
                raise SystemExit(f"asyncio publish: {len(acks)} of {EVENTS} events acked")

            async def read_all() -> list[bytes]:
                got = []
                async for event in sub:
                    got.append(event.data)
                    await event.ack()
                    if len(got) == EVENTS:
                        break
                return got

            got = await asyncio.wait_for(read_all(), TIMEOUT)
            await sub.aclose()
            if got != [e.data for e in events]:
                raise SystemExit("asyncio subscribe: events differ from those published")
        finally:
            await client.close(timeout=TIMEOUT)
    print(f"ok   asyncio API: {EVENTS} events published, acked, read back through LocalEnsign")


def publish_sync(endpoint: str, topic: str) -> None:
    from pyensign_fast.sync import Ensign, Event

    with Ensign(endpoint=endpoint, insecure=True, auth_url="") as client:
        client.ensure_topic_exists(topic)
        sub = client.subscribe(topic)
        sub.ready()
        events = [Event(f"sync {i}".encode(), "text/plain") for i in range(100)]
        client.publish(topic, events)
        for event in events:
            client.wait_for_ack(event, timeout=TIMEOUT)
        got = []
        for event in sub:
            got.append(event.data)
            event.ack()
            if len(got) == len(events):
                break
        sub.close()
        if got != [e.data for e in events]:
            raise SystemExit(f"sync API against {endpoint}: events differ from those published")


def check_sync() -> None:
    from pyensign_fast.server import LocalEnsign

    with LocalEnsign() as srv:
        publish_sync(srv.endpoint, "sync-smoke")
    print("ok   sync API: 100 events published, acked, read back through LocalEnsign")


def console_script() -> str:
    name = "pyensign-fast.exe" if os.name == "nt" else "pyensign-fast"
    path = Path(sysconfig.get_path("scripts")) / name
    if not path.exists():
        raise SystemExit(f"the console script is missing: {path}")
    return str(path)


def first_line(proc: subprocess.Popen) -> str:
    """The process's first line of output, waited for at most ``TIMEOUT`` seconds."""
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(TIMEOUT)
    if not line:
        raise SystemExit(f"pyensign-fast serve printed nothing in {TIMEOUT:.0f} s")
    return line[0].strip()


def check_serve() -> None:
    proc = subprocess.Popen(
        [console_script(), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = first_line(proc)
        if not first.startswith("Ensign server listening on "):
            raise SystemExit(f"pyensign-fast serve printed {first!r}: {proc.stderr.read()}")
        endpoint = first.rsplit(" ", 1)[1]
        publish_sync(endpoint, "serve-smoke")
        if os.name == "nt":
            proc.terminate()  # no SIGINT for a child without a console of its own
        else:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=TIMEOUT)
        if os.name != "nt" and code != 0:
            raise SystemExit(f"pyensign-fast serve exited with {code}: {proc.stderr.read()}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"ok   pyensign-fast serve: listened on {endpoint}, took 100 events, stopped cleanly")


def main() -> int:
    start = time.perf_counter()
    print(f"pyensign-fast smoke test on Python {sys.version.split()[0]} ({sys.executable})")
    check_installed()
    asyncio.run(check_async())
    check_sync()
    check_serve()
    print(f"smoke test passed in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
