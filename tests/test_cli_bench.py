"""``pyensign-fast bench`` as a subprocess: JSON and CSV results for each mode, a progress
bar only on a terminal (a pseudo-terminal here), plain output without rich, and the same
against a server reached through the connection options (auth mode)."""

from __future__ import annotations

import csv
import json
import os
import pty
import subprocess
import sys
from typing import Any, Dict, List

from _cli import TIMEOUT, argv, auth_env, clean_env, cli, ok
from pyensign_fast.server import LocalEnsign

SMALL = ["--events", "3000", "--size", "64", "--batch", "500"]


def _results(stdout: str) -> Dict[str, Dict[str, Any]]:
    document = json.loads(stdout)
    return {row["mode"]: row for row in document["results"]}


def test_bench_pub_json() -> None:
    rows = _results(ok(cli("bench", "pub", "--local", "--json", *SMALL)))
    pub = rows["publish"]
    assert (pub["events"], pub["acked"], pub["nacked"], pub["size"]) == (3000, 3000, 0, 64)
    assert pub["events_per_s"] > 0 and pub["mb_per_s"] > 0 and pub["cpu_us_per_event"] > 0
    assert 0 < pub["p50_us"] <= pub["p99_us"] <= pub["max_us"]


def test_bench_pubsub_table_and_csv(tmp_path: Any) -> None:
    path = tmp_path / "bench.csv"
    result = cli("bench", "pubsub", "--local", "--csv", str(path), *SMALL)
    table = ok(result)
    assert "events/s" in table and "MB/s" in table and "p99 ms" in table
    assert "publish" in table and "subscribe" in table
    assert "\r" not in result.stderr.decode()  # no progress bar off a terminal
    ok(cli("bench", "pub", "--local", "--csv", str(path), "--no-progress", *SMALL))
    with open(path, newline="") as f:
        rows: List[Dict[str, str]] = list(csv.DictReader(f))
    assert [r["mode"] for r in rows] == ["publish", "subscribe", "publish"]
    assert rows[1]["received"] == "3000" and rows[0]["acked"] == "3000"


def test_bench_sub_starts_a_publisher_process() -> None:
    rows = _results(ok(cli("bench", "sub", "--local", "--json", *SMALL)))
    assert rows["subscribe"]["received"] == 3000
    assert rows["publish"]["acked"] == 3000  # measured by the publisher process


def test_bench_against_an_auth_server() -> None:
    with LocalEnsign(auth=True) as server:
        rows = _results(ok(cli("bench", "pubsub", "--json", *SMALL, env=auth_env(server))))
        assert rows["publish"]["acked"] == rows["subscribe"]["received"] == 3000


def test_bench_usage_errors() -> None:
    result = cli("bench", "pub", "--local", "--endpoint", "127.0.0.1:1")
    assert result.returncode == 2 and b"--local" in result.stderr
    assert cli("bench", "pub", "--local", "--events", "0").returncode == 2


def _on_a_terminal(*args: str, env: Dict[str, str]) -> str:
    """Runs the CLI with stderr on a pseudo-terminal; returns what it drew there."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(argv(*args), stdout=subprocess.PIPE, stderr=terminal, env=env)
    finally:
        os.close(terminal)
    drawn = b""
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    stdout, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, drawn.decode(errors="replace")
    assert "events/s" in stdout.decode()
    return drawn.decode(errors="replace")


def test_bench_draws_a_progress_bar_on_a_terminal() -> None:
    env = clean_env(TERM="xterm-256color", COLUMNS="120")
    drawn = _on_a_terminal("bench", "pubsub", "--local", *SMALL, env=env)
    assert "━" in drawn  # rich's bar
    assert "acked" in drawn and "received" in drawn and "3000/3000" in drawn
    assert "100%" in drawn

    quiet = _on_a_terminal("bench", "pub", "--local", "--no-progress", *SMALL, env=env)
    assert "━" not in quiet and "acked" not in quiet


def test_bench_without_rich_prints_plain_text() -> None:
    # rich is an optional extra: hide it, on a terminal too.
    code = (
        "import sys; sys.modules['rich'] = None\n"
        "from pyensign_fast.cli import main\n"
        f"sys.exit(main(['bench', 'pub', '--local', *{SMALL!r}]))\n"
    )
    env = clean_env(TERM="xterm-256color")
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=terminal,
            env=env,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    out = proc.stdout.decode()
    assert proc.returncode == 0
    assert "━" not in out and "┃" not in out
    header = next(line for line in out.splitlines() if line.startswith("mode"))
    assert "events/s" in header and "p99 ms" in header
