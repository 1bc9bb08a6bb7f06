"""The official Go SDK, go-ensign v0.12.0 unchanged, against ``pyensign-fast serve``.

``go_ensign/`` holds a small Go program (its own ``go.mod``/``go.sum``) that logs in,
refreshes a short-lived token, manages topics, publishes 10,000 events counting the acks
on the stream, subscribes with acks and nacks, queries with EnSQL and reads the project
info; it prints one JSON line that the tests check. It is built with the Go toolchain
through the Go module proxy (Go's build and module caches make later builds take
seconds). Without Go, or without the module proxy, the tests skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "go_ensign"
ROOT = HERE.parents[1]
BINARY = ROOT / ".venvs" / "go-ensign-compat" / "go-ensign-compat"
EVENTS = 10_000
ACCESS_TTL = 2


def _go() -> str | None:
    return shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None
    )


def _skip(reason: str) -> None:
    # A warning, so that the reason shows in the run's summary, not only with -rs.
    warnings.warn(f"go-ensign compatibility tests skipped: {reason}", stacklevel=2)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def go_program() -> Path:
    go = _go()
    if go is None:
        _skip("the Go toolchain is not installed (go not on PATH nor in /usr/local/go)")
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "GOTOOLCHAIN": "local"}
    fetch = subprocess.run(
        [go, "mod", "download"], cwd=PROGRAM, env=env, capture_output=True, text=True, timeout=600
    )
    if fetch.returncode != 0:
        reason = (fetch.stderr.strip().splitlines() or ["no output"])[-1]
        _skip(f"cannot fetch go-ensign v0.12.0 through the Go module proxy: {reason}")
    BINARY.parent.mkdir(parents=True, exist_ok=True)
    ignore = BINARY.parent.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    build = subprocess.run(
        [go, "build", "-o", str(BINARY), "."],
        cwd=PROGRAM,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-4000:]
    return BINARY


class Serve:
    """``pyensign-fast serve`` in a subprocess on free ports."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline().strip()
        assert first.startswith("Ensign server listening on "), first
        self.endpoint = first.rsplit(" ", 1)[1]
        self.info: Dict[str, str] = {}
        for line in iter(self.proc.stdout.readline, ""):
            key, _, value = line.strip().partition(": ")
            self.info[key] = value
            if key == "data":
                break

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return err


@pytest.fixture
def serve() -> Iterator[List[Serve]]:
    started: List[Serve] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(timeout=10)


def run_go(program: Path, srv: Serve, *args: str) -> dict:
    env = {
        **os.environ,
        "ENSIGN_CLIENT_ID": srv.info.get("client id", ""),
        "ENSIGN_CLIENT_SECRET": srv.info.get("client secret", ""),
    }
    proc = subprocess.run(
        [str(program), "-endpoint", srv.endpoint, "-events", str(EVENTS), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"go-ensign: {out}")
    return out


def check_common(out: dict) -> None:
    assert (out["status"], out["version"][:6]) == ("HEALTHY", "0.12.9")
    assert out["topic_exists"] and out["topic_id_matches"] and out["topics"] == 1
    assert (out["acks"], out["nacks"]) == (EVENTS, 0)
    assert (out["received"], out["mismatched"]) == (EVENTS, 0)
    assert (out["sub_acked"], out["sub_nacked"]) == (EVENTS - EVENTS // 1000, EVENTS // 1000)
    assert out["query_all"] == EVENTS + 5
    assert (out["query_page"], out["query_page_first"]) == (5, "event 10")
    assert (out["info_events"], out["info_topics"]) == (EVENTS + 5, 1)


def test_go_ensign_without_auth(go_program: Path, serve: List[Serve]) -> None:
    srv = Serve()
    serve.append(srv)
    out = run_go(go_program, srv, "-auth-url", "")
    check_common(out)
    assert "panicked" not in srv.stop()


def test_go_ensign_logs_in_and_refreshes(go_program: Path, serve: List[Serve]) -> None:
    srv = Serve("--auth", "--access-ttl", str(ACCESS_TTL), "--refresh-ttl", "60")
    serve.append(srv)
    out = run_go(
        go_program, srv, "-auth-url", srv.info["auth url"], "-access-ttl", f"{ACCESS_TTL}s"
    )
    check_common(out)
    assert "[403] invalid credentials" in out["wrong_secret_error"]
    assert out["refresh_valid"] and out["refreshed"]
    assert out["refresh_last_login"].endswith("Z")
    assert out["after_expiry"] == 1
    assert "panicked" not in srv.stop()
