"""The local server alone, driven by the SDK's pure-Rust client: events/s ingested with
acks, in memory and durably on disk, for 100-byte events.

    python benches/server_sdk.py [--events 1000000] [--repeat 3]

The server is ``pyensign-fast serve`` in its own process (a fresh one per run), the client
is ``rust/client/examples/publish_bench.rs`` (batches of 1,000, the default in-flight
window). Unlike ``cargo bench -p ensign-server --bench server_ingest`` (a raw tonic
client in the server's process), this is the path users take.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, machine, run_json, rust_bench_binary


def serve(data_dir: Optional[str]) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0"]
    cmd += ["--data-dir", data_dir] if data_dir else ["--memory"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = re.match(r"Ensign server listening on (\S+)", proc.stdout.readline())
        if m:
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("the server did not start")


def one_run(binary: str, events: int, disk: bool) -> dict:
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as tmp:
        proc, endpoint = serve(tmp if disk else None)
        try:
            return run_json([binary, "--endpoint", endpoint, "--events", str(events)])
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "benches" / "results" / "server_sdk.md"))
    a = p.parse_args()
    binary = rust_bench_binary()
    rows: List[str] = []
    for disk in (False, True):
        runs = sorted(
            (one_run(binary, a.events, disk) for _ in range(a.repeat)),
            key=lambda r: r["events_per_s"],
        )
        for r in runs:
            print(
                f"{'disk' if disk else 'memory':6} {r['events_per_s']:>12,.0f} ev/s",
                file=sys.stderr,
            )
        med = runs[len(runs) // 2]
        rows.append(
            f"| {'disk (durable, group commit)' if disk else 'memory'} | {med['events']:,} "
            f"| {med['events_per_s']:,.0f} | {runs[0]['events_per_s']:,.0f}–"
            f"{runs[-1]['events_per_s']:,.0f} | {med['acked']:,} |"
        )
    report = "\n".join(
        [
            "# Local server ingest, driven by the SDK's pure-Rust client",
            "",
            f"Command: `python benches/server_sdk.py --events {a.events} --repeat {a.repeat}`,"
            f" {dt.date.today().isoformat()}.",
            f"Machine: {machine()}. Server and client in separate processes on the same",
            "machine, 100-byte events, batches of 1,000, every event acked.",
            "",
            "| storage | events | events/s (median) | range | acked |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            "Goal (issue 3): ≥ 400,000 events/s in memory with the client on the same two",
            "cores; durable mode at least half of that.",
        ]
    )
    Path(a.out).write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
