"""Subscribe and EnSQL of ``Ensign`` (a mixin). Methods use ``self._core`` (the
``_core.Client``) and ``self.topics`` (the name → ID cache)."""

from __future__ import annotations

from typing import Any

__all__ = ["StreamsAPI"]


class StreamsAPI:
    """Subscribe and query methods of :class:`pyensign_fast.ensign.Ensign`."""

    _core: Any
    topics: Any
