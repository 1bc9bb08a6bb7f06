"""Topic and project administration of ``Ensign`` (a mixin): topics, policies, info,
status. Shared by the asyncio client and the blocking one (``pyensign_fast.sync``).

Each operation is written once, as a *plan*: a generator that yields ``(core_op, args)``
for every call into the Rust core and receives the result (or the exception) back. The
asyncio client drives plans with :func:`drive_async` (``waiter=(notifier, future)``), the
blocking client with :func:`drive_sync` (``waiter=None``: the GIL is released while the
core waits). Argument checks, cache use, error mapping and conversions therefore behave
identically in both.

Differences from pyensign, on purpose: names and IDs both work wherever a topic is
expected (K2); ``topic_id`` resolves names with ``TopicNames`` and local name hashing,
then ``ListTopics``, then the publish stream's topic map, so publisher-only keys can use
it and ``disable_topic_cache=True`` never breaks resolution (K15); policies accept str,
int or enum arguments and always send a deduplication policy (K1); ``retrieve_topic``,
``archive_topic`` and ``topic_names`` are implemented.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, List, Tuple, Union

from pyensign_fast import _bridge, _core
from pyensign_fast.enum import DeduplicationStrategy, OffsetPosition, ShardingStrategy, TopicState
from pyensign_fast.exceptions import (
    CacheMissError,
    EnsignRPCError,
    EnsignTopicCreateError,
    EnsignTopicDestroyError,
    EnsignTopicNotFoundError,
    UnknownTopicError,
)
from pyensign_fast.projects import Project
from pyensign_fast.status import ServerStatus
from pyensign_fast.topics import Topic
from pyensign_fast.utils.ulid import ULID

__all__ = ["EnsignShardingNotSupportedError", "TopicsAPI", "drive_async", "drive_sync"]

Op = Tuple[Callable[..., Any], Tuple[Any, ...]]
Plan = Generator[Op, Any, Any]

_ARCHIVE = 1
_DESTROY = 2
_NO_DEDUP_CHANGE: Tuple[int, int, List[str], List[str], bool] = (
    0,
    0,
    [],
    [],
    False,
)  # strategy UNKNOWN, offset UNKNOWN


class EnsignShardingNotSupportedError(EnsignRPCError, NotImplementedError):
    """The server does not support changing a topic's sharding strategy (UNIMPLEMENTED)."""


async def drive_async(plan: Plan) -> Any:
    """Runs a plan on the running event loop."""
    bridge = _bridge.get_bridge()
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        fn, args = op
        try:
            value, error = await bridge.run(fn, *args), None
        except Exception as e:
            value, error = None, e


