"""Subscribe and EnSQL of ``Ensign`` (a mixin). Methods use ``self._core`` (the
``_core.Client``) and ``self.topics`` (the name → ID cache).

``subscribe()`` opens a stream of its own per call (pyensign shared one per topic set
and ran at most 10 streams, K3) and returns a :class:`~pyensign_fast.subscription.
Subscription`; ``query()`` returns a :class:`~pyensign_fast.cursor.Cursor`. Both move
events into Python one page per call into the Rust core; see those modules.

Where pyensign-fast differs from pyensign on purpose: argument errors of ``subscribe``
are raised by the call itself rather than at the first iteration; an event with an
empty payload is delivered and one with a garbled payload is skipped with a warning
(pyensign's iterator died on both, K9); errors that retrying cannot fix (unknown topics,
permissions) end the subscription at once instead of after the reconnect timeout.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from pyensign_fast import _bridge, _core
from pyensign_fast.api.v1beta1.query import parameter_fields
from pyensign_fast.cursor import Cursor
from pyensign_fast.exceptions import (
    CacheMissError,
    EnsignInvalidArgument,
    EnsignRPCError,
    InvalidQueryError,
    QueryNoRows,
)
from pyensign_fast.subscription import Subscription

__all__ = ["StreamsAPI"]

_UNIMPLEMENTED = 12


def _query_params(params: Dict[str, Any] | None) -> List[Tuple[str, str, Any]]:
    """``(name, field, value)`` triples for the core, with pyensign's type rules
    (``TypeError`` for other types or a non-dict)."""
    out = []
    for fields in parameter_fields(params):
        name = fields.pop("name")
        ((kind, value),) = fields.items()
        out.append((name, kind, value))
    return out


def _check_query(query: Any) -> str:
    if not isinstance(query, str):
        raise TypeError("query must be a string")
    query = query.strip()
    if query == "":
        raise ValueError("query must not be empty")
    return query


def _encode_group(group: Any) -> bytes | None:
    """A ``ConsumerGroup`` protobuf, or anything with ``id``/``name``/``delivery``
    (and optionally ``delivery_timeout``), as encoded protobuf bytes."""
    if group is None:
        return None
    serialize = getattr(group, "SerializeToString", None)
    if callable(serialize):
        return bytes(serialize())
    from pyensign_fast.api.v1beta1 import groups_pb2

    pb = groups_pb2.ConsumerGroup()
    gid = getattr(group, "id", None)
    if gid:
        pb.id = bytes(gid) if not isinstance(gid, str) else gid.encode()
    name = getattr(group, "name", None)
    if name:
        pb.name = str(name)
    delivery = getattr(group, "delivery", None)
    if delivery is not None:
        pb.delivery = int(getattr(delivery, "value", delivery))
    timeout = getattr(group, "delivery_timeout", None)
    if timeout is not None:
        seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
        pb.delivery_timeout.FromNanoseconds(int(float(seconds) * 1_000_000_000))
    return pb.SerializeToString()


class StreamsAPI:
    """Subscribe and query methods of :class:`pyensign_fast.ensign.Ensign`."""

    _core: Any
    _session: Any
    _tracing: Any
    topics: Any

    def subscribe(
        self,
        *topics: str,
        query: str = "",
        params: Dict[str, Any] | None = None,
        consumer_group: Any | None = None,
    ) -> Subscription:
        """Subscribe to the events published from now on to one or more topics (names
        or IDs, as varargs or one list/tuple); use ``query()`` for history. Returns an
        async iterator of :class:`~pyensign_fast.events.Event` in state SUBSCRIBED::

            async for event in client.subscribe("orders"):
                handle(event)
                await event.ack()     # does not wait for the server

        ``query``/``params`` (an EnSQL filter) and ``consumer_group`` (a
        ``groups_pb2.ConsumerGroup`` or an object with ``id``/``name``/``delivery``) are
        sent to the server, which currently ignores them (semantics.md §5).

        Raises ``ValueError`` (no topics), ``TypeError`` (a topic that is not a str, a
        bad parameter type). Errors of the stream (``UnknownTopicError`` when no topic
        matches, ``EnsignTimeoutError`` when reconnecting took longer than the client's
        ``reconnect_timeout``, ``EnsignRPCError`` e.g. for permissions) are raised by
        the iteration. Received events expose ``id`` (an ``RLID``), ``topic_id`` and
        ``committed``, which pyensign did not.
        """
        if len(topics) == 1 and isinstance(topics[0], (list, tuple)):
            topics = tuple(topics[0])
        if len(topics) == 0:
            raise ValueError("no topics provided")
        names: List[str] = []
        for topic in topics:
            if not isinstance(topic, str):
                raise TypeError(f"expected type 'str' for topic, got {type(topic)}")
            try:
                names.append(str(self.topics.resolve(topic)))
            except CacheMissError:
                # The server matches names, ULID strings and name hashes itself.
                names.append(topic)
        sql: str | None = None
        qparams = None
        if query != "":
            sql = _check_query(query)
            qparams = _query_params(params)
        group = _encode_group(consumer_group)
        self._session.check_open()
        core = _core.Subscription(self._core, names, sql, qparams, group)
        traced = self._tracing
        if traced is not None:
            from pyensign_fast.tracing import TracedSubscription

            return TracedSubscription(core, traced, ", ".join(topics))
        return Subscription(core)

    async def query(
        self,
        query: str,
        params: Dict[str, Any] | None = None,
        include_duplicates: bool = False,
    ) -> Cursor:
        """Run an EnSQL query over the events stored in a topic, e.g.
        ``SELECT * FROM orders OFFSET 10 LIMIT 5``, and return a
        :class:`~pyensign_fast.cursor.Cursor` over the results (``fetchone``,
        ``fetchmany``, ``fetchall``, ``async for``). ``params`` are typed query
        parameters (bool, int, float, bytes, str); ``include_duplicates`` also returns
        events marked as duplicates by the topic's deduplication policy.

        Raises ``QueryNoRows`` when nothing matched, ``InvalidQueryError`` (with the
        server's message) for a query the server rejects, ``ValueError`` for an empty
        query and ``TypeError`` for a bad parameter type.
        """
        sql = _check_query(query)
        qparams = _query_params(params)
        self._session.check_open()
        bridge = _bridge.get_bridge()
        try:
            core = await bridge.run(_core.query, self._core, sql, qparams, bool(include_duplicates))
        except EnsignInvalidArgument as e:
            raise InvalidQueryError(e.details) from None
        except QueryNoRows:
            raise QueryNoRows("no results returned by query") from None
        return Cursor(core)

    async def explain_query(
        self,
        query: str,
        params: Dict[str, Any] | None = None,
        include_duplicates: bool = False,
    ) -> Any:
        """Ask the server how it would execute a query (``Explain``); returns its
        ``query_pb2.QueryExplanation``. Ensign servers do not implement it yet: their
        ``UNIMPLEMENTED`` answer raises ``NotImplementedError`` (pyensign raised it
        without asking), with the server's message and the ``EnsignRPCError`` as cause.
        """
        sql = _check_query(query)
        qparams = _query_params(params)
        bridge = _bridge.get_bridge()
        try:
            raw = await bridge.run(
                _core.explain, self._core, sql, qparams, bool(include_duplicates)
            )
        except EnsignInvalidArgument as e:
            raise InvalidQueryError(e.details) from None
        except EnsignRPCError as e:
            if e.code == _UNIMPLEMENTED:
                raise NotImplementedError(
                    f"explain_query: the Ensign server does not implement Explain ({e.details})"
                ) from e
            raise
        from pyensign_fast.api.v1beta1 import query_pb2

        return query_pb2.QueryExplanation.FromString(raw)
