"""Interpreter exit with the core's threads still alive: the process must end cleanly.

CPython up to 3.13 ends a thread that takes the GIL back after finalization began with
``pthread_exit``; doing that through the core's Rust frames crashed the process
(SIGSEGV at exit, seen with a blocking client on 3.13). Each case runs a script in a
fresh interpreter whose finalization is held open by a slow ``__del__`` (so threads
finish their waits during it) and checks the exit status and output. The scripts run
with this interpreter and, when pyenv has it, with CPython 3.13 (the wheel is abi3).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest

from pyensign_fast import _core

PACKAGE_ROOT = pathlib.Path(__import__("pyensign_fast").__file__).resolve().parent.parent

# Keeps finalization open for a while after `atexit` ran: module globals are cleared
# then, and this one's __del__ sleeps with the GIL released.
HOLD_FINALIZATION = """
import time as _time

class _Slow:
    def __del__(self):
        _time.sleep(0.3)

_slow = _Slow()
"""

SCRIPTS = {
    # Daemon threads blocked in the core's GIL-free wait, not known to the package.
    # The extension is loaded on its own (other interpreters may lack the package's
    # Python dependencies).
    "raw-waiters": """
import atexit, importlib.machinery, importlib.util, os, threading

# Registered before the extension's own hook, so it runs after it (last in, first out).
atexit.register(lambda: print("exiting flag", _core._is_exiting(), flush=True))

loader = importlib.machinery.ExtensionFileLoader("_core", os.environ["CORE_PATH"])
_core = importlib.util.module_from_spec(importlib.util.spec_from_loader("_core", loader))
loader.exec_module(_core)

def spin():
    n = _core.Notifier()
    while True:
        n.wait(0.001)

for _ in range(4):
    threading.Thread(target=spin, daemon=True).start()
print("ok", flush=True)
""",
    # A thread whose wait ends just before the extension's hook runs, while the exiting
    # thread keeps the GIL: it must get back into Python before finalization (and park
    # at its next wait), not be ended by CPython inside the core's frames.
    "returning-waiter": """
import atexit, importlib.machinery, importlib.util, os, sys, threading, time

# Registered before the extension's own hook, so it runs after it (last in, first out).
atexit.register(lambda: print("after the hook", seen, "back" if back else "not back"))

loader = importlib.machinery.ExtensionFileLoader("_core", os.environ["CORE_PATH"])
_core = importlib.util.module_from_spec(importlib.util.spec_from_loader("_core", loader))
loader.exec_module(_core)

first, second = _core.Notifier(), _core.Notifier()
started = threading.Event()
seen, back = None, False
# No forced GIL switches: the waiter runs from `started.set()` into its wait, and once
# woken it cannot take the GIL from the exiting thread until that thread gives it up
# (no I/O either, which would release it).
sys.setswitchinterval(1000)

def waiter():
    global back
    started.set()
    first.wait(60)
    back = True
    second.wait(60)

def wake_and_keep_the_gil():  # runs just before the extension's hook
    global seen
    first._push_outcomes(1)
    deadline = time.monotonic() + 10
    while _core._returning_threads() == 0 and time.monotonic() < deadline:
        pass
    seen = _core._returning_threads()

threading.Thread(target=waiter, daemon=True).start()
started.wait()
atexit.register(wake_and_keep_the_gil)
print("ok", flush=True)
""",
    # A daemon thread running callbacks from `Notifier.drain` (as an asyncio loop in a
    # daemon thread does) while the interpreter exits: the callback under way finishes
    # before finalization, and the next one is never started.
    "calling-thread": """
import atexit, importlib.machinery, importlib.util, os, sys, threading

# Registered before the extension's own hook, so it runs after it (last in, first out).
atexit.register(lambda: print("after the hook", done, calls, flush=True))

loader = importlib.machinery.ExtensionFileLoader("_core", os.environ["CORE_PATH"])
_core = importlib.util.module_from_spec(importlib.util.spec_from_loader("_core", loader))
loader.exec_module(_core)

