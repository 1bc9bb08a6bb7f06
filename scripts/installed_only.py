"""pytest plugin (``-p installed_only``) for running the test suite against an installed
wheel (``make test-wheel``): stops the run if the ``pyensign_fast`` the tests imported is
not the installed one, and names it in the report header."""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

import pytest


def _location() -> Path:
    import pyensign_fast

    return Path(pyensign_fast.__file__).resolve().parent


def _installed(package: Path) -> bool:
    roots = {Path(sysconfig.get_path(k)).resolve() for k in ("purelib", "platlib")}
    return any(root in package.parents for root in roots)


def pytest_report_header(config: pytest.Config) -> str:
    return f"pyensign_fast under test: {_location()}"


def pytest_collection_finish(session: pytest.Session) -> None:
    module = sys.modules.get("pyensign_fast")
    package = Path(module.__file__).resolve().parent if module and module.__file__ else None
    if package is None or not _installed(package):
        pytest.exit(f"the tests imported pyensign_fast from {package}, not the wheel", 3)
