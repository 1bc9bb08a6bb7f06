"""Opt-in OpenTelemetry (pyensign_fast.tracing): a PRODUCER span per publish call whose
context travels in ``Event.meta`` and parents a CONSUMER span per received event; off by
default, with no trace in the events."""

from __future__ import annotations

import asyncio

import pytest

from pyensign_fast import sync, tracing
from pyensign_fast.events import Event

trace = pytest.importorskip("opentelemetry.trace")
sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
export = pytest.importorskip("opentelemetry.sdk.trace.export")
in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")

_EXPORTER = in_memory.InMemorySpanExporter()


@pytest.fixture
def spans():
    """The global tracer provider (set once per process) with an in-memory exporter."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, sdk_trace.TracerProvider):
        provider = sdk_trace.TracerProvider()
        provider.add_span_processor(export.SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


async def test_a_publish_span_parents_the_process_spans(server, spans):
    c = server.client(otel=True)
    try:
        await c.create_topic("traced")
        sub = c.subscribe("traced")
        await asyncio.wait_for(sub.ready(), 30)
        events = [Event(b"%d" % i, "text/plain", meta={"k": "v"}) for i in range(3)]
        await c.publish("traced", events)
        await c.flush()
        got = []
        async for ev in sub:
            got.append(ev)
            if len(got) == 3:
                break
        await sub.aclose()
    finally:
        await c.close(timeout=5)
    finished = spans.get_finished_spans()
    producers = [s for s in finished if s.kind == trace.SpanKind.PRODUCER]
    consumers = [s for s in finished if s.kind == trace.SpanKind.CONSUMER]
    assert len(producers) == 1 and len(consumers) == 3
    pub = producers[0]
    assert pub.name == "publish traced"
    assert pub.attributes["messaging.system"] == "ensign"
    assert pub.attributes["messaging.destination.name"] == "traced"
    assert pub.attributes["messaging.batch.message_count"] == 3
    for ev in events:
        assert ev.meta["traceparent"].split("-")[1] == f"{pub.context.trace_id:032x}"
        assert ev.meta["k"] == "v"
    for span in consumers:
        assert span.name == "process traced"
        assert span.context.trace_id == pub.context.trace_id
        assert span.parent is not None and span.parent.span_id == pub.context.span_id
        assert [link.context.span_id for link in span.links] == [pub.context.span_id]
        assert span.attributes["messaging.operation.type"] == "process"
    assert {ev.meta["traceparent"] for ev in got} == {events[0].meta["traceparent"]}


def test_the_blocking_client_traces_too(server, spans):
    with sync.Ensign(endpoint=server.endpoint, insecure=True, auth_url="", otel=True) as c:
        c.create_topic("traced")
        sub = c.subscribe("traced")
        sub.ready()
        c.publish("traced", Event(b"x", "text/plain"))
        c.flush()
        ev = next(iter(sub))
        sub.close()
    kinds = [s.kind for s in spans.get_finished_spans()]
    assert trace.SpanKind.PRODUCER in kinds and trace.SpanKind.CONSUMER in kinds
    assert "traceparent" in ev.meta


async def test_off_by_default(server, spans, monkeypatch):
    monkeypatch.delenv(tracing.ENV_OTEL, raising=False)
    c = server.client()
    assert c._tracing is None
    try:
        await c.create_topic("plain")
        ev = Event(b"x", "text/plain")
        await c.publish("plain", ev)
        await c.flush()
    finally:
        await c.close(timeout=5)
    assert not ev.meta and spans.get_finished_spans() == ()
    monkeypatch.setenv(tracing.ENV_OTEL, "1")
    c = server.client()
    assert c._tracing is not None
    await c.close(timeout=5)
