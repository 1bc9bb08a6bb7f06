"""The Rust core's logs in Python ``logging`` (pyensign_fast.logs): client records under
``pyensign_fast.client``, the in-process server's under ``pyensign_fast.server``, a
reconnect as a WARNING naming its cause, leftovers at close as one WARNING, the
``PYENSIGN_FAST_LOG`` filter, and ``serve --log-level/--log-format``."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import pytest

from pyensign_fast import _core, logs
from pyensign_fast.events import Event
from pyensign_fast.server import LocalEnsign

PAYLOAD = b'{"reading": 1234567890}'


def _records(caplog, prefix: str, level: int):
    logs.flush()
    return [r for r in caplog.records if r.name.startswith(prefix) and r.levelno == level]


@pytest.fixture
def restore_filter():
    yield
    logs.refresh_filter()


async def test_a_reconnect_during_a_publish_is_a_warning_and_counted(
    tmp_path, caplog, restore_filter
):
    caplog.set_level(logging.INFO, logger="pyensign_fast.client")
    srv = LocalEnsign(data_dir=str(tmp_path)).start()
    port = int(srv.endpoint.rsplit(":", 1)[1])
    c = srv.client(reconnect_tick=0.05, reconnect_timeout=60.0)
    srv2 = None
    try:
        await c.create_topic("faults")
        first = [Event(PAYLOAD, "application/json") for _ in range(1000)]
        await c.publish("faults", first)
        await c.flush(timeout=30)
        assert c.stats()["reconnects"] == 0
        srv.stop()
        during = [Event(PAYLOAD, "application/json") for _ in range(1000)]
        await c.publish("faults", during)
        srv2 = LocalEnsign(data_dir=str(tmp_path), port=port).start()
        await c.flush(timeout=60)
        assert all(e.acked() for e in first + during)
        stats = c.stats()
        assert stats["reconnects"] >= 1 and stats["publish_reconnects"] >= 1
        warnings = _records(caplog, "pyensign_fast.client", logging.WARNING)
        broke = [r for r in warnings if "reconnecting" in r.getMessage()]
        assert broke, [r.getMessage() for r in warnings]
        # The cause is named (the stream ended or broke, with the transport's error).
        assert any(
            "publish stream broke (" in r.getMessage()
            or "server ended the publish" in r.getMessage()
            for r in broke
        )
        assert broke[0].name.startswith("pyensign_fast.client.publisher")
        assert broke[0].rust_target.startswith("ensign_client::publisher")
        infos = _records(caplog, "pyensign_fast.client", logging.INFO)
        assert any("publish stream resumed" in r.getMessage() for r in infos)
    finally:
        await c.close(timeout=5)
        if srv2 is not None:
            srv2.stop()
        srv.stop()


async def test_events_left_at_close_are_one_warning_with_the_count(caplog):
    caplog.set_level(logging.WARNING, logger="pyensign_fast.client")
    srv = LocalEnsign().start()
    c = srv.client(reconnect_timeout=600)
    try:
        await c.create_topic("t")
        await c.publish("t", Event(b"x"))
        await c.flush()
        srv.stop()
        await c.publish("t", [Event(b"y") for _ in range(7)])
        assert c.pending_events() == 7
    finally:
        await c.close(timeout=0.2)
        srv.stop()
    warnings = _records(caplog, "pyensign_fast.client", logging.WARNING)
    left = [r.getMessage() for r in warnings if "unprocessed at close" in r.getMessage()]
    assert left == [left[0]] and left[0].startswith("7 event(s) unprocessed at close")
    stats = c.stats()
    assert stats["published"] == 8 and stats["acked"] == 1 and stats["nacked"] == 7


def test_the_in_process_servers_records_reach_pyensign_fast_server(caplog, restore_filter):
    caplog.set_level(logging.INFO, logger="pyensign_fast.server")
    with LocalEnsign() as srv:
        endpoint = srv.endpoint
    infos = _records(caplog, "pyensign_fast.server", logging.INFO)
    listening = [r for r in infos if r.getMessage().startswith("Ensign server listening")]
    assert listening and endpoint in listening[0].getMessage()
    assert listening[0].rust_target.startswith("ensign_server")
    assert any(r.getMessage().startswith("Ensign server stopped") for r in infos)


def test_records_below_the_loggers_level_are_not_even_emitted(caplog, restore_filter):
    caplog.set_level(logging.WARNING, logger="pyensign_fast.server")
    logs.refresh_filter()
    assert "ensign_server=warn" in logs.derived_filter()
    with LocalEnsign():
        pass
    logs.flush()
    assert not [r for r in caplog.records if r.name.startswith("pyensign_fast.server")]


def test_pyensign_fast_log_overrides_the_derived_filter(monkeypatch, restore_filter):
    monkeypatch.setenv(logs.ENV_FILTER, "ensign_client=debug,ensign_server=off")
    assert logs.derived_filter() == "ensign_client=debug,ensign_server=off"
    logs.refresh_filter()
    monkeypatch.setenv(logs.ENV_FILTER, "ensign_client=[")
    with pytest.raises(ValueError, match="invalid log filter"):
        logs.refresh_filter()
    monkeypatch.delenv(logs.ENV_FILTER)


def test_a_full_queue_drops_counts_and_says_so(caplog):
    logs.install()
    logs.flush()
    before = logs.dropped()
    capacity = _core._LOGS_CAPACITY
    caplog.set_level(logging.WARNING, logger="pyensign_fast")
    # Emitted while this thread holds the GIL: the drain thread cannot take any meanwhile.
    _core._logs_emit(capacity + 100, "filling the queue")
    logs.flush()
    assert logs.dropped() - before == 100
    got = [r for r in caplog.records if r.getMessage() == "filling the queue i=" + str(0)]
    assert got and got[0].name == "pyensign_fast.client.logs"
    forwarded = [r for r in caplog.records if r.getMessage().startswith("filling the queue")]
    assert len(forwarded) == capacity
    dropped = [r.getMessage() for r in caplog.records if "were dropped" in r.getMessage()]
    assert dropped == [
        f"100 log record(s) of the Rust core were dropped: the log queue ({capacity}) was full"
    ]


def test_levels_map_to_pythons():
    assert logs._directive(5) == "trace" and logs._directive(logging.DEBUG) == "debug"
    assert logs._directive(logging.INFO) == "info" and logs._directive(logging.WARNING) == "warn"
    assert logs._directive(logging.ERROR) == "error" and logs._directive(logging.CRITICAL) == "off"
    assert logs._logger_name("ensign_client::publisher::driver") == (
        "pyensign_fast.client.publisher.driver"
    )
    assert logs._logger_name("_core::logs") == "pyensign_fast.client.logs"
    assert logs._logger_name("ensign_server") == "pyensign_fast.server"
    assert logs._logger_name("h2::codec") == "pyensign_fast.lib.h2::codec".replace("::", ".")


def _serve(*args: str, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_serve_log_level_info_json_writes_json_lines_to_stderr():
    proc = _serve("--log-level", "info", "--log-format", "json")
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("Ensign server listening on 127.0.0.1:"), first
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0
        lines = [json.loads(line) for line in err.splitlines() if line.strip()]
        assert lines, "no log lines"
        listening = [x for x in lines if x["message"].startswith("Ensign server listening")]
        assert listening and listening[0]["level"] == "info"
        assert listening[0]["logger"].startswith("pyensign_fast.server")
        assert first.rsplit(" ", 1)[1] in listening[0]["message"]
        assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    finally:
        proc.kill()
        proc.wait()


def test_serve_log_level_comes_from_ensign_log_level_and_defaults_to_warn():
    env = {**os.environ, "ENSIGN_LOG_LEVEL": "info"}
    proc = _serve(env=env)
    try:
        proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert "INFO  pyensign_fast.server" in err and "Ensign server listening" in err
    finally:
        proc.kill()
        proc.wait()
    proc = _serve()
    try:
        proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert "Ensign server listening" not in err and "Traceback" not in err
    finally:
        proc.kill()
        proc.wait()
    proc = _serve("--log-level", "loud")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "invalid log level" in err
