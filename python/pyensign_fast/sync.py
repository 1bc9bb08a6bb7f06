"""The blocking API, for programs without asyncio (pyensign issue #15), and pyensign's
sync ↔ async adapters (``pyensign.sync``).

::

    from pyensign_fast.sync import Ensign, Event

    with Ensign(cred_path="key.json") as client:
        client.ensure_topic_exists("readings")
        event = Event(b'{"t": 21.5}', "application/json")
        client.publish("readings", event, on_ack=print)
        event.wait_for_ack()                 # blocks; returns ack.Ack or raises NackError
        for event in client.subscribe("readings"):
            handle(event)
            event.ack()

:class:`Ensign` has the methods of the asyncio :class:`pyensign_fast.ensign.Ensign`, with
the same arguments, results and errors, but blocking. It calls the Rust core directly
and waits with the GIL released: there is no hidden event loop thread. One client may be
used from many threads at once, including an event loop's executor threads
(``loop.run_in_executor``), but never from a thread whose event loop is running, where a
blocking call would freeze the loop: that raises ``RuntimeError``. ``on_ack``/``on_nack``
callbacks run on one daemon thread per process.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Dict, List, Union

from pyensign_fast import _core
from pyensign_fast import ensign as _ensign
from pyensign_fast._session import Session, publish_args
from pyensign_fast._sync_adapters import (
    async_gen_to_sync,
    async_to_sync,
    coro_to_sync,
    fn_to_async,
    gen_to_async,
    sync_to_async,
)
from pyensign_fast._sync_events import Event, thread_bridge, wait_for_ack
from pyensign_fast._sync_streams import Cursor, Subscription, not_on_loop
from pyensign_fast._topics_api import drive_sync
from pyensign_fast.enum import OffsetPosition, ShardingStrategy, TopicState
from pyensign_fast.exceptions import (
    EnsignInvalidArgument,
    EnsignRPCError,
    InvalidQueryError,
    QueryNoRows,
)
from pyensign_fast.projects import Project
from pyensign_fast.status import ServerStatus
from pyensign_fast.topics import Topic

__all__ = [
    "Cursor",
    "Ensign",
    "Event",
    "Subscription",
    "async_gen_to_sync",
    "async_to_sync",
    "coro_to_sync",
    "fn_to_async",
    "gen_to_async",
    "sync_to_async",
    "wait_for_ack",
]


def _flush_timeout() -> Any:
    # Before Python 3.11 asyncio.TimeoutError is its own class: be both, so that code
    # written for either ``except`` clause catches it.
    if asyncio.TimeoutError is TimeoutError:
        return TimeoutError
    return type("FlushTimeout", (asyncio.TimeoutError, TimeoutError), {"__module__": __name__})


FlushTimeout = _flush_timeout()


_not_on_loop = not_on_loop


class Ensign:
    """A blocking Ensign client. Takes the arguments of
    :class:`pyensign_fast.ensign.Ensign` (credentials, ``cred_path``, ``endpoint``,
    ``insecure``, ``auth_url``, ``disable_topic_cache``, reconnect and window tuning).
    Nothing is dialled at construction."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The asyncio client does the configuration and holds the core handle and the
        # caches; this class only drives the same core operations blocking.
        self._client = _ensign.Ensign(*args, **kwargs)
        self._session: Session = self._client._session

    @property
    def topics(self) -> Any:
        """The topic name → ID cache (``TopicCache``)."""
        return self._client.topics

    @property
    def endpoint(self) -> str:
        return self._client.endpoint

    def __repr__(self) -> str:
        return "sync." + repr(self._client)

    def _run(self, plan: Any) -> Any:
        _not_on_loop()
        return drive_sync(plan)

    # ------------------------------------------------------------------ publishing

    def publish(
        self,
        topic: str,
        *events: Any,
        on_ack: Callable[[Any], Any] | None = None,
        on_nack: Callable[[Any], Any] | None = None,
        ensure_exists: bool = False,
    ) -> None:
        """Publish events to a topic (name or ID); returns once the core has them (it
        blocks only while the in-flight window is full). Outcomes arrive later: see
        ``flush()``, ``wait_for_ack()`` and the ``on_ack``/``on_nack`` callbacks, which
        run on the callback thread and may be plain or coroutine functions."""
        batch = publish_args(topic, events)
        self._session.check_open()
        _not_on_loop()
        tracing = self._client._tracing
        if tracing is not None:
            with tracing.publish_span(topic, batch):
                return self._publish(topic, batch, on_ack, on_nack, ensure_exists)
        # NOTE: the body of `_publish`, inlined: the untraced path is the hot one (one
        # `publish()` per event in services) and saves a call frame per event.
        plan = self._session.publish(
            topic,
            batch,
            on_ack,
            on_nack,
            thread_bridge().notifier,
            self._client._p_ensure_topic_exists if ensure_exists else None,
            self._client._whole,
        )
        if plan is not None:
            drive_sync(plan)

    def _publish(
        self, topic: str, batch: Any, on_ack: Any, on_nack: Any, ensure_exists: bool
    ) -> None:
        plan = self._session.publish(
            topic,
            batch,
            on_ack,
            on_nack,
            thread_bridge().notifier,
            self._client._p_ensure_topic_exists if ensure_exists else None,
            self._client._whole,
        )
        if plan is not None:
            drive_sync(plan)

    def pending_events(self) -> int:
        """Events handed to ``publish`` without an ack or nack yet."""
        return self._client.pending_events()

    def stats(self) -> Dict[str, Any]:
        """A snapshot of the client's statistics (:mod:`pyensign_fast.stats`)."""
        return self._client.stats()

    def wait_for_ack(self, event: Any, timeout: float | None = None) -> Any:
        """Block until a published event is acked (returns ``ack.Ack``) or nacked
        (raises ``NackError``)."""
        _not_on_loop()
        return wait_for_ack(event, timeout)

    def flush(self, timeout: float = 2.0) -> None:
        """Block until every event published before the call has its outcome and its
        callbacks have run. Raises ``TimeoutError`` (also an ``asyncio.TimeoutError``)
        after ``timeout`` seconds."""
        if timeout <= 0:
            raise ValueError("timeout must be greater than 0")
        _not_on_loop()
        if not self._session.core.flush(float(timeout), None):
            raise FlushTimeout(f"events still pending after {timeout} seconds")
        thread_bridge().sync()

    def close(self, timeout: float = 30.0) -> None:
        """Flush (up to ``timeout``), close the streams and the connection. Events still
        without an outcome are nacked ``UNPROCESSED``; callbacks have run when this
        returns. The client is unusable afterwards."""
        if self._session.closed:
            return
        _not_on_loop()
        if self._client._stats_reporter is not None:
            self._client._stats_reporter.stop()
        if self._session.mark_closed():
            self._session.core.close(float(timeout), None)
        thread_bridge().sync()

    def __enter__(self) -> Ensign:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ topics, project

    def status(self) -> ServerStatus:
        """The server's status."""
        return self._run(self._client._p_status())  # type: ignore[no-any-return]

    def get_topics(self) -> List[Topic]:
        """Every topic of the project."""
        return self._run(self._client._p_get_topics())  # type: ignore[no-any-return]

    def create_topic(self, topic_name: str) -> str:
        """Create a topic; returns its ID."""
        return self._run(self._client._p_create_topic(topic_name))  # type: ignore[no-any-return]

    def ensure_topic_exists(self, topic_name: str) -> str:
        """Create the topic unless it exists; returns its ID."""
        return self._run(self._client._p_ensure_topic_exists(topic_name))  # type: ignore[no-any-return]

    def topic_exists(self, name: str) -> bool:
        """Whether a topic with this name exists."""
        return self._run(self._client._p_topic_exists(name))  # type: ignore[no-any-return]

    def topic_id(self, name: str) -> str:
        """The ID of a topic; ``EnsignTopicNotFoundError`` if there is none."""
        return self._run(self._client._p_topic_id(name))  # type: ignore[no-any-return]

    def retrieve_topic(self, id: str) -> Topic:
        """The topic with this ID (or name)."""
        return self._run(self._client._p_retrieve_topic(id))  # type: ignore[no-any-return]

    def archive_topic(self, id: str) -> TopicState:
        """Make a topic read-only; returns its new state."""
        return self._run(self._client._p_archive_topic(id))  # type: ignore[no-any-return]

    def destroy_topic(self, topic: str) -> None:
        """Destroy a topic (by name or ID) and its events. Irreversible."""
        self._run(self._client._p_destroy_topic(topic))

    def topic_names(self) -> List[str]:
        """The names of the project's topics, oldest first."""
        return self._run(self._client._p_topic_names())  # type: ignore[no-any-return]

    def set_topic_deduplication_policy(
        self,
        id: str,
        strategy: Any,
        offset: Any = OffsetPosition.OFFSET_EARLIEST,
        keys: List[str] | None = None,
        fields: List[str] | None = None,
        overwrite_duplicate: bool | None = False,
    ) -> TopicState:
        """Change a topic's deduplication policy (str, int or enum arguments)."""
        plan = self._client._p_set_dedup(id, strategy, offset, keys, fields, overwrite_duplicate)
        return self._run(plan)  # type: ignore[no-any-return]

    def set_topic_sharding_strategy(
        self, id: str, strategy: Union[ShardingStrategy, str, int] = "no_sharding"
    ) -> TopicState:
        """Change a topic's sharding strategy."""
        return self._run(self._client._p_set_sharding(id, strategy))  # type: ignore[no-any-return]

    def info(self, topic_ids: List[str] = []) -> Project:  # noqa: B006 - pyensign's signature
        """Project info, for every topic or only these topic IDs."""
        return self._run(self._client._p_info(topic_ids))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ subscribe, query

    def subscribe(
        self,
        *topics: str,
        query: str = "",
        params: Dict[str, Any] | None = None,
        consumer_group: Any = None,
    ) -> Subscription:
        """Subscribe to the events published from now on to one or more topics; returns
        a blocking iterator of :class:`Event` (see
        :meth:`pyensign_fast.ensign.Ensign.subscribe` for the arguments and errors)."""
        sub = self._client.subscribe(
            *topics, query=query, params=params, consumer_group=consumer_group
        )
        if self._client._tracing is not None:
            from pyensign_fast.tracing import TracedSyncSubscription

            return TracedSyncSubscription(sub)
        return Subscription(sub)

    def query(
        self, query: str, params: Dict[str, Any] | None = None, include_duplicates: bool = False
    ) -> Cursor:
        """Run an EnSQL query; returns a :class:`Cursor` whose ``fetch*`` block. Raises
        ``QueryNoRows`` when nothing matched and ``InvalidQueryError`` for a query the
        server rejects."""
        from pyensign_fast._streams_api import _check_query, _query_params

        sql = _check_query(query)
        qparams = _query_params(params)
        self._session.check_open()
        _not_on_loop()
        try:
            core = _core.query(self._session.core, sql, qparams, bool(include_duplicates), None)
        except EnsignInvalidArgument as e:
            raise InvalidQueryError(e.details) from None
        except QueryNoRows:
            raise QueryNoRows("no results returned by query") from None
        return Cursor(core)

    def explain_query(
        self, query: str, params: Dict[str, Any] | None = None, include_duplicates: bool = False
    ) -> Any:
        """How the server would execute a query (``NotImplementedError`` on servers
        without Explain, as every Ensign server today)."""
        from pyensign_fast._streams_api import _check_query, _query_params

        sql = _check_query(query)
        qparams = _query_params(params)
        _not_on_loop()
        try:
            raw = _core.explain(self._session.core, sql, qparams, bool(include_duplicates), None)
        except EnsignInvalidArgument as e:
            raise InvalidQueryError(e.details) from None
        except EnsignRPCError as e:
            if e.name == "UNIMPLEMENTED":
                raise NotImplementedError(
                    f"explain_query: the Ensign server does not implement Explain ({e.details})"
                ) from e
            raise
        from pyensign_fast.api.v1beta1 import query_pb2

        return query_pb2.QueryExplanation.FromString(raw)