def drive_sync(plan: Plan) -> Any:
    """Runs a plan on this thread, each core call blocking with the GIL released."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            op = plan.throw(error) if error is not None else plan.send(value)
        except StopIteration as stop:
            return stop.value
        fn, args = op
        try:
            value, error = fn(*args, None), None
        except Exception as e:
            value, error = None, e


def _check_topic(topic: Any, what: str = "topic") -> None:
    if not isinstance(topic, str):
        raise TypeError(f"expected type 'str' for {what}, got '{type(topic).__name__}'")
    if not topic:
        raise ValueError(f"{what} is required")


def _enum(cls: Any, value: Any, what: str) -> Any:
    """An enum member from a member, its name (any case) or its protobuf number."""
    try:
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, bool):
            raise KeyError(value)
        return cls.convert(value)
    except KeyError:
        names = ", ".join(m.name.lower() for m in cls)
        raise ValueError(f"unknown {what} {value!r}, expected one of: {names}") from None


def _strings(value: Any, what: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{what} must be a list of strings")
    return list(value)


def _not_found(e: EnsignRPCError, topic: str) -> BaseException:
    return EnsignTopicNotFoundError(topic) if e.name == "NOT_FOUND" else e


class TopicsAPI:
    """Topic and project methods of :class:`pyensign_fast.ensign.Ensign`."""

    _core: Any
    _session: Any
    topics: Any

    # ------------------------------------------------------------------ plans

    def _p_status(self) -> Plan:
        status, version, seconds, nanos = yield self._core.status, ()
        return ServerStatus.from_dict(
            {"status": status, "version": version, "uptime": (seconds, nanos)}
        )

    def _p_get_topics(self) -> Plan:
        rows = yield _core.list_topics, (self._core,)
        topics = [Topic.from_dict(row) for row in rows]
        for topic in topics:
            self.topics.add(topic.name, topic.id)
        return topics

    def _p_create_topic(self, topic_name: str) -> Plan:
        raw = yield self._core.create_topic, (topic_name,)
        if not raw or len(raw) != 16:
            raise EnsignTopicCreateError("topic creation failed")
        topic_id = ULID.from_bytes(raw)
        self.topics.add(topic_name, topic_id)
        return str(topic_id)

    def _p_topic_exists(self, name: str) -> Plan:
        if self.topics.exists(name):
            return True
        return bool((yield _core.topic_exists, (self._core, name, "")))

    def _p_topic_id(self, name: str) -> Plan:
        try:
            return str(self.topics.get(name))
        except CacheMissError:
            pass
        found: str | None = None
        try:
            found = yield _core.find_topic_id, (self._core, name)
        except EnsignRPCError as e:
            if e.name != "PERMISSION_DENIED":
                raise
            found = yield from self._p_topic_id_fallback(name)
        if found is None:
            raise EnsignTopicNotFoundError(f"topic not found by name: {name}")
        self.topics.add(name, ULID.from_str(found))
        return found

    def _p_topic_id_fallback(self, name: str) -> Plan:
        # Keys that may not call TopicNames: ListTopics (topics:read), then the topic map
        # of the publish stream (publisher keys).
        try:
            rows = yield _core.list_topics, (self._core,)
            for row in rows:
                if row["name"] == name:
                    return str(ULID.from_bytes(row["id"]))
            return None
        except EnsignRPCError as e:
            if e.name != "PERMISSION_DENIED":
                raise
        try:
            raw = yield self._core.resolve_topic, (name,)
        except UnknownTopicError:
            return None
        return str(ULID.from_bytes(raw))

    def _p_resolve(self, topic: str) -> Plan:
        """A topic name or ID → ``ULID``: the cache, a ULID string, then the server."""
        _check_topic(topic)
        try:
            return self.topics.resolve(topic)
        except CacheMissError:
            pass
        return ULID.from_str((yield from self._p_topic_id(topic)))

    def _p_ensure_topic_exists(self, topic_name: str) -> Plan:
        if (yield from self._p_topic_exists(topic_name)):
            return (yield from self._p_topic_id(topic_name))
        try:
            return (yield from self._p_create_topic(topic_name))
        except EnsignRPCError as e:
            if e.name != "ALREADY_EXISTS":  # created meanwhile by someone else
                raise
        return (yield from self._p_topic_id(topic_name))

    def _p_retrieve_topic(self, topic: str) -> Plan:
        topic_id = yield from self._p_resolve(topic)
        try:
            row = yield _core.retrieve_topic, (self._core, topic_id.bytes)
        except EnsignRPCError as e:
            raise _not_found(e, topic) from None
        return Topic.from_dict(row)

    def _p_delete_topic(self, topic: str, operation: int) -> Plan:
        topic_id = yield from self._p_resolve(topic)
        try:
            _, state = yield _core.delete_topic, (self._core, str(topic_id), operation)
        except EnsignRPCError as e:
            raise _not_found(e, topic) from None
        return topic_id, TopicState.convert(state)

    def _p_destroy_topic(self, topic: str) -> Plan:
        topic_id, state = yield from self._p_delete_topic(topic, _DESTROY)
        if state != TopicState.DELETING:
            raise EnsignTopicDestroyError(f"failed to destroy topic, topic state is {state}")
        self._forget(topic_id)

    def _p_archive_topic(self, topic: str) -> Plan:
        _, state = yield from self._p_delete_topic(topic, _ARCHIVE)
        return state

    def _p_topic_names(self) -> Plan:
        try:
            rows = yield _core.list_topics, (self._core,)
            return [row["name"] for row in rows]
        except EnsignRPCError as e:
            if e.name != "PERMISSION_DENIED":
                raise
        # TopicNames only has name hashes: recover the names from the publish stream's
        # topic map, opening the stream on a topic it lists.
        hashes = yield _core.topic_names, (self._core,)
        if not hashes:
            return []
        ids = {topic_id for _, topic_id, _ in hashes}
        yield self._core.resolve_topic, (max(ids),)
        known = {
            str(ULID.from_bytes(raw)): name for name, raw in self._core.stream_topics().items()
        }
        return [known[i] for i in sorted(ids) if i in known]

    def _p_set_dedup(
        self, topic: str, strategy: Any, offset: Any, keys: Any, fields: Any, overwrite: Any
    ) -> Plan:
        dedup = (
            int(_enum(DeduplicationStrategy, strategy, "deduplication strategy")),
            int(_enum(OffsetPosition, offset, "offset position")),
            _strings(keys, "keys"),
            _strings(fields, "fields"),
            bool(overwrite),
        )
        return (yield from self._p_set_policy(topic, dedup, 0))

    def _p_set_sharding(self, topic: str, strategy: Any) -> Plan:
        sharding = int(_enum(ShardingStrategy, strategy, "sharding strategy"))
        # Never a missing deduplication policy: the hosted server dereferences it and
        # answers INTERNAL (K1). An UNKNOWN one means "leave deduplication alone".
        return (yield from self._p_set_policy(topic, _NO_DEDUP_CHANGE, sharding))

    def _p_set_policy(self, topic: str, dedup: Any, sharding: int) -> Plan:
        topic_id = yield from self._p_resolve(topic)
        try:
            _, state = yield _core.set_topic_policy, (self._core, str(topic_id), dedup, sharding)
        except EnsignRPCError as e:
            if e.name == "UNIMPLEMENTED":
                raise EnsignShardingNotSupportedError(e.name, e.code, e.details) from None
            raise _not_found(e, topic) from None
        return TopicState.convert(state)

    def _p_info(self, topic_ids: Any) -> Plan:
        if not isinstance(topic_ids, (list, tuple)):
            raise TypeError(f"expected list of topic IDs, got {type(topic_ids)}")
        ids = []
        for topic_id in topic_ids:
            try:
                ids.append(ULID.parse(topic_id).bytes)
            except (ValueError, TypeError):
                raise ValueError(f"not parseable as a topic ID: {topic_id}") from None
        return Project.from_info_dict((yield _core.project_info, (self._core, ids)))

    def _forget(self, topic_id: Any) -> None:
        """Drops a destroyed topic from the caches (by ID, under any name)."""
        index = getattr(self.topics, "_index", {})
        for name in [k for k, v in index.items() if v == topic_id]:
            index.pop(name, None)
        self._session.forget_topic(topic_id.bytes)

    # ------------------------------------------------------------------ asyncio API

    async def status(self) -> ServerStatus:
        """Check the status of the Ensign server."""
        return await drive_async(self._p_status())  # type: ignore[no-any-return]

    async def get_topics(self) -> List[Topic]:
        """Every topic of the project (pages through ``ListTopics``)."""
        return await drive_async(self._p_get_topics())  # type: ignore[no-any-return]

    async def create_topic(self, topic_name: str) -> str:
        """Create a topic (the name must be unique in the project); returns its ID."""
        return await drive_async(self._p_create_topic(topic_name))  # type: ignore[no-any-return]

    async def ensure_topic_exists(self, topic_name: str) -> str:
        """Create the topic unless it exists; returns its ID."""
        return await drive_async(self._p_ensure_topic_exists(topic_name))  # type: ignore[no-any-return]

    async def topic_exists(self, name: str) -> bool:
        """Whether a topic with this name exists."""
        return await drive_async(self._p_topic_exists(name))  # type: ignore[no-any-return]

    async def topic_id(self, name: str) -> str:
        """The ID of a topic; ``EnsignTopicNotFoundError`` if there is none by that name."""
        return await drive_async(self._p_topic_id(name))  # type: ignore[no-any-return]

    async def retrieve_topic(self, id: str) -> Topic:
        """The topic with this ID (or name), with its state and policy."""
        return await drive_async(self._p_retrieve_topic(id))  # type: ignore[no-any-return]

    async def archive_topic(self, id: str) -> TopicState:
        """Make a topic (by ID or name) read-only; returns its new state (READONLY)."""
        return await drive_async(self._p_archive_topic(id))  # type: ignore[no-any-return]

    async def destroy_topic(self, topic: str) -> None:
        """Destroy a topic (by name or ID) and all its events. Irreversible.
        ``EnsignTopicNotFoundError`` if there is no such topic,
        ``EnsignTopicDestroyError`` if the server did not start deleting it."""
        await drive_async(self._p_destroy_topic(topic))

    async def topic_names(self) -> List[str]:
        """The names of the project's topics, oldest first."""
        return await drive_async(self._p_topic_names())  # type: ignore[no-any-return]

    async def set_topic_deduplication_policy(
        self,
        id: str,
        strategy: Union[DeduplicationStrategy, str, int],
        offset: Union[OffsetPosition, str, int] = OffsetPosition.OFFSET_EARLIEST,
        keys: List[str] | None = None,
        fields: List[str] | None = None,
        overwrite_duplicate: bool | None = False,
    ) -> TopicState:
        """Change a topic's deduplication policy. Returns READY if the policy was already
        in place, PENDING or REPAIRING while it is being applied."""
        plan = self._p_set_dedup(id, strategy, offset, keys, fields, overwrite_duplicate)
        return await drive_async(plan)  # type: ignore[no-any-return]

    async def set_topic_sharding_strategy(
        self, id: str, strategy: Union[ShardingStrategy, str, int] = "no_sharding"
    ) -> TopicState:
        """Change a topic's sharding strategy. Servers that cannot (the hosted Ensign
        today) raise ``EnsignShardingNotSupportedError``."""
        return await drive_async(self._p_set_sharding(id, strategy))  # type: ignore[no-any-return]

    async def info(self, topic_ids: List[str] = []) -> Project:  # noqa: B006 - pyensign's signature
        """Project info (counts, sizes, per-topic info), for every topic or only these
        topic IDs."""
        return await drive_async(self._p_info(topic_ids))  # type: ignore[no-any-return]
