"""Token lifetimes of the local server's auth mode (``access_ttl``/``refresh_ttl`` and
``serve --access-ttl/--refresh-ttl``), seen as a client sees the Quarterdeck reply."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.request
from typing import Any, Dict, Tuple

import pytest

from pyensign_fast.server import LocalEnsign


def _claims(token: str) -> Dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _login(srv: LocalEnsign) -> Tuple[str, Dict[str, Any]]:
    body = json.dumps({"client_id": srv.client_id, "client_secret": srv.client_secret})
    req = urllib.request.Request(
        f"{srv.auth_url}/v1/authenticate", data=body.encode(), method="POST"
    )
    with urllib.request.urlopen(req, timeout=20) as resp:
        return resp.headers["Content-Type"], json.loads(resp.read())


def test_short_lifetimes_reach_the_tokens() -> None:
    with LocalEnsign(auth=True, access_ttl=5, refresh_ttl=20) as srv:
        content_type, tokens = _login(srv)
    assert content_type == "application/json; charset=utf-8"
    access, refresh = _claims(tokens["access_token"]), _claims(tokens["refresh_token"])
    assert access["exp"] - access["iat"] == 5
    assert refresh["exp"] - refresh["iat"] == 20
    # Usable at once: its nbf would be 15 minutes before the access token expires.
    assert refresh["nbf"] == refresh["iat"]


def test_default_lifetimes_are_quarterdecks() -> None:
    with LocalEnsign(auth=True) as srv:
        _, tokens = _login(srv)
    access = _claims(tokens["access_token"])
    assert access["exp"] - access["iat"] == 3600


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_ttl": 5},
        {"auth": True, "access_ttl": 0},
        {"auth": True, "refresh_ttl": -1},
        {"auth": True, "access_ttl": True},
        {"auth": True, "refresh_ttl": 1.5},
    ],
)
def test_bad_lifetimes_are_refused(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LocalEnsign(**kwargs)


def test_serve_needs_auth_for_lifetimes() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0", "--access-ttl", "5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--access-ttl and --refresh-ttl need --auth" in proc.stderr
