"""The local server's CPU time per acked event, in memory and durably on disk, for
100-byte events: user + system time of the ``pyensign-fast serve`` process (all its
threads) divided by the events acked, with the SDK's pure-Rust client
(``rust/client/examples/publish_bench.rs``) publishing.

    python benches/server_cpu.py [--events 1000000] [--repeat 3]

Unlike events/s (``server_sdk.py``), CPU per event hardly depends on what else the
machine is running, so it compares two builds of the server even on a busy machine
(the absolute value still grows somewhat with contention: caches are shared).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, process_cpu, run_json, rust_bench_binary


def serve(data_dir: Optional[str]) -> Tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0"]
    cmd += ["--data-dir", data_dir] if data_dir else ["--memory"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.match(r"Ensign server listening on (\S+)", proc.stdout.readline())
        if m:
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("the server did not start")


def one_run(binary: str, events: int, disk: bool) -> float:
    """Server CPU microseconds per acked event."""
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as tmp:
        proc, endpoint = serve(tmp if disk else None)
        try:
            before = process_cpu(proc.pid)
            result = run_json([binary, "--endpoint", endpoint, "--events", str(events)])
            used = process_cpu(proc.pid) - before
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return used / result["acked"] * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    binary = rust_bench_binary()
    for disk in (False, True):
        runs: List[float] = sorted(one_run(binary, a.events, disk) for _ in range(a.repeat))
        print(
            f"{'disk' if disk else 'memory':6} server CPU {runs[len(runs) // 2]:.3f} us/event "
            f"(runs: {', '.join(f'{r:.3f}' for r in runs)})"
        )


if __name__ == "__main__":
    main()
