"""Finds CPython interpreters to test an installed wheel with (``check_wheel.py``,
``check_sdist.py``).

A request is ``"X.Y"``, ``"newest"`` (the newest CPython ≥ 3.9 here) or a path. Looked up
in ``$PYENV_ROOT/versions/X.Y.Z`` (default ``~/.pyenv``; the newest patch wins; only plain
CPython builds, no ``t`` free-threaded or other flavours), then as ``pythonX.Y`` on PATH.
Each candidate is run once to confirm it works (a pyenv shim for a version that is not
selected fails there). ``find_interpreter`` returns ``(path, None)`` or ``(None, why)``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Optional

MINIMUM = (3, 9)
_PLAIN = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def _version_of(python: Path) -> Optional[tuple[int, int]]:
    try:
        out = subprocess.run(
            [str(python), "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 2:
        return None
    return int(parts[0]), int(parts[1])


def _candidates() -> dict[tuple[int, int], Path]:
    """Every working CPython ≥ 3.9 found, by (major, minor)."""
    found: dict[tuple[int, int], tuple[tuple[int, int, int], Path]] = {}
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    if root.is_dir():
        for entry in root.iterdir():
            m = _PLAIN.match(entry.name)
            python = entry / "bin" / "python3"
            if m and python.exists():
                full = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
                key = full[:2]
                if key >= MINIMUM and (key not in found or full > found[key][0]):
                    found[key] = (full, python)
    result = {key: path for key, (_, path) in found.items()}
    for minor in range(MINIMUM[1], 30):
        key = (3, minor)
        which = shutil.which(f"python3.{minor}")
        if key not in result and which:
            result[key] = Path(which)
    return result


def find_interpreter(request: str) -> tuple[Optional[Path], Optional[str]]:
    """The interpreter for ``request`` (``"3.9"``, ``"newest"`` or a path), or why not."""
    if os.sep in request or request.startswith("."):
        path = Path(request)
        if _version_of(path) is None:
            return None, f"{request} does not run"
        return path, None
    candidates = _candidates()
    if request == "newest":
        for key in sorted(candidates, reverse=True):
            if _version_of(candidates[key]) is not None:
                return candidates[key], None
        return None, "no CPython >= 3.9 found in pyenv or on PATH"
    m = re.fullmatch(r"(\d+)\.(\d+)", request)
    if not m:
        return None, f"not a version or a path: {request!r}"
    key = (int(m.group(1)), int(m.group(2)))
    if key < MINIMUM:
        return None, f"Python {request} is older than the wheel supports (3.9)"
    path = candidates.get(key)
    if path is None:
        return None, f"no python{request} in pyenv or on PATH"
    if _version_of(path) != key:
        return None, f"{path} does not run as Python {request}"
    return path, None