entered, go = threading.Event(), threading.Event()
calls, done = 0, False
sys.setswitchinterval(1000)  # no forced GIL switches (see "returning-waiter")

def on_ack(ack):
    global calls, done
    calls += 1
    if calls == 1:
        entered.set()
        go.wait()  # gives up the GIL; returns only once the exit has begun
        done = True

def drain():
    n = _core.Notifier()
    n._push_outcomes(3, on_ack=on_ack)
    n.drain()

threading.Thread(target=drain, daemon=True).start()
entered.wait()
atexit.register(go.set)  # runs just before the extension's hook
print("ok", flush=True)
""",
    # A daemon thread inside `publish()` whose event runs Python code (a property of an
    # `Event` subclass) that gives up the GIL while the interpreter exits: the publish
    # under way finishes before finalization, the next one never starts.
    "publishing-thread": """
import asyncio, atexit, sys, threading

# Registered before the package's hooks, so it runs after them (last in, first out).
atexit.register(lambda: print("after the hook", done, flush=True))

from pyensign_fast import Ensign, Event
from pyensign_fast.server import LocalEnsign

server = LocalEnsign().start()
entered, go = threading.Event(), threading.Event()
done = False

class SlowEvent(Event):
    @property
    def data(self):
        if not entered.is_set():
            entered.set()
            go.wait()  # gives up the GIL; returns only once the exit has begun
        return b"x"

    @data.setter
    def data(self, value):
        pass

async def main():
    global done
    client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    await client.create_topic("t")
    await client.publish("t", SlowEvent(b"x", "text/plain"))
    done = True
    await client.publish("t", Event(b"x", "text/plain"))  # parks: the interpreter exits

threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
entered.wait()
sys.setswitchinterval(1000)  # no forced GIL switches (see "returning-waiter")
atexit.register(go.set)  # runs first; no thread of the package's to stop, so no GIL release
print("ok", flush=True)
""",
    # A blocking client left open (its callback thread and notifier thread alive),
    # with a publish whose ack callback runs on that thread.
    "open-sync-client": """
from pyensign_fast.server import LocalEnsign
from pyensign_fast.sync import Ensign, Event

server = LocalEnsign().start()
client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
client.create_topic("t")
acks = []
for i in range(100):
    client.publish("t", Event(b"x", "text/plain"), on_ack=acks.append)
client.flush()
print("ok", len(acks), flush=True)
""",
    # An asyncio program that never closes its client or the server.
    "unclosed-async-client": """
import asyncio
from pyensign_fast import Ensign, Event
from pyensign_fast.server import LocalEnsign

server = LocalEnsign().start()

async def main():
    client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    await client.create_topic("t")
    async def on_ack(ack):
        pass
    for _ in range(100):
        await client.publish("t", Event(b"x", "text/plain"), on_ack=on_ack)
    await client.flush()
    print("ok", flush=True)

asyncio.run(main())
""",
    # An asyncio loop in a daemon thread, publishing with an `on_ack` that does I/O, while
    # the main thread exits (crashed the process 1 time in 3 before `CallsGuard`).
    "daemon-loop-publisher": """
import asyncio, os, threading
from pyensign_fast import Ensign, Event
from pyensign_fast.server import LocalEnsign

server = LocalEnsign().start()
ready = threading.Event()

async def main():
    client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    await client.create_topic("t")
    async def on_ack(ack):
        with open(os.devnull, "w") as f:  # I/O: gives up the GIL
            f.write("x")
    n = 0
    while True:
        await client.publish("t", Event(b"x", "text/plain"), on_ack=on_ack)
        n += 1
        if n == 2000:
            ready.set()
        if n % 100 == 0:
            await asyncio.sleep(0)

threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
ready.wait()
print("ok", flush=True)
""",
    # A callback that never returns, on an asyncio loop in a daemon thread: the exit waits
    # for it at most 2 s, then says so (the thread cannot crash the exit while blocked).
    "blocked-callback": """
