"""LocalEnsign and ``pyensign-fast serve``: lifecycle, attributes, errors, durability."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from pyensign_fast.server import LocalEnsign


def _port_of(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_sync_lifecycle_frees_the_port():
    with LocalEnsign() as srv:
        host, port = srv.endpoint.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        assert srv.running
        assert srv.auth_url is None and srv.client_id is None and srv.client_secret is None
        assert len(srv.project_id) == 26
        assert _listening(int(port))
        assert "running=True" in repr(srv)
    assert not srv.running
    assert not _listening(int(port))
    srv.stop()  # idempotent


async def test_async_lifecycle():
    async with LocalEnsign() as srv:
        port = _port_of(srv.endpoint)
        assert _listening(port)
    assert not _listening(port)


def test_start_stop_and_not_started_errors():
    srv = LocalEnsign()
    with pytest.raises(RuntimeError):
        _ = srv.endpoint
    srv.start()
    try:
        with pytest.raises(RuntimeError):
            srv.start()
    finally:
        srv.stop()


def test_auth_mode_serves_quarterdeck():
    with LocalEnsign(auth=True) as srv:
        assert srv.auth_url.startswith("http://127.0.0.1:")
        assert len(srv.client_id) == 32 and len(srv.client_secret) == 64
        assert srv.client_secret not in repr(srv)
        code, status = _http(srv.auth_url + "/v1/status")
        assert code == 200 and status["status"] == "ok"
        code, tokens = _http(
            srv.auth_url + "/v1/authenticate",
            {"client_id": srv.client_id, "client_secret": srv.client_secret},
        )
        assert code == 200 and tokens["access_token"].count(".") == 2
        code, err = _http(
            srv.auth_url + "/v1/authenticate", {"client_id": "x", "client_secret": "y"}
        )
        assert (code, err) == (403, {"success": False, "error": "invalid credentials"})
        auth_port = _port_of(srv.auth_url[len("http://") :])
    assert not _listening(auth_port)


def test_given_credentials_are_used():
    with LocalEnsign(auth=True, client_id="my-id", client_secret="my-secret") as srv:
        assert (srv.client_id, srv.client_secret) == ("my-id", "my-secret")


def test_bad_arguments_are_clear_errors(tmp_path):
    with LocalEnsign() as srv:
        with pytest.raises(OSError, match="could not listen on"):
            LocalEnsign(port=_port_of(srv.endpoint)).start()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OSError, match="data directory"):
        LocalEnsign(data_dir=a_file / "sub").start()
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "meta.json").write_text("{nope")
    with pytest.raises(ValueError, match="corrupt"):
        LocalEnsign(data_dir=tmp_path / "corrupt").start()
    with pytest.raises(ValueError):
        LocalEnsign(port=70000)
    with pytest.raises(ValueError):
        LocalEnsign(client_id="x")


def test_data_dir_keeps_the_project_and_is_exclusive(tmp_path):
    with LocalEnsign(data_dir=tmp_path) as srv:
        project = srv.project_id
        with pytest.raises(OSError, match="in use by another server"):
            LocalEnsign(data_dir=tmp_path).start()
    with LocalEnsign(data_dir=str(tmp_path)) as srv:
        assert srv.project_id == project


def test_client_is_set_up_for_the_server():
    from pyensign_fast import ensign

    with LocalEnsign(auth=True) as srv:
        client = srv.client()
        assert isinstance(client, ensign.Ensign)
    with LocalEnsign() as srv:
        assert isinstance(srv.client(), ensign.Ensign)


# -- pyensign-fast serve ---------------------------------------------------------------


def _serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pyensign_fast", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_cli_serve_prints_and_stops_cleanly(sig):
    proc = _serve("--port", "0", "--auth")
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("Ensign server listening on 127.0.0.1:"), first
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert lines[0].startswith("auth url: http://127.0.0.1:")
        assert lines[1].startswith("client id: ") and lines[2].startswith("client secret: ")
        port = _port_of(first.rsplit(" ", 1)[1])
        assert _listening(port)
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in proc.stderr.read()
        assert not _listening(port)
    finally:
        proc.kill()
        proc.wait()


def test_cli_bad_arguments_exit_nonzero_without_traceback(tmp_path):
    with LocalEnsign() as srv:
        proc = _serve("--port", str(_port_of(srv.endpoint)))
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 1
        assert "error: could not listen on" in err and "Traceback" not in err
    (tmp_path / "meta.json").write_text("garbage")
    proc = _serve("--port", "0", "--data-dir", str(tmp_path))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "corrupt" in err and "Traceback" not in err
    proc = _serve("--port", "99999")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "port out of range" in err
    proc = _serve("--data-dir", str(tmp_path), "--memory")
    proc.communicate(timeout=30)
    assert proc.returncode == 2


def test_cli_kill_9_keeps_acked_events(tmp_path):
    """Publish with acks to ``serve --data-dir``, SIGKILL it, restart, find them all."""
    from pyensign_fast import ensign
    from pyensign_fast.events import Event

    proc = _serve("--port", "0", "--data-dir", str(tmp_path))
    endpoint = proc.stdout.readline().strip().rsplit(" ", 1)[1]

    async def publish() -> int:
        client = ensign.Ensign(endpoint=endpoint, insecure=True, auth_url="")
        await client.create_topic("durable")
        events = [Event(str(i).encode(), mimetype="text/plain") for i in range(5000)]
        await client.publish("durable", events)
        for e in events:
            await asyncio.wait_for(e.wait_for_ack(), 30)
        acked = sum(e.acked() for e in events)
        os.kill(proc.pid, signal.SIGKILL)
        await client.close(timeout=5)
        return acked

    try:
        assert asyncio.run(publish()) == 5000
    finally:
        proc.kill()
        proc.wait()

    async def query(srv: LocalEnsign) -> list[int]:
        client = srv.client()
        cursor = await client.query("SELECT * FROM durable")
        rows = await cursor.fetchall()
        await client.close(timeout=5)
        return sorted(int(r.data) for r in rows)

    with LocalEnsign(data_dir=tmp_path) as srv:
        assert asyncio.run(query(srv)) == list(range(5000))
