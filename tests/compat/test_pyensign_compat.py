"""The official pyensign 0.12.1b0, unchanged, against our server in auth mode.

pyensign runs in its own virtualenv (``pyensign_env``: exact pins grpcio 1.59.0 and
protobuf 4.24.4) as a subprocess; the server runs in this process (``LocalEnsign``) or
as ``pyensign-fast serve`` for the kill -9 test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pyensign_env  # noqa: E402

SCENARIOS = HERE / "pyensign_scenarios.py"


@pytest.fixture(scope="module")
def pyensign_python():
    try:
        return pyensign_env.python()
    except (OSError, subprocess.CalledProcessError) as e:  # pragma: no cover - no PyPI
        pytest.skip(f"cannot create the pyensign virtualenv: {e}")


def scenario(srv_env: dict, *args: str, timeout: float = 120) -> dict:
    proc = pyensign_env.run(SCENARIOS, args, env=srv_env, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def env_for(endpoint: str, auth_url: str, client_id: str, client_secret: str) -> dict:
    return {
        "ENSIGN_TEST_ENDPOINT": endpoint,
        "ENSIGN_TEST_AUTH_URL": auth_url,
        "ENSIGN_CLIENT_ID": client_id,
        "ENSIGN_CLIENT_SECRET": client_secret,
    }


def test_pyensign_roundtrip(pyensign_python):
    from pyensign_fast.server import LocalEnsign

    with LocalEnsign(auth=True) as srv:
        out = scenario(
            env_for(srv.endpoint, srv.auth_url, srv.client_id, srv.client_secret),
            "roundtrip",
            "compat-orders",
        )
    assert out["status"][0] == 1  # HEALTHY
    assert out["status"][1].startswith("0.12.9")
    assert out["exists"] is True and out["missing_exists"] is False
    assert out["topic_id_lookup"] == out["topic_id"]
    assert out["listed"] == ["compat-orders"]
    assert out["subscribed"] and out["acked"] == 10
    assert [r["data"] for r in out["received"]] == [f"event {i}" for i in range(10)]
    assert all(r["id_len"] == 10 for r in out["received"])  # RLIDs
    events = [f"event {i}" for i in range(10)]
    assert [q for q in out["query"] if q != "warmup"] == events
    assert out["query_limited"] == out["query"][2:5]
    assert out["info"] == {"events": len(out["query"]), "num_topics": 1}
    assert out["listed_after_destroy"] == []


def test_wrong_credentials_are_refused(pyensign_python):
    from pyensign_fast.server import LocalEnsign

    with LocalEnsign(auth=True) as srv:
        proc = pyensign_env.run(
            SCENARIOS,
            ["count", "anything"],
            env=env_for(srv.endpoint, srv.auth_url, srv.client_id, "wrong-secret"),
        )
    assert proc.returncode != 0
    assert "invalid credentials" in proc.stderr or "UNAUTHENTICATED" in proc.stderr


def _serve(data_dir: Path) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyensign_fast",
            "serve",
            "--port",
            "0",
            "--auth",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = [proc.stdout.readline().strip() for _ in range(4)]
    assert lines[0].startswith("Ensign server listening on "), lines
    info = dict(line.split(": ", 1) for line in lines[1:])
    return proc, env_for(
        lines[0].rsplit(" ", 1)[1], info["auth url"], info["client id"], info["client secret"]
    )


def test_acked_events_survive_kill_9(pyensign_python, tmp_path):
    proc, env = _serve(tmp_path)
    try:
        out = scenario(env, "publish", "durable", "2000")
        assert out["acked"] == 2000
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # Restarted on the same directory: same credentials, every acked event is there.
    proc, env2 = _serve(tmp_path)
    try:
        assert env2["ENSIGN_CLIENT_ID"] == env["ENSIGN_CLIENT_ID"]
        out = scenario(env2, "count", "durable")
        assert out["payloads"] == list(range(2000))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
