"""Topic and project administration of ``Ensign`` (a mixin): topics, policies, info,
status. Methods use ``self._core`` (the ``_core.Client``) and ``self.topics`` (the
name → ID cache)."""

from __future__ import annotations

from typing import Any

from pyensign_fast import _bridge
from pyensign_fast.status import ServerStatus
from pyensign_fast.utils.ulid import ULID

__all__ = ["TopicsAPI"]


class TopicsAPI:
    """Topic and project methods of :class:`pyensign_fast.ensign.Ensign`."""

    _core: Any
    topics: Any

    async def status(self) -> ServerStatus:
        """Check the status of the Ensign server."""
        status, version, seconds, nanos = await _bridge.get_bridge().run(self._core.status)
        return ServerStatus.from_dict(
            {"status": status, "version": version, "uptime": (seconds, nanos)}
        )

    async def create_topic(self, topic_name: str) -> str:
        """Create a topic; returns its ID."""
        raw = await _bridge.get_bridge().run(self._core.create_topic, topic_name)
        topic_id = ULID.from_bytes(raw)
        self.topics.add(topic_name, topic_id)
        return str(topic_id)

    async def ensure_topic_exists(self, topic_name: str) -> str:
        """Create the topic unless it exists; returns its ID."""
        from pyensign_fast.exceptions import EnsignRPCError

        try:
            return await self.create_topic(topic_name)
        except EnsignRPCError as e:
            if e.name != "ALREADY_EXISTS":
                raise
        raw = await _bridge.get_bridge().run(self._core.resolve_topic, topic_name)
        topic_id = ULID.from_bytes(raw)
        self.topics.add(topic_name, topic_id)
        return str(topic_id)
