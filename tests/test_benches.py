"""The benchmark programs keep working as the package changes (they are never timed
here): every script under ``benches/`` imports, the pytest-benchmark micro-benchmarks
run, and the matrix's client program (``benches/clients/program_client.py``) runs each
of its programs against the in-process local server with authentication and reports an
outcome for every event.

Why: the benchmarks run outside the test suite, so an internal change (a moved helper,
a new row layout) once broke ``bench_micro.py`` without any test noticing.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from pyensign_fast.server import LocalEnsign

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ROOT / "benches"
SCRIPTS = sorted(BENCHES.glob("*.py")) + sorted((BENCHES / "clients").glob("*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(BENCHES)))
def test_every_bench_script_imports(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHES))  # their shared `_harness`
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # module level only: `main()` is guarded


def test_the_micro_benchmarks_run(tmp_path: Path) -> None:
    pytest.importorskip("pytest_benchmark", reason="the bench extra is not installed")
    out = tmp_path / "micro.json"
    cmd = [sys.executable, "-m", "pytest", str(BENCHES / "bench_micro.py"), "-q", "-s"]
    cmd += ["-p", "no:cacheprovider", f"--benchmark-json={out}"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    names = {b["name"] for b in json.loads(out.read_text())["benchmarks"]}
    assert names == {
        "test_event_creation",
        "test_batch_crossing",
        "test_ack_dispatch_plain_callback",
        "test_ack_dispatch_coroutine_callback",
        "test_received_event",
    }
    assert run.stdout.count("us per event") == 5


@pytest.fixture(scope="module")
def auth_server():  # type: ignore[no-untyped-def]
    with LocalEnsign(auth=True) as srv:
        yield srv


def program(srv: LocalEnsign, topic: str, *args: str) -> dict:
    cmd: List[str] = [sys.executable, str(BENCHES / "clients" / "program_client.py")]
    cmd += ["--sdk", "pyensign_fast", "--endpoint", srv.endpoint, "--auth-url", srv.auth_url]
    cmd += ["--client-id", srv.client_id, "--client-secret", srv.client_secret]
    cmd += ["--topic", topic, *args]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args",
    [
        ["--program", "batches", "--callbacks", "async"],
        ["--program", "batches", "--callbacks", "plain", "--size", "1024"],
        ["--program", "batches", "--callbacks", "none", "--held"],
        ["--program", "batches", "--callbacks", "async", "--held"],
        ["--program", "rate", "--callbacks", "async", "--rate", "20000"],
        ["--program", "wait", "--callbacks", "none"],
    ],
    ids=lambda a: "-".join(x.lstrip("-") for x in a),
)
def test_the_matrix_client_programs(auth_server: LocalEnsign, args: List[str]) -> None:
    events = 200 if "wait" in args else 3000
    topic = "bench-" + "-".join(x.lstrip("-") for x in args)
    r = program(auth_server, topic, "--events", str(events), "--batch", "500", *args)
    assert r["events"] == events and r["outcomes"] == events
    assert r["events_per_s"] > 0 and r["cpu_per_event_us"] > 0
    if "--held" in args:
        assert r["acked"] == events  # every held event reports its own ack
        assert r["rss_built_mib"] > 0 and r["rss_published_mib"] > 0
    if Path("/proc/self/schedstat").exists():  # Linux: the core's I/O thread is in there
        waits = r["thread_runq_wait_per_event_us"]
        assert "pyensign-fast" in waits and all(v >= 0 for v in waits.values())
    if "rate" in args:
        assert 0 < r["p50_us"] <= r["p99_us"]  # publish→ack latency was measured
    else:
        assert r["p50_us"] is None
