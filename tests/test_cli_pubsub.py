"""``pyensign-fast pub`` and ``sub`` as subprocesses against ``LocalEnsign``: input forms,
summaries, exit codes on nacks and errors, JSON output, auth mode, and a 100,000-line
round trip through pub and sub."""

from __future__ import annotations

import json
import subprocess
import threading
from typing import Any, Iterator, List

import pytest

from _cli import TIMEOUT, argv, auth_env, clean_env, cli, conn, ok
from pyensign_fast.server import LocalEnsign
from pyensign_fast.sync import Ensign as SyncEnsign


@pytest.fixture(scope="module")
def server() -> Iterator[LocalEnsign]:
    with LocalEnsign() as srv:
        yield srv


def _query(server: LocalEnsign, topic: str) -> List[bytes]:
    with SyncEnsign(endpoint=server.endpoint, insecure=True, auth_url="") as client:
        return [e.data for e in client.query(f"SELECT * FROM {topic}").fetchall()]


class Subscriber:
    """``pyensign-fast sub`` in the background: started, it has subscribed (it printed
    "subscribed" on stderr); its stdout is read on a thread, so it never blocks."""

    def __init__(self, *args: str, env: Any = None) -> None:
        self.proc = subprocess.Popen(
            argv("sub", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env if env is not None else clean_env(),
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.first = self.proc.stderr.readline().decode()
        self._out: List[bytes] = []
        self._reader = threading.Thread(target=lambda: self._out.append(self.proc.stdout.read()))  # type: ignore[union-attr]
        self._reader.start()
        assert self.first.startswith("subscribed to "), self.first + self._rest_of_stderr()

    def _rest_of_stderr(self) -> str:
        self.proc.kill()
        return self.proc.stderr.read().decode()  # type: ignore[union-attr]

    def result(self) -> bytes:
        self.proc.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)
        err = self.proc.stderr.read().decode()  # type: ignore[union-attr]
        assert self.proc.returncode == 0, err
        return self._out[0]


def test_pub_lines_from_stdin(server: LocalEnsign) -> None:
    result = cli("pub", "lines", *conn(server), "--ensure-exists", input=b"a\nb\n\nc")
    ok(result)
    summary = result.stderr.decode()
    assert 'published 3 events to "lines"' in summary and "3 acked, 0 nacked" in summary
    assert "skipped 1 empty lines" in summary
    assert _query(server, "lines") == [b"a", b"b", b"c"]


def test_pub_data_count_rate_meta_and_files(server: LocalEnsign, tmp_path: Any) -> None:
    ok(cli("topics", "create", "forms", *conn(server)))
    ok(cli("pub", "forms", "x", "--count", "5", "--rate", "2000", "--meta", "k=v", *conn(server)))
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"n": 1}\r\n{"n": 2}\r\n')
    ok(cli("pub", "forms", "--file", str(path), "-D", "\\r\\n", "-m", "application/json",
           *conn(server)))  # fmt: skip
    ok(cli("pub", "forms", "--count", "2", "--batch", "1", *conn(server), input=b"p\nq\nr\n"))
    assert _query(server, "forms") == [b"x"] * 5 + [b'{"n": 1}', b'{"n": 2}', b"p", b"q"]


def test_pub_exits_1_on_a_nack(server: LocalEnsign) -> None:
    big = b"y" * (5 * 1024 * 1024) + b"\nsmall\n"
    result = cli("pub", "nacks", "--ensure-exists", *conn(server), input=big)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "1 acked, 1 nacked" in err and "nack MAX_EVENT_SIZE_EXCEEDED (1)" in err


def test_pub_and_sub_errors(server: LocalEnsign, tmp_path: Any) -> None:
    result = cli("pub", "nowhere", *conn(server), input=b"a\n")
    assert result.returncode == 1 and b"error:" in result.stderr
    assert b"nowhere" in result.stderr and b"--ensure-exists creates it" in result.stderr
    result = cli("pub", "t", "--file", str(tmp_path / "missing"), *conn(server))
    assert result.returncode == 2 and b"cannot read" in result.stderr
    result = cli("sub", "nowhere", *conn(server))
    assert result.returncode == 1 and b"error:" in result.stderr
    result = cli("pub", "t", "--endpoint", "no-port", "--insecure", "--no-auth")
    assert result.returncode == 2 and b"Invalid address" in result.stderr
    result = cli("pub", "t", "--count", "0", *conn(server))
    assert result.returncode == 2


def test_sub_json_and_raw(server: LocalEnsign) -> None:
    ok(cli("topics", "create", "formats", *conn(server)))
    as_json = Subscriber("formats", "--format", "json", "--count", "2", *conn(server))
    raw = Subscriber("formats", "--count", "2", *conn(server))
    ok(cli("pub", "formats", "--meta", "k=v", *conn(server), input="héllo\n\xff\n".encode()))
    rows = [json.loads(line) for line in as_json.result().decode().splitlines()]
    assert [r.get("data") for r in rows] == ["héllo", "ÿ"]
    assert rows[0]["topic"] == "formats" and rows[0]["meta"] == {"k": "v"}
    assert rows[0]["mimetype"] == "text/plain" and len(rows[0]["id"]) == 16
    assert rows[0]["committed"].endswith("Z") and rows[0]["type"] == "Unknown v0.0.0"
    assert raw.result() == "héllo\n\xff\n".encode()


def test_sub_binary_payload_as_base64(server: LocalEnsign) -> None:
    ok(cli("topics", "create", "binary", *conn(server)))
    sub = Subscriber("binary", "--format", "json", "--count", "1", *conn(server))
    ok(cli("pub", "binary", *conn(server), input=b"\x80\x81\n"))
    row = json.loads(sub.result())
    assert "data" not in row and row["data_base64"] == "gIE="


def test_pub_then_sub_round_trips_100000_lines(server: LocalEnsign) -> None:
    ok(cli("topics", "create", "roundtrip", *conn(server)))
    lines = [f"{i:06d} {'z' * (i % 50)}".encode() for i in range(100_000)]
    sub = Subscriber("roundtrip", "--count", "100000", *conn(server))
    result = cli("pub", "roundtrip", *conn(server), input=b"\n".join(lines) + b"\n")
    ok(result)
    assert "100,000 acked, 0 nacked" in result.stderr.decode()
    assert sub.result().split(b"\n") == [*lines, b""]


def test_pub_sub_with_auth(tmp_path: Any) -> None:
    with LocalEnsign(auth=True) as server:
        env = auth_env(server)
        ok(cli("topics", "create", "secure", env=env))
        sub = Subscriber("secure", "--count", "1", env=env)
        ok(cli("pub", "secure", "hello", env=env))
        assert sub.result() == b"hello\n"

        key = tmp_path / "key.json"
        key.write_text(
            json.dumps({"ClientID": server.client_id, "ClientSecret": server.client_secret})
        )
        bare = clean_env()
        flags = ["--endpoint", server.endpoint, "--insecure", "--auth-url", server.auth_url]
        ok(cli("pub", "secure", "again", *flags, "--cred-path", str(key), env=bare))

        wrong = cli("pub", "secure", "x", *flags, "--client-id", server.client_id,
                    "--client-secret", "not-the-secret", env=bare)  # fmt: skip
        assert wrong.returncode == 1 and b"error:" in wrong.stderr
        assert b"not-the-secret" not in wrong.stderr and server.client_secret.encode() not in (
            wrong.stderr + wrong.stdout
        )
        missing = cli("pub", "secure", "x", *flags, env=bare)
        assert missing.returncode == 2 and b"client_id is required" in missing.stderr
