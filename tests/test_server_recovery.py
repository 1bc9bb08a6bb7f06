"""Recovery of a durable local server, as Python sees it: ``LocalEnsign.recovery`` says what
a damaged log lost, missing files need ``repair=True`` (``serve --repair``), and ``serve``
prints a ``recovery:`` line at start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from pyensign_fast.events import Event
from pyensign_fast.server import LocalEnsign, RecoveryReport


def _publish(srv: LocalEnsign, n: int) -> None:
    async def run() -> None:
        client = srv.client()
        await client.create_topic("t")
        events = [Event(f"{i:08d}".encode() + b"." * 200, "text/plain") for i in range(n)]
        await client.publish("t", events)
        await client.flush()
        assert all(e.acked() for e in events)
        await client.close(timeout=5)

    asyncio.run(run())


def _count(srv: LocalEnsign) -> int:
    async def run() -> int:
        client = srv.client()
        cursor = await client.query("SELECT * FROM t")
        rows = await cursor.fetchall()
        await client.close(timeout=5)
        return len(rows)

    return asyncio.run(run())


def test_memory_and_new_servers_report_a_clean_recovery(tmp_path):
    with LocalEnsign() as srv:
        assert srv.recovery == RecoveryReport()
        assert srv.recovery.clean
    with LocalEnsign(data_dir=tmp_path) as srv:
        assert srv.recovery.clean and srv.recovery.records_lost == 0
        assert str(srv.recovery) == "clean (0 records)"


def test_a_damaged_record_costs_one_event_and_is_reported(tmp_path):
    with LocalEnsign(data_dir=tmp_path) as srv:
        _publish(srv, 100)
    log = tmp_path / "events.log"
    data = bytearray(log.read_bytes())
    data[len(data) * 2 // 3] ^= 0xFF
    log.write_bytes(bytes(data))
    with LocalEnsign(data_dir=tmp_path) as srv:
        report = srv.recovery
        assert not report.clean
        assert report.records_lost == 1
        assert len(report.damaged) == 1 and report.damaged[0][2] == 1
        start, end, _ = report.damaged[0]
        assert start < len(data) * 2 // 3 < end and report.bytes_dropped == end - start
        assert "1 records lost" in str(report)
        assert _count(srv) == 99


def test_a_missing_log_needs_repair(tmp_path):
    with LocalEnsign(data_dir=tmp_path) as srv:
        _publish(srv, 10)
        project = srv.project_id
    (tmp_path / "events.log").unlink()
    with pytest.raises(ValueError, match="repair=True"):
        LocalEnsign(data_dir=tmp_path).start()
    with LocalEnsign(data_dir=tmp_path, repair=True) as srv:
        assert srv.project_id == project
        assert any("events.log was missing" in a for a in srv.recovery.actions)


def _serve(data_dir: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0", "--data-dir"]
    return subprocess.Popen(
        [*cmd, str(data_dir), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _recovery_line(proc: subprocess.Popen) -> str:
    try:
        assert proc.stdout is not None
        for _ in range(10):
            line = proc.stdout.readline().strip()
            if line.startswith("recovery: "):
                return line
        raise AssertionError("no recovery line")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_prints_its_recovery_and_repairs_on_request(tmp_path):
    assert _recovery_line(_serve(tmp_path)) == "recovery: clean (0 records)"
    (tmp_path / "events.log").unlink()
    proc = _serve(tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--repair" in err and "Traceback" not in err
    line = _recovery_line(_serve(tmp_path, "--repair"))
    assert "events.log was missing" in line, line
