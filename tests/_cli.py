"""Running ``pyensign-fast`` as a subprocess against a test server (shared by the CLI tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

# Generous: a loaded CI machine; a hang still fails (pytest-timeout is the backstop).
TIMEOUT = 120


def clean_env(**extra: str) -> Dict[str, str]:
    """The test's environment without any ENSIGN_* setting of the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENSIGN_")}
    env.update(extra)
    return env


def argv(*args: str) -> List[str]:
    return [sys.executable, "-m", "pyensign_fast", *args]


def conn(server: Any) -> List[str]:
    """Connection options for a ``LocalEnsign`` without auth."""
    return ["--endpoint", server.endpoint, "--insecure", "--no-auth"]


def auth_env(server: Any) -> Dict[str, str]:
    """The environment of a client of an auth-mode ``LocalEnsign``."""
    return clean_env(
        ENSIGN_ENDPOINT=server.endpoint,
        ENSIGN_INSECURE="true",
        ENSIGN_AUTH_URL=server.auth_url,
        ENSIGN_CLIENT_ID=server.client_id,
        ENSIGN_CLIENT_SECRET=server.client_secret,
    )


def cli(
    *args: str,
    input: Optional[bytes] = None,
    env: Optional[Dict[str, str]] = None,
) -> subprocess.CompletedProcess:
    """Runs ``pyensign-fast ARGS``; returns the completed process (bytes output)."""
    return subprocess.run(
        argv(*args),
        input=input,
        capture_output=True,
        env=env if env is not None else clean_env(),
        timeout=TIMEOUT,
        check=False,
    )


def ok(result: subprocess.CompletedProcess) -> str:
    """stdout of a run that must have succeeded (its stderr in the failure message)."""
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return str(result.stdout.decode())