import asyncio, threading
from pyensign_fast import Ensign, Event
from pyensign_fast.server import LocalEnsign

server = LocalEnsign().start()
blocked = threading.Event()

async def main():
    client = Ensign(endpoint=server.endpoint, insecure=True, auth_url="")
    await client.create_topic("t")
    async def on_ack(ack):
        blocked.set()
        threading.Event().wait()  # never returns
    await client.publish("t", Event(b"x", "text/plain"), on_ack=on_ack)
    await asyncio.Event().wait()

threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
blocked.wait()
print("ok", flush=True)
""",
    # Only servers (no client): the log thread keeps forwarding records (each start and
    # stop logs at INFO) from a daemon thread while the interpreter exits.
    "server-log-thread": """
import logging, threading
from pyensign_fast.server import LocalEnsign

logging.getLogger("pyensign_fast.server").setLevel(logging.INFO)
logging.getLogger("pyensign_fast.server").addHandler(logging.NullHandler())

def churn():
    while True:
        LocalEnsign().start().stop()

threading.Thread(target=churn, daemon=True).start()
server = LocalEnsign().start()
print("ok", flush=True)
""",
}

# Cases that load the extension alone (they run on interpreters without the package's
# Python dependencies too).
RAW_CASES = ("raw-waiters", "returning-waiter", "calling-thread")

DETERMINISTIC = ("returning-waiter", "calling-thread", "publishing-thread", "blocked-callback")

EXPECTED = {
    "raw-waiters": "ok",
    "returning-waiter": "ok",
    "calling-thread": "ok",
    "publishing-thread": "ok",
    "daemon-loop-publisher": "ok",
    "blocked-callback": "ok",
    "open-sync-client": "ok 100",
    "unclosed-async-client": "ok",
    "server-log-thread": "ok",
}


def _interpreters() -> list[str]:
    found = [sys.executable]
    pyenv = pathlib.Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser()
    for candidate in sorted(pyenv.glob("versions/3.13*/bin/python3")):
        if candidate.is_file() and shutil.which(str(candidate)):
            found.append(str(candidate))
            break
    return found


@pytest.mark.parametrize("python", _interpreters(), ids=lambda p: pathlib.Path(p).parts[-3])
@pytest.mark.parametrize("case", sorted(SCRIPTS))
def test_exit_is_clean(case: str, python: str) -> None:
    if python != sys.executable and case not in RAW_CASES:
        probe = subprocess.run(
            [python, "-c", "import pyensign_fast.server, pyensign_fast.sync"],
            env={**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)},
            capture_output=True,
            timeout=60,
        )
        if probe.returncode != 0:
            pytest.skip(f"{python} cannot import the package: {probe.stderr[-200:]!r}")
    script = textwrap.dedent(SCRIPTS[case]) + HOLD_FINALIZATION
    env = {
        **os.environ,
        "PYTHONPATH": str(PACKAGE_ROOT),
        "PYTHONFAULTHANDLER": "1",
        "CORE_PATH": _core.__file__,
    }
    # Racy windows: a crash showed up within 3 runs; the other cases are deterministic.
    for attempt in range(1 if case in DETERMINISTIC else 3):
        done = subprocess.run(
            [python, "-c", script], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (attempt, done.returncode, done.stderr[-2000:])
        assert done.stdout.split("\n")[0] == EXPECTED[case]
        assert "Fatal Python error" not in done.stderr
        if case == "raw-waiters":  # the extension's own atexit hook ran (exiting.rs)
            assert "exiting flag True" in done.stdout
        if case == "returning-waiter":  # woken, counted, then let back in by the hook
            assert "after the hook 1 back" in done.stdout
        if case == "calling-thread":  # the hook waited for the callback; no other ran
            assert "after the hook True 1" in done.stdout
        if case == "publishing-thread":  # the hook waited for the publish under way
            assert "after the hook True" in done.stdout
        if case == "blocked-callback":  # the hook gave up waiting, and said so
            assert "1 thread(s) were still running a callback" in done.stderr
