"""What log forwarding and statistics cost the publish path.

Runs the same publish workload (``--events`` events of ``--size`` bytes in ``publish``
calls of ``--batch``, then ``flush``) against one ``pyensign-fast serve`` process, in a
fresh client process per run, alternating the configurations:

* ``off``: ``PYENSIGN_FAST_LOG=off`` and ``logging.disable()``: nothing is forwarded;
* ``warning``: the default (Rust filter derived from the loggers: WARNING and above are
  forwarded to ``pyensign_fast.client``), with a handler on the root logger;
* ``warning+stats``: as ``warning``, plus ``stats()`` read every 10 ms by a thread
  (``on_stats`` with ``stats_interval=0.01``).

The statistics counters themselves are always on (they are plain adds under the lock the
publisher already takes), so ``off`` includes them; see the report for the HDR record
cost. Prints a Markdown table; ``--out FILE`` also writes it.

    python benches/bench_observability.py --events 1000000 --repeat 5 \\
        --out benches/results/observability.md
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Server, machine

CONFIGS = ("off", "warning", "warning+stats")


def child(args: argparse.Namespace) -> None:
    import asyncio
    import logging

    if args.config == "off":
        logging.disable(logging.CRITICAL)
    else:
        logging.basicConfig(level=logging.WARNING)
    from pyensign_fast.ensign import Ensign
    from pyensign_fast.events import Event

    extra: Dict[str, object] = {}
    polled: List[int] = []
    if args.config == "warning+stats":
        extra = {"stats_interval": 0.01, "on_stats": lambda s: polled.append(s["acked"])}

    async def main() -> dict:
        c = Ensign(
            endpoint=args.endpoint,
            auth_url=args.auth_url,
            client_id=args.client_id,
            client_secret=args.client_secret,
            insecure=True,
            **extra,
        )
        topic = f"obs-{os.getpid()}"
        await c.create_topic(topic)
        payload = b"x" * args.size
        batches = [
            [Event(payload, "application/octet-stream") for _ in range(args.batch)]
            for _ in range(args.events // args.batch)
        ]
        t0 = time.perf_counter()
        cpu0 = time.process_time()
        for b in batches:
            await c.publish(topic, b)
        await c.flush(timeout=600)
        dt = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
        stats = c.stats()
        await c.close()
        return {
            "config": args.config,
            "events_per_s": args.events / dt,
            "cpu_us_per_event": cpu / args.events * 1e6,
            "acked": stats["acked"],
            "stats_reads": len(polled),
        }

    print(json.dumps(asyncio.run(main())))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--config", choices=CONFIGS, help=argparse.SUPPRESS)
    for name in ("endpoint", "auth-url", "client-id", "client-secret"):
        p.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    results: Dict[str, List[float]] = {c: [] for c in CONFIGS}
    cpu: Dict[str, List[float]] = {c: [] for c in CONFIGS}
    with Server() as srv:
        for _ in range(args.repeat):
            for config in CONFIGS:
                env = dict(os.environ)
                env.pop("PYENSIGN_FAST_LOG", None)
                if config == "off":
                    env["PYENSIGN_FAST_LOG"] = "off"
                cmd = [
                    sys.executable, __file__, "--child", "--config", config,
                    "--events", str(args.events), "--batch", str(args.batch),
                    "--size", str(args.size), *srv.client_args(),
                ]  # fmt: skip
                out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-2000:])
                r = json.loads(out.stdout.strip().splitlines()[-1])
                assert r["acked"] == args.events, r
                results[config].append(r["events_per_s"])
                cpu[config].append(r["cpu_us_per_event"])
    base = statistics.median(results["off"])
    base_cpu = statistics.median(cpu["off"])
    lines = [
        "# Log forwarding and statistics: cost on the publish path (preliminary)",
        "",
        f"Command: `python benches/bench_observability.py --events {args.events} "
        f"--batch {args.batch} --size {args.size} --repeat {args.repeat}`",
        "",
        f"Machine: {machine()}. Other builds ran at the same time: numbers are noisy.",
        "",
        "Client process CPU (all its threads) per event is less sensitive to the other",
        "processes on the machine than wall-clock throughput.",
        "",
        "| configuration | median events/s | runs (events/s) | vs off "
        "| median client CPU µs/event | vs off |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for config in CONFIGS:
        med = statistics.median(results[config])
        runs = ", ".join(f"{v:,.0f}" for v in results[config])
        mc = statistics.median(cpu[config])
        lines.append(
            f"| {config} | {med:,.0f} | {runs} | {100 * (med / base - 1):+.1f}% "
            f"| {mc:.2f} | {100 * (mc / base_cpu - 1):+.1f}% |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
