"""The local server's Prometheus endpoint: ``LocalEnsign(metrics_port=...)`` and
``pyensign-fast serve --metrics-addr`` (or the real server's ``ENSIGN_MONITORING_*``
variables), with the real Ensign server's metric names and labels."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from typing import Dict, Optional

import pytest

from pyensign_fast.events import Event
from pyensign_fast.server import LocalEnsign


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def value(text: str, name: str, labels: Optional[Dict[str, str]] = None) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, sample = line.rpartition(" ")
        base, _, rest = series.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in (labels or {}).items()):
            total += float(sample)
    return total


def test_metrics_are_off_by_default():
    with LocalEnsign() as srv:
        assert srv.metrics_url is None


def test_bad_metrics_arguments():
    with pytest.raises(ValueError, match="metrics_port"):
        LocalEnsign(metrics_port=70000)
    with pytest.raises(ValueError, match="metrics_port"):
        LocalEnsign(metrics_port=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="metrics_host"):
        LocalEnsign(metrics_port=0, metrics_host="")


async def test_scrape_after_publishing_1000_events():
    async with LocalEnsign(metrics_port=0) as srv:
        url = srv.metrics_url
        assert url is not None and url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
        client = srv.client()
        await client.create_topic("metered")
        events = [Event(b"x", mimetype="text/plain") for _ in range(1000)]
        await client.publish("metered", events)
        await client.flush()
        assert all(e.acked() for e in events)
        text = scrape(url)
        assert value(text, "ensign_events", {"node": "unk", "region": "unk"}) == 1000
        assert value(text, "ensign_online_publishers") == 1
        publish = {"service": "ensign.v1beta1.Ensign", "method": "Publish", "type": "stream"}
        started = value(text, "grpc_server_started_total", publish)
        assert started >= 1
        await client.close()
        text = scrape(url)
        assert value(text, "ensign_online_publishers") == 0
        assert value(text, "grpc_server_handled_total", {**publish, "code": "OK"}) == started
        assert value(text, "grpc_server_stream_messages_recv", publish) >= 1000
        assert value(text, "grpc_server_handler_duration_count", publish) == started
        create = {"method": "CreateTopic", "code": "OK"}
        assert value(text, "grpc_server_handled_total", create) == 1
        assert "ensign_subscriber_evictions_total 0" in text


def _serve(*args: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pyensign_fast", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _metrics_line(proc: subprocess.Popen) -> str:
    assert proc.stdout is not None
    for _ in range(6):
        line = proc.stdout.readline().strip()
        if line.startswith("metrics: "):
            return line.split(" ", 1)[1]
    raise AssertionError("no metrics line")


@pytest.mark.parametrize(
    "args,env",
    [
        (["--metrics-addr", "127.0.0.1:0"], {}),
        ([], {"ENSIGN_MONITORING_ENABLED": "true", "ENSIGN_MONITORING_BIND_ADDR": ":0"}),
    ],
)
def test_serve_exposes_metrics(args, env):
    proc = _serve(*args, env=env)
    try:
        url = _metrics_line(proc)
        assert url.startswith("http://127.0.0.1:")
        assert value(scrape(url), "ensign_online_subscribers") == 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_without_metrics_and_with_a_bad_address():
    proc = _serve(env={"ENSIGN_MONITORING_ENABLED": "false"})
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        assert not any(line.startswith("metrics: ") for line in lines)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    proc = _serve("--metrics-addr", "nowhere")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "invalid metrics address" in err
