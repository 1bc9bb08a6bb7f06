"""What one client owns, and the publish path written once for both APIs.

:class:`Session` holds the ``_core.Client`` handle, the topic-name cache, the publish
stream's topic ids and the closed flag. The asyncio ``Ensign`` creates it; the blocking
``sync.Ensign`` uses the same object through its methods (no reaching into the other
client's attributes).

Publishing: :func:`publish_args` applies pyensign's argument checks;
:meth:`Session.publish` admits the batch with one core call when the topic's id is known
and the in-flight window has room (the common case: nothing to wait for, no generator),
and otherwise returns a *plan* (see :mod:`pyensign_fast._topics_api`) that resolves the
topic and waits for room; the asyncio client drives it with ``drive_async``, the blocking
one with ``drive_sync``. This is the one place to extend admission: ``on_full="error"``
(``whole=True``) admits a batch whole or raises :class:`EnsignBufferFullError` with
nothing of it sent.

At interpreter exit, one WARNING on the ``pyensign_fast`` logger reports how many
published events still had no outcome (nothing is flushed then: the program chose to
exit; ``flush()``/``close()`` before exiting deliver them). A client dropped without
``close()`` while events are in flight leaves its core handle here, so that those events
still get their outcome in the background, and are counted at exit if they do not.
"""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import Any, Callable, Dict, Generator, List, Optional, Sequence

from pyensign_fast.exceptions import (
    EnsignBufferFullError,
    EnsignClientClosingError,
    UnknownTopicError,
)
from pyensign_fast.topics import TopicCache

__all__ = ["Session", "publish_args"]

logger = logging.getLogger("pyensign_fast")

Plan = Generator[Any, Any, Any]
EnsurePlan = Callable[[str], Plan]

_sessions: weakref.WeakSet[Session] = weakref.WeakSet()
# Core handles of clients dropped (not closed) with events still in flight: kept so that
# those events can still get their outcome, and be counted at exit if they do not.
_abandoned: List[Any] = []


def publish_args(topic: Any, events: Sequence[Any]) -> Sequence[Any]:
    """pyensign's checks of ``publish(topic, *events)``; returns the batch (the events, or
    the one list or tuple given)."""
    if topic == "":
        raise ValueError("topic is required")
    if not isinstance(topic, str):
        raise TypeError(f"expected type 'str' for topic, got '{type(topic).__name__}'")
    batch = events
    if len(events) == 1 and isinstance(events[0], (list, tuple)):
        batch = events[0]
    if len(batch) == 0:
        raise ValueError("no events provided")
    return batch


class Session:
    """The state of one client (see the module docs)."""

    __slots__ = ("__weakref__", "_topic_ids", "closed", "core", "topics")

    def __init__(self, core: Any, topics: TopicCache) -> None:
        self.core = core
        self.topics = topics
        # Topic string -> 16-byte id as the publish stream knows it (K15: never read-only).
        self._topic_ids: Dict[str, bytes] = {}
        self.closed = False
        _sessions.add(self)

    def check_open(self) -> None:
        if self.closed:
            raise EnsignClientClosingError("the client is closed")

    def mark_closed(self) -> bool:
        """Marks the client closed; False if it already was."""
        if self.closed:
            return False
        self.closed = True
        return True

    def publish(
        self,
        topic: str,
        batch: Sequence[Any],
        on_ack: Any,
        on_nack: Any,
        notifier: Any,
        ensure_exists: Optional[EnsurePlan] = None,
        whole: bool = False,
    ) -> Optional[Plan]:
        """Admits ``batch`` (already checked by :func:`publish_args`). Returns ``None`` when
        all of it was admitted at once, else the plan that admits the rest. With ``whole``
        (``on_full="error"``), all of the batch is admitted or :class:`EnsignBufferFullError`
        is raised with nothing of it sent (the plan then only resolves the topic)."""
        self.check_open()
        topic_id = self._topic_ids.get(topic)
        if topic_id is not None:
            handle, n = self.core.publish(
                topic_id, batch, 0, None, on_ack, on_nack, notifier, whole
            )
            if n == len(batch):
                return None
            if whole and n == 0:
                raise self._full(len(batch))
            return self._admit_rest(topic, batch, on_ack, on_nack, notifier, handle, n, None, whole)
        return self._admit_rest(
            topic, batch, on_ack, on_nack, notifier, None, 0, ensure_exists, whole
        )

    def _full(self, n: int) -> EnsignBufferFullError:
        return EnsignBufferFullError(
            f"the in-flight window has no room for {n} more event(s) "
            f"({self.core.pending()} without an outcome); nothing of this call was sent"
        )

    def _admit_rest(
        self,
        topic: str,
        batch: Sequence[Any],
        on_ack: Any,
        on_nack: Any,
        notifier: Any,
        handle: Any,
        n: int,
        ensure_exists: Optional[EnsurePlan] = None,
        whole: bool = False,
    ) -> Plan:
        core = self.core
        total = len(batch)
        done = 0
        if handle is None:
            topic_id = yield from self._resolve(topic, ensure_exists)
            handle, n = core.publish(topic_id, batch, 0, None, on_ack, on_nack, notifier, whole)
        else:
            topic_id = self._topic_ids[topic]
        while True:
            if n < 0:
                # The stream's topic snapshot lacks the topic (created after it opened).
                topic_id = yield from self._resolve(topic, None)
            else:
                done += n
                if done >= total:
                    return
                if whole:
                    raise self._full(total)
                yield core.wait_for_room, ()
            _, n = core.publish(topic_id, batch, done, handle, on_ack, on_nack, notifier, whole)

    def _resolve(self, topic: str, ensure_exists: Optional[EnsurePlan]) -> Plan:
        """The publish stream's id of ``topic`` (a name or an ID), cached."""
        if ensure_exists is not None:
            yield from ensure_exists(topic)
        key = topic
        try:
            # A cached name resolves to its id string; the stream checks it exists.
            key = str(self.topics.resolve(topic))
        except Exception:
            pass
        try:
            topic_id = yield self.core.resolve_topic, (key,)
        except UnknownTopicError:
            if key == topic:
                raise
            topic_id = yield self.core.resolve_topic, (topic,)
        self._topic_ids[topic] = topic_id
        return topic_id

    def forget_topic(self, topic_id: bytes) -> None:
        """Drops a destroyed topic's publish id, under any name."""
        for key in [k for k, v in self._topic_ids.items() if v == topic_id]:
            self._topic_ids.pop(key, None)

    def pending(self) -> int:
        """Events admitted and still without an outcome."""
        return int(self.core.pending())

    def __del__(self) -> None:
        try:
            if not self.closed and self.core.pending():
                _abandoned[:] = [core for core in _abandoned if core.pending()]
                _abandoned.append(self.core)
        except Exception:  # interpreter shutdown, a client inherited through fork()
            pass


@atexit.register
def _warn_unflushed() -> None:
    pending = 0
    cores = [s.core for s in list(_sessions) if not s.closed] + _abandoned
    for core in cores:
        try:
            pending += int(core.pending())
        except Exception:  # a client inherited through fork(), for instance
            continue
    if pending:
        logger.warning(
            "%d published event(s) had no ack or nack yet at interpreter exit and were "
            "not delivered; call flush() or close() on the client before exiting",
            pending,
        )
