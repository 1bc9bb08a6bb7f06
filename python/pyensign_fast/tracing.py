"""Opt-in OpenTelemetry tracing (extra ``[otel]``: ``opentelemetry-api``).

Turned on per client with ``Ensign(..., otel=True)``, or for every client with the
environment variable ``PYENSIGN_FAST_OTEL=1``. Off, it costs nothing: no import of
OpenTelemetry, no wrapper on the publish or subscribe path.

On, following the OpenTelemetry messaging conventions:

* each ``publish()`` call is one ``PRODUCER`` span ``publish {topic}`` with
  ``messaging.system="ensign"``, ``messaging.operation.type="send"``,
  ``messaging.destination.name`` and ``messaging.batch.message_count``; the current
  context (its ``traceparent``, and ``tracestate``/baggage if set) is injected with
  ``opentelemetry.propagate`` into each event's ``meta``;
* each received event opens and ends a ``CONSUMER`` span ``process {topic}``
  (``messaging.operation.type="process"``, ``messaging.message.id``), a child of the
  publisher's span (same trace) when the event carries its context, and linked to it.
  The span ends when the event is handed to the application: an ``async for`` loop
  gives the library no point at which the application's work ends.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

from pyensign_fast._sync_streams import Subscription as _SyncSubscription
from pyensign_fast.subscription import Subscription

__all__ = ["ENV_OTEL", "Tracing", "enabled_by_env", "for_client"]

ENV_OTEL = "PYENSIGN_FAST_OTEL"
_TRUE = frozenset(("1", "y", "t", "yes", "true", "on"))


def enabled_by_env() -> bool:
    return os.environ.get(ENV_OTEL, "").strip().lower() in _TRUE


def for_client(otel: Optional[bool]) -> Optional[Tracing]:
    """The tracing helper of a client, or ``None`` (off). ``otel=None`` follows
    ``PYENSIGN_FAST_OTEL``. Raises ``ImportError`` naming the extra when it is missing."""
    if otel is None:
        otel = enabled_by_env()
    return Tracing() if otel else None


class Tracing:
    """Spans of one client (see the module docs)."""

    def __init__(self) -> None:
        try:
            from opentelemetry import propagate, trace
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "OpenTelemetry tracing needs opentelemetry-api: pip install 'pyensign-fast[otel]'"
            ) from e
        from pyensign_fast.version import __version__

        self._trace: Any = trace
        self._propagate: Any = propagate
        self._tracer = trace.get_tracer("pyensign_fast", __version__)
        self._producer = trace.SpanKind.PRODUCER
        self._consumer = trace.SpanKind.CONSUMER

    def publish_span(self, topic: str, batch: Sequence[Any]) -> Any:
        """Starts the ``publish`` span (a context manager) and injects its context into
        the events' ``meta``."""
        span = self._tracer.start_as_current_span(
            f"publish {topic}",
            kind=self._producer,
            attributes={
                "messaging.system": "ensign",
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": len(batch),
            },
        )
        return _Injecting(span, self._propagate, batch)

    def received(self, event: Any, label: str) -> None:
        """Records the ``process`` span of one received event."""
        meta = event.meta
        ctx = self._propagate.extract(meta) if meta else None
        links: List[Any] = []
        if ctx is not None:
            parent = self._trace.get_current_span(ctx).get_span_context()
            if parent.is_valid:
                links.append(self._trace.Link(parent))
        attributes: Dict[str, Any] = {
            "messaging.system": "ensign",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": label,
        }
        if event.id is not None:
            attributes["messaging.message.id"] = str(event.id)
        span = self._tracer.start_span(
            f"process {label}",
            context=ctx,
            kind=self._consumer,
            links=links,
            attributes=attributes,
        )
        span.end()


class _Injecting:
    """Enters the publish span, then writes its context into each event's meta."""

    __slots__ = ("_batch", "_cm", "_propagate")

    def __init__(self, cm: Any, propagate: Any, batch: Sequence[Any]) -> None:
        self._cm = cm
        self._propagate = propagate
        self._batch = batch

    def __enter__(self) -> Any:
        span = self._cm.__enter__()
        carrier: Dict[str, str] = {}
        self._propagate.inject(carrier)
        if carrier:
            for event in self._batch:
                meta = getattr(event, "meta", None)
                if meta is None:
                    event.meta = dict(carrier)
                elif isinstance(meta, dict):
                    meta.update(carrier)
        return span

    def __exit__(self, *exc: Any) -> Any:
        return self._cm.__exit__(*exc)


class TracedSubscription(Subscription):
    """A :class:`~pyensign_fast.subscription.Subscription` that records a ``process``
    span per event."""

    __slots__ = ("_label", "_tracing")

    def __init__(self, core: Any, tracing: Tracing, label: str) -> None:
        super().__init__(core)
        self._tracing = tracing
        self._label = label

    async def __anext__(self) -> Any:
        event = await Subscription.__anext__(self)
        self._tracing.received(event, self._label)
        return event


class TracedSyncSubscription(_SyncSubscription):
    """The blocking counterpart of :class:`TracedSubscription`."""

    def __init__(self, async_subscription: Any) -> None:
        super().__init__(async_subscription)
        self._tracing = async_subscription._tracing
        self._label = async_subscription._label

    def __next__(self) -> Any:
        event = _SyncSubscription.__next__(self)
        self._tracing.received(event, self._label)
        return event
