"""Measurements and reporting of ``pyensign-fast bench``: the live progress bar, latency
percentiles, and the results as a table, JSON or CSV rows.

The progress bar is rich's, on stderr, only when stderr is a terminal (and rich is
installed, ``pip install 'pyensign-fast[cli]'``, and ``--no-progress`` is not given). It
is refreshed by a task that reads the counters ten times a second, so measuring costs
nothing per event.
"""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import sys
from array import array
from typing import IO, Any, Callable, Dict, List, Optional, Sequence

from pyensign_fast.commands._output import print_table

__all__ = ["FIELDS", "Latencies", "Progress", "percentile", "report"]

# One result row (one measured side: publishing or subscribing), in CSV column order.
FIELDS = (
    "mode",
    "events",
    "size",
    "batch",
    "seconds",
    "events_per_s",
    "mb_per_s",
    "cpu_us_per_event",
    "latency",
    "p50_us",
    "p99_us",
    "max_us",
    "acked",
    "nacked",
    "received",
)


LATENCY_TEXT = {
    "publish-ack": "publish() call → ack of the batch's last event",
    "end-to-end": "event created → received",
}


def percentile(sorted_values: Sequence[float], q: float) -> Optional[float]:
    """The ``q`` quantile (nearest rank) of sorted values; ``None`` when empty."""
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[index])


class Latencies:
    """Latency samples in seconds (a compact ``array('d')``)."""

    def __init__(self) -> None:
        self.samples = array("d")
        self.add = self.samples.append

    def summary(self) -> Dict[str, Optional[float]]:
        values = sorted(self.samples)

        def us(q: float) -> Optional[float]:
            v = percentile(values, q)
            return None if v is None else round(v * 1e6, 1)

        return {"p50_us": us(0.50), "p99_us": us(0.99), "max_us": us(1.0)}


class Progress:
    """A rich progress bar per counter, or nothing. ``track(label, total, read)`` adds a
    bar whose completion is ``read()``; ``run()`` refreshes them until ``stop()``."""

    def __init__(self, enabled: bool, stream: IO[str] | None = None) -> None:
        self._bars: List[Any] = []
        self._progress: Any = None
        self._task: Optional[asyncio.Task[None]] = None
        stream = stream if stream is not None else sys.stderr
        if not enabled or not stream.isatty():
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as RichProgress
        except ImportError:
            return
        self._progress = RichProgress(
            TextColumn("{task.description:>10}"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=stream),
            refresh_per_second=10,
        )

    @property
    def enabled(self) -> bool:
        return self._progress is not None

    def track(self, label: str, total: int, read: Callable[[], int]) -> None:
        if self._progress is not None:
            self._bars.append((self._progress.add_task(label, total=total), read))

    def _refresh(self) -> None:
        for task_id, read in self._bars:
            self._progress.update(task_id, completed=read())

    async def _run(self) -> None:
        while True:
            self._refresh()
            await asyncio.sleep(0.1)

    def start(self) -> None:
        if self._progress is not None:
            self._progress.start()
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._progress is None:
            return
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._refresh()
        self._progress.stop()


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _ms(us: Optional[float]) -> Optional[float]:
    return None if us is None else us / 1000


def _table(rows: List[Dict[str, Any]], title: str, file: IO[str]) -> None:
    columns = ["mode", "events", "events/s", "MB/s", "CPU µs/ev", "p50 ms", "p99 ms", "max ms"]
    cells = [
        [
            r["mode"],
            _fmt(r["events"]),
            _fmt(r["events_per_s"]),
            _fmt(r["mb_per_s"], 1),
            _fmt(r["cpu_us_per_event"], 2),
            _fmt(_ms(r["p50_us"]), 2),
            _fmt(_ms(r["p99_us"]), 2),
            _fmt(_ms(r["max_us"]), 2),
        ]
        for r in rows
    ]
    numeric = columns[1:]
    print_table(columns, cells, file=file, title=title, numeric=numeric, max_width=0)


def _append_csv(path: str, rows: List[Dict[str, Any]]) -> None:
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def report(
    rows: List[Dict[str, Any]],
    context: Dict[str, Any],
    as_json: bool,
    csv_path: Optional[str],
    notes: Sequence[str] = (),
) -> None:
    """Results on stdout (a table, or one JSON document), appended to ``csv_path``."""
    if csv_path:
        _append_csv(csv_path, rows)
    if as_json:
        print(json.dumps({**context, "results": rows}, indent=2))
        return
    size = rows[0]["size"] if rows else 0
    title = f"bench {context['command']}: {size} B events, {context['where']}"
    _table(rows, title, sys.stdout)
    kinds = {r["mode"]: LATENCY_TEXT.get(r["latency"], r["latency"]) for r in rows}
    print("latency: " + "; ".join(f"{mode}: {kind}" for mode, kind in kinds.items()))
    for note in notes:
        print(note)
