"""pyensign_fast.version: the version string, its parts and the user agent."""

from __future__ import annotations

import pytest

from pyensign_fast import _core, version


def test_version_is_the_cores() -> None:
    assert version.__version__ == _core.__version__
    assert version.get_version() == version.__version__


def test_user_agent() -> None:
    agent = version.user_agent()
    assert agent == f"pyensign-fast/{version.__version__}"
    assert "pyensign" in agent  # pyensign's mock server checks for this


@pytest.mark.parametrize(
    "text, info, short",
    [
        ("0.12.1b0", (0, 12, 1, "beta", 0), "0.12.1"),
        ("1.2.3", (1, 2, 3, "final", 0), "1.2.3"),
        ("1.2.3-alpha.2", (1, 2, 3, "alpha", 2), "1.2.3"),
        ("2.0rc1", (2, 0, 0, "candidate", 1), "2.0.0"),
        ("garbage", (0, 0, 0, "final", 0), "0.0.0"),
    ],
)
def test_version_info(monkeypatch: pytest.MonkeyPatch, text: str, info: tuple, short: str) -> None:
    parsed = version._info(text)
    keys = ("major", "minor", "micro", "releaselevel", "serial")
    assert tuple(parsed[k] for k in keys) == info
    monkeypatch.setattr(version, "__version__", text)
    monkeypatch.setattr(version, "__version_info__", parsed)
    assert version.get_version() == text
    assert version.get_version(short=True) == short
