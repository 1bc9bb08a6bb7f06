"""The matrix of programs users write: pyensign vs pyensign-fast vs the pure-Rust client,
side by side against the same local server (its own process, pinned to one core, a
fresh one per run), in one run. Writes ``benches/results/matrix.md``, ``matrix.json``
and the chart ``matrix.png`` (matplotlib, the ``bench`` extra).

    python benches/matrix.py [--quick] [--repeat 1] [--only SUBSTRING]

The pyensign-fast client runs the *same code* as pyensign (``clients/program_client.py``
with only the imports switched): ``async def on_ack`` callbacks, one ``publish()`` per
event in services, events built up front and held. pyensign runs from its own virtualenv
(``tests/compat/pyensign_env.py``). The full matrix takes about 20–30 minutes on a
2-core machine (``--quick``: a tenth of the events, ~5 minutes).

Subscribe rows come from ``benches/subscribe_compare.py`` (``make bench`` runs both).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ROOT,
    Server,
    fmt,
    machine,
    pyensign_python,
    run_json,
    rust_bench_binary,
    scheduler_jitter,
)

CLIENT = str(ROOT / "benches" / "clients" / "program_client.py")
RESULTS = ROOT / "benches" / "results"

# (row name, program, callbacks, held, size, rate, events: pyensign, fast, rust)
# rust = 0: the pure-Rust client has no such program.
Row = Tuple[str, str, str, bool, int, float, int, int, int]
ROWS: List[Row] = [
    ("async def on_ack, batches of 1,000 built per batch, 100 B",
     "batches", "async", False, 100, 0, 30_000, 1_000_000, 1_000_000),
    ("async def on_ack, 1,000,000 built up front and held, 100 B",
     "batches", "async", True, 100, 0, 30_000, 1_000_000, 0),
    ("async def on_ack, batches of 1,000 built per batch, 1 KB",
     "batches", "async", False, 1024, 0, 30_000, 500_000, 500_000),
    ("plain callbacks, batches of 1,000 built per batch, 100 B",
     "batches", "plain", False, 100, 0, 0, 1_000_000, 1_000_000),
    ("no callbacks + flush(), batches of 1,000 built per batch, 100 B",
     "batches", "none", False, 100, 0, 30_000, 1_000_000, 1_000_000),
    ("no callbacks + flush(), 1,000,000 built up front and held, 100 B",
     "batches", "none", True, 100, 0, 30_000, 1_000_000, 0),
    ("one publish() per event at 10,000 ev/s, async def on_ack, 100 B",
     "rate", "async", False, 100, 10_000, 20_000, 50_000, 50_000),
    ("one publish() per event at 2,000 ev/s, async def on_ack, 100 B",
     "rate", "async", False, 100, 2_000, 10_000, 20_000, 20_000),
    ("one publish() per event at 10,000 ev/s, async def on_ack, 1 KB",
     "rate", "async", False, 1024, 10_000, 20_000, 50_000, 50_000),
    ("one await event.wait_for_ack() per event, 100 B",
     "wait", "none", False, 100, 0, 30, 20_000, 0),
    # A second row, not the headline: the same program on uvloop (pyensign-fast only).
    ("one publish() per event at 10,000 ev/s, async def on_ack, 100 B, on uvloop",
     "rate", "async", False, 100, 10_000, 0, 50_000, 0),
    ("one publish() per event at 2,000 ev/s, async def on_ack, 100 B, on uvloop",
     "rate", "async", False, 100, 2_000, 0, 20_000, 0),
]  # fmt: skip

SDKS = ("pyensign", "pyensign_fast", "rust")


def run_cell(row: Row, sdk: str, srv: Server, tag: str, py: str, rust_bin: str, scale: int) -> dict:
    _, program, callbacks, held, size, rate, n_py, n_fast, n_rust = row
    n = {"pyensign": n_py, "pyensign_fast": n_fast, "rust": n_rust}[sdk]
    if n == 0:
        return {}
    if program != "wait":
        n = max(1000, n // scale)
    topic = f"m-{sdk}-{tag}"
    if sdk == "rust":
        cmd = [rust_bin, *srv.client_args(), "--topic", topic, "--events", str(n)]
        cmd += ["--size", str(size)]
        if rate:
            cmd += ["--rate", str(int(rate))]
        return run_json(cmd)
    cmd = [py, CLIENT, "--sdk", sdk, *srv.client_args(), "--topic", topic]
    cmd += ["--program", program, "--callbacks", callbacks, "--events", str(n)]
    cmd += ["--size", str(size), "--rate", str(rate or 10_000)]
    if "uvloop" in row[0]:
        cmd += ["--loop", "uvloop"]
    if held:
        cmd.append("--held")
    return run_json(cmd)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a tenth of the events")
    p.add_argument("--repeat", type=int, default=1, help="runs per cell; the median is kept")
    p.add_argument("--sdks", default=",".join(SDKS))
    p.add_argument("--only", default="", help="rows whose name contains this")
    p.add_argument("--out", default=str(RESULTS / "matrix.md"))
    a = p.parse_args()
    sdks = a.sdks.split(",")
    py = pyensign_python() if "pyensign" in sdks else ""
    rust_bin = rust_bench_binary() if "rust" in sdks else ""
    jitter = scheduler_jitter()
    print(f"scheduler jitter: {jitter}", file=sys.stderr)
    results: Dict[str, Dict[str, dict]] = {}
    for i, row in enumerate(ROWS):
        if a.only not in row[0]:
            continue
        for sdk in sdks:
            if sdk == "pyensign" and row[2] == "plain":
                continue  # pyensign awaits its callbacks: plain functions cannot run there
            runs = []
            for r in range(a.repeat):
                with Server() as srv:
                    python = py if sdk == "pyensign" else sys.executable
                    res = run_cell(
                        row, sdk, srv, f"{i}-{r}", python, rust_bin, 10 if a.quick else 1
                    )
                if res:
                    runs.append(res)
                    print(
                        f"{row[0][:60]:60} {sdk:14} {res['events_per_s']:>12,.0f} ev/s "
                        f"{res['cpu_per_event_us']:>8.2f} us/ev p50={res.get('p50_us')} "
                        f"p99={res.get('p99_us')}",
                        file=sys.stderr,
                    )
            if runs:
                runs.sort(key=lambda x: x["events_per_s"])
                results.setdefault(row[0], {})[sdk] = runs[len(runs) // 2]
    out = Path(a.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    report = render(results, sdks, a, jitter)
    out.write_text(report)
    chart(results, out.with_suffix(".png"))
    print(report)


def ratio(x: Optional[float], y: Optional[float]) -> Optional[float]:
    return x / y if x and y else None


def render(
    results: Dict[str, Dict[str, dict]], sdks: List[str], a: argparse.Namespace, jitter: str
) -> str:
    cmd = "python benches/matrix.py" + (" --quick" if a.quick else "")
    cmd += f" --repeat {a.repeat}" if a.repeat != 1 else ""
    lines = [
        "# The programs users write: pyensign vs pyensign-fast vs pure Rust",
        "",
        f"Command: `{cmd}` (from `make bench`), {dt.date.today().isoformat()}.",
        f"Machine: {machine()}.",
        "Server: `pyensign-fast serve --auth --memory` in its own process (a fresh one per",
        "run), pinned to the last CPU. Each client in its own process, running the same",
        "code for both Python SDKs (`benches/clients/program_client.py`, only the imports",
        "differ); CPU per event from the client's own `getrusage` (all its threads).",
        f"Scheduler jitter before the run: {jitter}.",
        "",
        "| program | SDK | events | events/s | client CPU µs/event | p50 µs | p99 µs "
        "| RSS built → published MiB | × pyensign | × Rust |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, *_ in ROWS:
        cells = results.get(name, {})
        base = cells.get("pyensign", {}).get("events_per_s")
        rust = cells.get("rust", {}).get("events_per_s")
        rate = "ev/s" in name and "per event at" in name
        for sdk in sdks:
            r = cells.get(sdk)
            if not r:
                continue
            rss = ""
            if r.get("rss_built_mib"):
                rss = f"{r['rss_built_mib']:.0f} → {r['rss_published_mib']:.0f}"
            x_py = fmt(ratio(r["events_per_s"], base)) if sdk != "pyensign" and not rate else ""
            x_rust = (
                fmt(ratio(r["events_per_s"], rust), 2)
                if sdk == "pyensign_fast" and not rate
                else ""
            )
            lines.append(
                f"| {name} | {sdk} | {r['events']:,} | {fmt(r['events_per_s'], 0)} "
                f"| {fmt(r['cpu_per_event_us'], 2)} | {fmt(r.get('p50_us'), 0)} "
                f"| {fmt(r.get('p99_us'), 0)} | {rss} | {x_py} | {x_rust} |"
            )
    lines += ["", "## Goals (issue 7)", "", *goals(results)]
    lines += [
        "",
        "Rate rows: `events/s` is the offered rate; compare CPU per event and latency.",
        "Latency: from the `publish()` call to the `on_ack` callback (Rust: to the outcome).",
        "pyensign's `wait_for_ack()` polls every 100 ms, hence its row.",
    ]
    return "\n".join(lines) + "\n"


def goals(results: Dict[str, Dict[str, dict]]) -> List[str]:
    def get(i: int, sdk: str, key: str) -> Optional[float]:
        return results.get(ROWS[i][0], {}).get(sdk, {}).get(key)

    def x(i: int, sdk: str, other: str) -> Optional[float]:
        return ratio(get(i, sdk, "events_per_s"), get(i, other, "events_per_s"))

    held = results.get(ROWS[5][0], {}).get("pyensign_fast", {})
    rss_ratio = ratio(held.get("rss_published_mib"), held.get("rss_built_mib"))
    checks = [
        ("async on_ack, per batch: ≥ 400k ev/s",
         get(0, "pyensign_fast", "events_per_s"), 400_000, True),
        ("async on_ack, per batch: ≥ 70× pyensign",
         x(0, "pyensign_fast", "pyensign"), 70, True),
        ("async on_ack, per batch: ≤ 2.5 µs CPU/event",
         get(0, "pyensign_fast", "cpu_per_event_us"), 2.5, False),
        ("async on_ack, 1M held: ≥ 400k ev/s",
         get(1, "pyensign_fast", "events_per_s"), 400_000, True),
        ("async on_ack, 1M held: ≥ 70× pyensign",
         x(1, "pyensign_fast", "pyensign"), 70, True),
        ("async on_ack, 1M held: ≤ 2.5 µs CPU/event",
         get(1, "pyensign_fast", "cpu_per_event_us"), 2.5, False),
        ("plain callbacks: ≥ 0.9× Rust",
         x(3, "pyensign_fast", "rust"), 0.9, True),
        ("plain callbacks: ≤ 1.2 µs CPU/event",
         get(3, "pyensign_fast", "cpu_per_event_us"), 1.2, False),
        ("no callbacks: ≥ 0.9× Rust",
         x(4, "pyensign_fast", "rust"), 0.9, True),
        ("no callbacks: ≤ 1.2 µs CPU/event",
         get(4, "pyensign_fast", "cpu_per_event_us"), 1.2, False),
        ("one publish() per event at 10k ev/s: ≤ 30 µs CPU/event",
         get(6, "pyensign_fast", "cpu_per_event_us"), 30, False),
        ("one publish() per event at 2k ev/s: ≤ 50 µs CPU/event",
         get(7, "pyensign_fast", "cpu_per_event_us"), 50, False),
        ("p99 publish→ack at 10k ev/s < 1,000 µs",
         get(6, "pyensign_fast", "p99_us"), 1000, False),
        ("RSS after publishing 1M held ≤ 1.5× before",
         rss_ratio, 1.5, False),
    ]  # fmt: skip
    out = []
    for label, value, target, higher in checks:
        if value is None:
            out.append(f"- {label}: not measured")
            continue
        ok = value >= target if higher else value <= target
        out.append(f"- {label}: **{value:,.2f}** ({'met' if ok else 'NOT met'})")
    return out


def chart(results: Dict[str, Dict[str, dict]], path: Path) -> None:
    """Client CPU per event by program and SDK (log scale), as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no chart", file=sys.stderr)
        return
    names = [r[0] for r in ROWS if r[0] in results]
    colors = {"pyensign": "#b0b0b0", "pyensign_fast": "#d95f02", "rust": "#1b9e77"}
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(names) + 1.5))
    height = 0.27
    smallest = None
    for k, sdk in enumerate(SDKS):
        ys, xs = [], []
        for j, name in enumerate(names):
            r = results[name].get(sdk)
            if r:
                ys.append(j + (k - 1) * height)
                xs.append(r["cpu_per_event_us"])
        if xs:
            ax.barh(ys, xs, height=height, color=colors[sdk], label=sdk.replace("_", "-"))
            smallest = min(xs) if smallest is None else min(smallest, *xs)
    if smallest:
        ax.set_xlim(left=smallest / 2)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([n.replace(", ", "\n", 1) for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("client CPU per event, µs (log scale; lower is better)")
    ax.legend(loc="lower right")
    ax.set_title("Same program, pyensign vs pyensign-fast vs pure Rust")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
