"""Instructions per published event on the publishing (event-loop) thread or on the
client's I/O thread, for one or more builds of the core, counted with callgrind: a
before/after check of a change to the per-event paths that does not depend on how busy
the machine is.

    python benches/icount_threads.py --core base=/tmp/base.so \\
        --core new=target/release/lib_core.so [--callbacks none plain] \\
        [--events 10000 60000] [--thread main|io] [--top 15]

Each build is put in place of ``python/pyensign_fast/_core.abi3.so`` (the editable
install's extension; the original is restored at the end) and runs
``clients/icount_publish.py`` under ``valgrind --tool=callgrind --separate-threads=yes``
at two event counts. The difference between the two counts of the main thread, divided
by the difference in events, is what one event costs there: building it (``Event(...)``),
the ``publish()`` crossing (checks, reads, encoding, admission), the ack dispatch and the
callback, and freeing it, without the start-up cost. ``--thread io`` counts the client's
tokio worker instead (the thread that runs ``parse_ack``: writing frames, reading and
applying acks); its count depends a little on how replies were batched. The in-process
server's threads are left out. ``--top`` also prints the functions that changed most
between the first and the last build.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT

ICOUNT = ROOT / "benches" / "clients" / "icount_publish.py"
CORE = ROOT / "python" / "pyensign_fast" / "_core.abi3.so"


def install(so: Path) -> None:
    # A rename, not a copy over the file: a process that has the old one mapped keeps it.
    tmp = CORE.with_suffix(".tmp")
    shutil.copyfile(so, tmp)
    os.replace(tmp, CORE)


def functions(out: Path) -> Dict[str, int]:
    """Instructions per function (self cost) of one callgrind output."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    costs: Dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" not in line:
            name = m.group(2).split(" [")[0].rsplit(":", 1)[-1]
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def thread_count(
    events: int, callbacks: str, thread: str, workdir: Path
) -> Tuple[int, Dict[str, int]]:
    out = workdir / "cg.out"
    cmd = [
        "valgrind", "--tool=callgrind", "--separate-threads=yes",
        f"--callgrind-out-file={out}", sys.executable, str(ICOUNT),
        "--events", str(events), "--callbacks", callbacks,
    ]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"callgrind run failed:\n{run.stderr[-2000:]}")
    if thread == "main":
        chosen = Path(f"{out}-01")  # thread 1: the interpreter's main thread
        costs = functions(chosen)
    else:
        found = [(f, functions(f)) for f in sorted(workdir.glob("cg.out-*"))]
        io = [(f, c) for f, c in found if "parse_ack" in c]
        if len(io) != 1:
            raise RuntimeError(f"{len(io)} threads ran parse_ack")
        chosen, costs = io[0]
    m = re.search(r"^(?:summary|totals): (\d+)", chosen.read_text(), re.M)
    if not m:
        raise RuntimeError(f"no totals in {chosen}")
    for f in workdir.glob("cg.out*"):
        f.unlink()
    return int(m.group(1)), costs


def per_event(
    path: str, callbacks: str, thread: str, lo: int, hi: int
) -> Tuple[float, Dict[str, float]]:
    """One thread's instructions per event of one build, in total and per function."""
    install(Path(path))
    with tempfile.TemporaryDirectory() as tmp:
        (n1, f1), (n2, f2) = (thread_count(n, callbacks, thread, Path(tmp)) for n in (lo, hi))
    fns = {k: (f2.get(k, 0) - f1.get(k, 0)) / (hi - lo) for k in set(f1) | set(f2)}
    return (n2 - n1) / (hi - lo), fns


def print_changes(first: Dict[str, float], last: Dict[str, float], top: int) -> None:
    delta = {k: last.get(k, 0) - first.get(k, 0) for k in set(first) | set(last)}
    for k, v in sorted(delta.items(), key=lambda kv: abs(kv[1]), reverse=True)[:top]:
        print(f"  {v:+8.1f}  {first.get(k, 0):8.1f} -> {last.get(k, 0):8.1f}  {k[:90]}")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--core", action="append", required=True, help="NAME=PATH of a _core .so")
    p.add_argument("--callbacks", nargs="+", default=["none", "plain"])
    p.add_argument("--events", nargs=2, type=int, default=[10_000, 60_000])
    p.add_argument("--thread", choices=["main", "io"], default="main")
    p.add_argument("--top", type=int, default=0)
    a = p.parse_args()
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed")
    builds = [c.split("=", 1) for c in a.core]
    original = Path(tempfile.mkdtemp()) / "original.so"
    shutil.copyfile(CORE, original)
    try:
        for callbacks in a.callbacks:
            results = [
                (name, *per_event(path, callbacks, a.thread, *a.events)) for name, path in builds
            ]
            row = ", ".join(f"{name} {total:,.0f}" for name, total, _ in results)
            print(f"callbacks={callbacks}: instructions per event, {a.thread} thread: {row}")
            if a.top and len(results) > 1:
                print_changes(results[0][2], results[-1][2], a.top)
    finally:
        install(original)


if __name__ == "__main__":
    main()
