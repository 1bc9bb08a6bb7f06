"""Version information (``pyensign.version``): ``__version__``, ``__version_info__``,
``get_version(short=False)`` and ``user_agent()``.

The version is the Rust core's (maturin takes the wheel version from Cargo), falling
back to the installed distribution's metadata if the extension cannot be imported.
"""

from __future__ import annotations

import re
from typing import Dict, Union

__all__ = ["__version__", "__version_info__", "get_version", "user_agent"]


def _installed_version() -> str:
    try:
        from pyensign_fast._core import __version__ as core_version

        return str(core_version)
    except ImportError:  # pragma: no cover - only without the compiled extension
        from importlib import metadata

        try:
            return metadata.version("pyensign-fast")
        except metadata.PackageNotFoundError:
            return "0.0.0"


__version__: str = _installed_version()

# PEP 440 / Cargo forms: "1.2.3", "1.2.3b0", "1.2.3-beta.1", "1.2.3rc2", ...
_LEVELS = {"a": "alpha", "alpha": "alpha", "b": "beta", "beta": "beta", "rc": "candidate"}
_VERSION = re.compile(
    r"^(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<micro>\d+))?"
    r"(?:[-.]?(?P<level>alpha|beta|rc|a|b)[.]?(?P<serial>\d*))?"
)


def _info(version: str) -> Dict[str, Union[int, str]]:
    match = _VERSION.match(version)
    if match is None:
        return {"major": 0, "minor": 0, "micro": 0, "releaselevel": "final", "serial": 0}
    level = match.group("level")
    return {
        "major": int(match.group("major")),
        "minor": int(match.group("minor")),
        "micro": int(match.group("micro") or 0),
        "releaselevel": _LEVELS[level] if level else "final",
        "serial": int(match.group("serial") or 0),
    }


__version_info__: Dict[str, Union[int, str]] = _info(__version__)


def get_version(short: bool = False) -> str:
    """The version string; ``short=True`` drops a pre-release suffix (``0.12.1b0`` →
    ``0.12.1``), as pyensign's does."""
    if not short:
        return __version__
    info = __version_info__
    return f"{info['major']}.{info['minor']}.{info['micro']}"


def user_agent() -> str:
    """``"pyensign-fast/<version>"``: sent as the gRPC and HTTP user agent."""
    return f"pyensign-fast/{__version__}"
