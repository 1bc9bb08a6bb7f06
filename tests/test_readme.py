"""The README's copy-paste examples run: each code block preceded by a
``<!-- tested: sh|python|pytest -->`` comment is run against a ``LocalEnsign`` (found
through the ``ENSIGN_*`` variables, as the README sets them up): ``sh`` blocks with
bash (``pyensign-fast`` on the PATH), ``python`` blocks with this interpreter, ``pytest``
blocks as a test file in a separate pytest run (the plugin's fixtures come from its
entry point)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from _cli import TIMEOUT, clean_env
from pyensign_fast.server import LocalEnsign

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"<!-- tested: (\w+) -->\n```\w*\n(.*?)\n```", re.S)


def blocks() -> List[Tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(README.read_text())]


def test_the_readme_has_tested_blocks_of_each_kind() -> None:
    kinds = [kind for kind, _ in blocks()]
    assert {"sh", "python", "pytest"} <= set(kinds), kinds
    assert set(kinds) <= {"sh", "python", "pytest"}


@pytest.fixture
def env() -> Iterator[Dict[str, str]]:
    with LocalEnsign() as server:
        yield clean_env(
            ENSIGN_ENDPOINT=server.endpoint,
            ENSIGN_INSECURE="true",
            ENSIGN_NO_AUTHENTICATION="true",
            PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        )


def _run(kind: str, code: str, where: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    if kind == "sh":
        argv = ["bash", "-euo", "pipefail", "-c", code]
    elif kind == "python":
        argv = [sys.executable, "-c", code]
    else:
        (where / "test_readme_example.py").write_text(code + "\n")
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(where)]
    return subprocess.run(
        argv, cwd=where, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


@pytest.mark.parametrize("index", range(len(blocks())))
def test_readme_block_runs(index: int, env: Dict[str, str], tmp_path: Any) -> None:
    kind, code = blocks()[index]
    result = _run(kind, code, tmp_path, env)
    assert result.returncode == 0, f"{kind} block:\n{code}\n{result.stdout}\n{result.stderr}"
    if kind == "sh":
        assert '{"t": 23.1}' in result.stdout and "events/s" in result.stdout
    elif kind == "python":
        # A block states its output in ``# prints: ...`` comments; without any, it prints
        # HEALTHY.
        expected = re.findall(r"# prints: (.*)", code) or ["HEALTHY"]
        for line in expected:
            assert line.strip() in result.stdout.splitlines(), (result.stdout, result.stderr)
    else:
        assert " passed" in result.stdout and "failed" not in result.stdout
