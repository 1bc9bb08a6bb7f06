"""A virtualenv holding the official pyensign 0.12.1b0 with its exact pins.

pyensign pins grpcio 1.59.0 and protobuf 4.24.4, which must not meet our own test
environment, so it lives in ``.venvs/pyensign`` at the repository root. The compatibility
tests and the benchmarks run pyensign scripts with its interpreter as subprocesses.

Importable and idempotent: ``python()`` (alias ``python_path()``) creates the virtualenv
on first use (``pip install pyensign==0.12.1b0``; needs PyPI) and returns its interpreter.
As a script, it prints that path::

    python tests/compat/pyensign_env.py
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Sequence

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("PYENSIGN_VENV", ROOT / ".venvs" / "pyensign"))
PYENSIGN_VERSION = "0.12.1b0"
# pyensign's own pins, stated so that a resolver change cannot drift them.
REQUIREMENTS = [f"pyensign=={PYENSIGN_VERSION}", "grpcio==1.59.0", "protobuf==4.24.4"]
_MARKER = "pyensign-env.json"


def _interpreter(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ready(venv: Path) -> bool:
    try:
        return json.loads((venv / _MARKER).read_text()) == {"requirements": REQUIREMENTS}
    except (OSError, ValueError):
        return False


def python(venv: Path = VENV) -> Path:
    """The interpreter of the pyensign virtualenv, created if missing (thread- and
    process-safe: concurrent callers wait for one install)."""
    py = _interpreter(venv)
    if _ready(venv) and py.exists():
        return py
    venv.parent.mkdir(parents=True, exist_ok=True)
    ignore = venv.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _ready(venv) and py.exists():
            return py
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *REQUIREMENTS,
            ],
            check=True,
        )
        (venv / _MARKER).write_text(json.dumps({"requirements": REQUIREMENTS}))
    return py


python_path = python


def run(
    script: Path,
    args: Sequence[str] = (),
    env: Dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Runs a script with the pyensign interpreter; captures its output as text."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [str(python()), str(script), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


if __name__ == "__main__":
    print(python())
