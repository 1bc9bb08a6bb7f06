"""Why the matrix's "× Rust" ratio of the per-batch rows is what it is: pyensign-fast (no
callbacks, then plain ``on_ack``) and the pure-Rust client, alternating round by round
against one local server, with each run's events/s, the client's CPU per event, the
server process's CPU per event, and each client thread's time spent runnable but waiting
for a CPU (Linux ``schedstat``).

    python benches/ratio_split.py [--events 1000000] [--rounds 4]

The server is pinned to the last CPU (as in the matrix) and the clients are not; on a
2-core machine the client's threads and the server share the cores, so the ratio follows
the CPU that each client needs per event (plus how well its threads are scheduled), not
only its own speed. Results and what they mean: ``benches/results/publish_path.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, process_cpu, run_json, rust_bench_binary

CLIENT = Path(__file__).resolve().parent / "clients" / "program_client.py"
CELLS = ("ours, no callbacks", "rust", "ours, plain on_ack")


def command(cell: str, srv: Server, topic: str, events: int, rust: str) -> List[str]:
    if cell == "rust":
        cmd = [rust, *srv.client_args(), "--topic", topic]
        return [*cmd, "--events", str(events), "--size", "100"]
    callbacks = "none" if "no callbacks" in cell else "plain"
    return [
        sys.executable, str(CLIENT), "--sdk", "pyensign_fast", *srv.client_args(),
        "--topic", topic, "--program", "batches", "--callbacks", callbacks,
        "--events", str(events), "--size", "100",
    ]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=4)
    a = p.parse_args()
    rust = rust_bench_binary()
    rates: Dict[str, List[float]] = {c: [] for c in CELLS}
    ratios: Dict[str, List[float]] = {c: [] for c in CELLS if c != "rust"}
    print("| round | client | events/s | client CPU µs/event | server CPU µs/event | "
          "runnable, waiting for a CPU, µs/event |")  # fmt: skip
    print("|---|---|---:|---:|---:|---|")
    with Server() as srv:
        for r in range(a.rounds):
            for i, cell in enumerate(CELLS):
                before = process_cpu(srv.proc.pid)
                res = run_json(command(cell, srv, f"ratio{r}-{i}", a.events, rust))
                server = (process_cpu(srv.proc.pid) - before) / a.events * 1e6
                rates[cell].append(res["events_per_s"])
                waits = res.get("thread_runq_wait_per_event_us") or {}
                wait = ", ".join(f"{k} {v:.2f}" for k, v in waits.items() if v >= 0.005)
                print(f"| {r + 1} | {cell} | {res['events_per_s']:,.0f} | "
                      f"{res.get('cpu_per_event_us', 0):.3f} | {server:.3f} | {wait or '-'} |",
                      flush=True)  # fmt: skip
            for cell in ratios:
                ratios[cell].append(rates[cell][-1] / rates["rust"][-1])
    print()
    for cell, values in ratios.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{cell} / rust: {shown} (median {statistics.median(values):.2f})")


if __name__ == "__main__":
    main()
