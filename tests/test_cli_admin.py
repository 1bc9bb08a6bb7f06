"""``pyensign-fast query``, ``topics``, ``info`` and ``status`` as subprocesses against
``LocalEnsign`` (without and with auth): output formats and exit codes."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from _cli import auth_env, cli, conn, ok
from pyensign_fast.server import LocalEnsign


@pytest.fixture(scope="module")
def server() -> Iterator[LocalEnsign]:
    with LocalEnsign() as srv:
        ok(cli("pub", "readings", "--ensure-exists", *conn(srv), input=b'{"t": 1}\n{"t": 2}\nx\n'))
        yield srv


def test_query_formats(server: LocalEnsign) -> None:
    result = cli("query", "SELECT * FROM readings", *conn(server))  # not a tty: JSON lines
    rows = [json.loads(line) for line in ok(result).splitlines()]
    assert [r["data"] for r in rows] == ['{"t": 1}', '{"t": 2}', "x"]
    assert all(len(r["id"]) == 16 and r["topic_id"] for r in rows)
    assert result.stderr.decode().strip() == "3 rows"

    raw = ok(cli("query", "SELECT * FROM readings OFFSET 1 LIMIT 1", "--format", "raw",
                 *conn(server)))  # fmt: skip
    assert raw == '{"t": 2}\n'
    table = ok(cli("query", "SELECT * FROM readings", "--format", "table", *conn(server)))
    lines = table.splitlines()
    assert "id" in lines[0] and "data" in lines[0] and len(lines) >= 5
    assert any('{"t": 2}' in line for line in lines)


def test_query_no_rows_and_errors(server: LocalEnsign) -> None:
    ok(cli("topics", "create", "empty", *conn(server)))
    result = cli("query", "SELECT * FROM empty", *conn(server))
    assert ok(result) == "" and result.stderr.decode().strip() == "0 rows"
    result = cli("query", "SELECT * FROM nowhere", *conn(server))
    assert result.returncode == 1 and b"invalid query: unknown topic in query" in result.stderr
    result = cli("query", "DROP TABLE readings", *conn(server))
    assert result.returncode == 1 and b"invalid query" in result.stderr


def test_topics_lifecycle(server: LocalEnsign) -> None:
    created = json.loads(ok(cli("topics", "create", "a1", "b1", "--json", *conn(server))))
    assert set(created) == {"a1", "b1"} and all(v["created"] for v in created.values())
    listed = json.loads(ok(cli("topics", "ls", "--json", *conn(server))))
    by_name = {t["name"]: t for t in listed}
    assert by_name["a1"]["id"] == created["a1"]["id"] and by_name["a1"]["status"] == "READY"
    assert "readings" in ok(cli("topics", *conn(server)))  # ls is the default, a table

    again = cli("topics", "create", "a1", *conn(server))
    assert again.returncode == 1 and b"error:" in again.stderr
    assert "(exists)" in ok(cli("topics", "create", "a1", "--if-missing", *conn(server)))

    assert ok(cli("topics", "exists", "a1", *conn(server))).strip() == "true"
    missing = cli("topics", "exists", "zz", "--json", *conn(server))
    assert missing.returncode == 1 and json.loads(missing.stdout) == {"name": "zz", "exists": False}

    ok(cli("topics", "destroy", "b1", "--yes", *conn(server)))
    assert cli("topics", "exists", "b1", *conn(server)).returncode == 1
    assert cli("topics", "exists", *conn(server)).returncode == 2
    assert cli("topics", "create", *conn(server)).returncode == 2
    down = cli("topics", "exists", "a1", "--endpoint", "127.0.0.1:1", "--insecure", "--no-auth",
               "--timeout", "1")  # fmt: skip
    assert down.returncode == 2 and b"error:" in down.stderr


def test_info_and_status(server: LocalEnsign) -> None:
    info = json.loads(ok(cli("info", "readings", "--json", *conn(server))))
    assert info["events"] == 3 and info["num_topics"] == 1
    assert info["topics"][0]["name"] == "readings" and info["topics"][0]["events"] == 3
    assert info["project_id"] == server.project_id
    text = ok(cli("info", *conn(server)))
    assert f"project_id: {server.project_id}" in text and "readings" in text

    status = json.loads(ok(cli("status", "--json", *conn(server))))
    assert status["status"] == "HEALTHY" and status["version"] and status["uptime_seconds"] >= 0
    assert ok(cli("status", *conn(server))).startswith("status: HEALTHY")
    down = cli("status", "--endpoint", "127.0.0.1:1", "--insecure", "--no-auth", "--timeout", "1")
    assert down.returncode == 1 and b"error:" in down.stderr


def test_admin_commands_with_auth() -> None:
    with LocalEnsign(auth=True) as server:
        env = auth_env(server)
        ok(cli("topics", "create", "sec", env=env))
        ok(cli("pub", "sec", "one", env=env))
        assert json.loads(ok(cli("topics", "ls", "--json", env=env)))[0]["name"] == "sec"
        assert ok(cli("topics", "exists", "sec", env=env)).strip() == "true"
        assert json.loads(ok(cli("query", "SELECT * FROM sec", env=env)))["data"] == "one"
        assert json.loads(ok(cli("info", "--json", env=env)))["events"] == 1
        assert ok(cli("status", env=env)).startswith("status: HEALTHY")
        ok(cli("topics", "destroy", "sec", "-y", env=env))
        bad = dict(env, ENSIGN_CLIENT_SECRET="wrong")
        result = cli("topics", "ls", env=bad)
        assert (
            result.returncode == 1
            and b"error:" in result.stderr
            and b"wrong" not in (result.stderr)
        )
