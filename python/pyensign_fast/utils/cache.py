"""A small key/value cache (``pyensign.utils.cache.Cache``), used for topic IDs.

Not synchronised: dict operations are atomic under the GIL, which is all it needs.
"""

from __future__ import annotations

from typing import Any, Dict, Hashable

from pyensign_fast.exceptions import CacheMissError

__all__ = ["Cache"]


class Cache:
    """Maps keys to values. A ``read_only`` cache is disabled: ``add`` and ``clear``
    are no-ops, so ``get`` always misses."""

    def __init__(self, read_only: bool = False) -> None:
        self._index: Dict[Hashable, Any] = {}
        self._read_only = read_only

    def get(self, key: Hashable) -> Any:
        """The value for ``key``; ``CacheMissError(key)`` if absent."""
        try:
            return self._index[key]
        except KeyError:
            raise CacheMissError(key) from None

    def add(self, key: Hashable, value: Any) -> None:
        """Set ``key`` to ``value`` (overwriting), unless the cache is read-only."""
        if not self._read_only:
            self._index[key] = value

    def exists(self, key: Hashable) -> bool:
        return key in self._index

    def clear(self) -> None:
        if not self._read_only:
            self._index.clear()

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(read_only={self._read_only}, size={len(self._index)})"
