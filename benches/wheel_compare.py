"""Compares builds (wheels) of pyensign-fast: size, publish throughput and instructions
per event, measured back to back in the same conditions (issue 10: the shipped wheel
must not publish slower than the build it replaces).

    python benches/wheel_compare.py --wheel old=/tmp/old.whl --wheel new=dist/x.whl \\
        [--rounds 2] [--repeat 3] [--out benches/results/wheel_build.md]

Each wheel goes into its own virtualenv (``.bench-venvs/wheel-NAME``). Then, for each
round, every wheel in turn runs ``benches/publish_compare.py --sdks pyensign_fast``
(client and server from that wheel); the rounds interleave the wheels so that a change in
the machine's load hits them alike. Where valgrind is installed, each wheel also runs
``clients/icount_publish.py`` under callgrind with two event counts: instructions per
published-and-acked event, which do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, fmt, machine, scheduler_jitter

ROWS = ["batch 1000 × 100 B", "batch 1000 × 1 KB", "one await per event, 100 B"]
ICOUNT = str(ROOT / "benches" / "clients" / "icount_publish.py")


def venv_for(name: str, wheel: Path) -> Path:
    venv = ROOT / ".bench-venvs" / f"wheel-{name}"
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(wheel)], check=True)
    return py


def library_mb(wheel: Path) -> float:
    with zipfile.ZipFile(wheel) as zf:
        return sum(i.file_size for i in zf.infolist() if ".so" in i.filename) / 1e6


def publish_rows(py: Path, repeat: int) -> Dict[str, Tuple[float, float]]:
    """``{scenario: (events/s, client CPU µs/event)}`` from one publish_compare run."""
    with tempfile.NamedTemporaryFile(suffix=".md") as out:
        cmd = [str(py), "benches/publish_compare.py", "--sdks", "pyensign_fast"]
        cmd += ["--repeat", str(repeat), "--out", out.name]
        subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
        table = Path(out.name).read_text()
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) >= 5 and cells[0] in ROWS and cells[1] == "pyensign_fast":
            rows[cells[0]] = (float(cells[3].replace(",", "")), float(cells[4]))
    return rows


def instructions(py: Path, events: int) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", str(py), ICOUNT]
    out = subprocess.run([*cmd, "--events", str(events)], capture_output=True, text=True)
    m = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"callgrind run failed:\n{out.stderr[-2000:]}")
    return int(m.group(1))


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--wheel", action="append", required=True, help="NAME=PATH (repeatable)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3, help="runs per cell in publish_compare")
    p.add_argument("--icount-events", default="10000,30000", help="two event counts")
    p.add_argument("--out", default=str(ROOT / "benches" / "results" / "wheel_build.md"))
    a = p.parse_args()
    wheels = {n: Path(w) for n, w in (spec.split("=", 1) for spec in a.wheel)}
    pythons = {name: venv_for(name, wheel) for name, wheel in wheels.items()}
    jitter = scheduler_jitter()
    runs: Dict[str, List[Dict[str, Tuple[float, float]]]] = {n: [] for n in wheels}
    for r in range(a.rounds):
        for name, py in pythons.items():
            runs[name].append(publish_rows(py, a.repeat))
            print(f"round {r + 1} {name}: {runs[name][-1]}", file=sys.stderr)
    icounts: Dict[str, float] = {}
    if shutil.which("valgrind"):
        low, high = (int(x) for x in a.icount_events.split(","))
        for name, py in pythons.items():
            icounts[name] = (instructions(py, high) - instructions(py, low)) / (high - low)
            print(f"{name}: {icounts[name]:,.0f} instructions/event", file=sys.stderr)
    Path(a.out).write_text(render(a, wheels, runs, icounts, jitter))
    print(Path(a.out).read_text())


def render(a, wheels, runs, icounts, jitter) -> str:  # type: ignore[no-untyped-def]
    specs = " ".join(f"--wheel {n}={w}" for n, w in wheels.items())
    lines = [
        "# Builds of the wheel compared: size, publish throughput, instructions per event",
        "",
        f"Command: `python benches/wheel_compare.py {specs} --rounds {a.rounds} "
        f"--repeat {a.repeat}`, {dt.date.today().isoformat()}.",
        f"Machine: {machine()}. Scheduler jitter before the run: {jitter}.",
        "Throughput: `benches/publish_compare.py --sdks pyensign_fast` (client and server of",
        "the same wheel), the median of each round's cell, rounds interleaving the wheels.",
        "",
        "| wheel | wheel MB | library MB | "
        + " | ".join(f"{r}: ev/s (µs CPU/ev)" for r in ROWS)
        + " | instructions/event |",
        "|---|---:|---:|" + "---:|" * len(ROWS) + "---:|",
    ]
    for name, wheel in wheels.items():
        cells = []
        for row in ROWS:
            vals = [run[row] for run in runs[name] if row in run]
            per_round = " / ".join(f"{fmt(v[0], 0)} ({v[1]:.2f})" for v in vals)
            cells.append(per_round or "–")
        lines.append(
            f"| {name} | {wheel.stat().st_size / 1e6:.2f} | {library_mb(wheel):.2f} | "
            + " | ".join(cells)
            + f" | {fmt(icounts.get(name), 0)} |"
        )
    lines += ["", "Each throughput cell lists one value per round, in order."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
