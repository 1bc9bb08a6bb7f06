"""Loads ``tests/data/pyensign_tables.json``: outcomes recorded by running real pyensign
0.12.1b0 (regenerate with ``tests/data/gen_pyensign_tables.py``)."""

from __future__ import annotations

import json
import pathlib
from typing import Any, Callable, Dict, List

TABLES: Dict[str, List[Any]] = json.loads(
    (pathlib.Path(__file__).parent / "data" / "pyensign_tables.json").read_text()
)


def outcome(fn: Callable[[], Any]) -> List[Any]:
    """The same ``["ok", value]`` / ``["err", class name, message]`` form as the table."""
    try:
        return ["ok", fn()]
    except Exception as e:
        return ["err", type(e).__name__, str(e)]
