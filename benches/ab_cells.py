"""Run a few cells of ``benches/clients/program_client.py`` for pyensign-fast against one
local server, one after another, and print one line per cell: for quick before/after
comparisons of a change (run it on each build, alternating), not for the record (that is
``matrix.py``).

Each cell is ``program:callbacks:held:events`` (``held`` is 0 or 1), for example::

    python benches/ab_cells.py batches:async:0:200000 batches:none:1:200000 rate:async:0:5000

The server is ``pyensign-fast serve --auth --memory`` pinned to the last CPU (as in the
matrix); with ``--pin-client`` the client is pinned to CPU 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server

CLIENT = Path(__file__).resolve().parent / "clients" / "program_client.py"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("cells", nargs="+", help="program:callbacks:held:events")
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--rate", type=int, default=10_000)
    p.add_argument("--pin-client", action="store_true")
    a = p.parse_args()
    prefix = ["taskset", "-c", "0"] if a.pin_client and shutil.which("taskset") else []
    with Server() as srv:
        for i, cell in enumerate(a.cells):
            program, callbacks, held, events = cell.split(":")
            cmd = [*prefix, sys.executable, str(CLIENT), "--sdk", "pyensign_fast"]
            cmd += [*srv.client_args(), "--topic", f"ab{i}", "--program", program]
            cmd += ["--callbacks", callbacks, "--events", events, "--size", str(a.size)]
            cmd += ["--rate", str(a.rate)]
            if held == "1":
                cmd.append("--held")
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            lines = out.stdout.strip().splitlines()
            if out.returncode != 0 or not lines:
                print(f"{cell}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            r = json.loads(lines[-1])
            print(
                f"{cell:32} {r['events_per_s']:>10,.0f} ev/s {r['cpu_per_event_us']:>8.3f} us/ev"
                f" p50={r['p50_us']} p99={r['p99_us']}"
                f" cpu_us={r['thread_cpu_per_event_us']}"
                f" wakeups={r.get('thread_wakeups_per_event')}"
                f" runq={r.get('thread_runq_wait_per_event_us')}"
            )


if __name__ == "__main__":
    main()
