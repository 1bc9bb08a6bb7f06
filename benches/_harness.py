"""Shared plumbing of the side-by-side benchmarks: the pyensign virtualenv, a local
server in its own process (pinned to one core when the machine has two or more), client
runs as subprocesses that print one JSON line, and the Markdown report.

Benchmarks are scripts, not tests: they measure and report, they never assert on time.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
PYENSIGN_VERSION = "0.12.1b0"


def process_cpu(pid: int) -> float:
    """User + system seconds of a whole process (all its threads, live or ended)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pyensign_python() -> str:
    """The interpreter of a virtualenv holding pyensign 0.12.1 with its exact pins,
    created on first use (pyensign pins grpcio/protobuf versions that clash with ours)."""
    try:
        sys.path.insert(0, str(ROOT / "tests" / "compat"))
        import pyensign_env  # type: ignore[import-not-found]

        return str(pyensign_env.python())
    except (ImportError, AttributeError):
        pass
    finally:
        sys.path.pop(0)
    venv = ROOT / ".venvs" / "pyensign"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", f"pyensign=={PYENSIGN_VERSION}"],
            check=True,
        )
    return str(py)


def rust_bench_binary() -> str:
    """Builds (release) and returns the pure-Rust publish benchmark client."""
    subprocess.run(
        [
            "cargo",
            "build",
            "--quiet",
            "--release",
            "-p",
            "ensign-client",
            "--example",
            "publish_bench",
        ],
        cwd=ROOT,
        check=True,
    )
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return str(target / "release" / "examples" / "publish_bench")


class Server:
    """``pyensign-fast serve --auth`` in its own process, pinned to the last CPU."""

    def __init__(self, pin: bool = True) -> None:
        cmd = [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0", "--memory", "--auth"]
        self.pinned_cpu: Optional[int] = None
        if pin and shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
            self.pinned_cpu = (os.cpu_count() or 2) - 1
            cmd = ["taskset", "-c", str(self.pinned_cpu), *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        info: Dict[str, str] = {}
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(info) < 4 and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"Ensign server listening on (\S+)", line)
            if m:
                info["endpoint"] = m.group(1)
            for key in ("auth url", "client id", "client secret"):
                if line.startswith(key + ":"):
                    info[key] = line.split(":", 1)[1].strip()
        if len(info) < 4:
            self.stop()
            raise RuntimeError("the local server did not start")
        self.endpoint = info["endpoint"]
        self.auth_url = info["auth url"]
        self.client_id = info["client id"]
        self.client_secret = info["client secret"]

    def client_args(self) -> List[str]:
        return [
            "--endpoint", self.endpoint,
            "--auth-url", self.auth_url,
            "--client-id", self.client_id,
            "--client-secret", self.client_secret,
        ]  # fmt: skip

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_json(cmd: List[str], timeout: float = 1800) -> dict:
    """Runs one client and parses the JSON line it prints last."""
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} CPUs ({cpu}), {system}, Python {platform.python_version()}"


def scheduler_jitter(seconds: float = 3.0) -> str:
    """How late a 100 µs sleep wakes up on this machine: the floor under any latency
    percentile measured here (virtual machines show multi-millisecond stalls)."""
    over: List[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        time.sleep(0.0001)
        over.append((time.perf_counter() - t - 0.0001) * 1e6)
    over.sort()
    n = len(over)
    stalls = sum(1 for o in over if o > 1000)
    return (
        f"a 100 µs sleep overshoots by p50 {over[n // 2]:.0f} µs, "
        f"p99 {over[int(n * 0.99)]:.0f} µs, "
        f"p99.9 {over[int(n * 0.999)]:.0f} µs, max {over[-1]:.0f} µs "
        f"({stalls / seconds:.1f} stalls over 1 ms per second)"
    )


def fmt(v: Optional[float], digits: int = 1) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"
