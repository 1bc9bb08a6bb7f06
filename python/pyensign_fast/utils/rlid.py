"""RLIDs: the 10-byte, lexicographically sortable event IDs assigned by Ensign.

Same API as ``pyensign.utils.rlid.RLID`` (``bytes``, ``str`` as 16 lowercase Crockford
base32 characters, hash, ordering, ``ValueError`` on a wrong size), plus parsing back
from the string form. 80 bits are exactly 16 five-bit groups, so the encoding is one
integer conversion rather than pyensign's per-character bit shuffling.
"""

from __future__ import annotations

import functools
from typing import Any, Union

__all__ = ["ENCODED_SIZE", "ENCODING", "RLID", "RLID_SIZE"]

RLID_SIZE = 10
ENCODED_SIZE = 16
ENCODING = "0123456789abcdefghjkmnpqrstvwxyz"
_bytes = bytes  # the constructor's parameter is called ``bytes`` (pyensign's name)
_DECODING = {c: i for i, c in enumerate(ENCODING)}
_DECODING.update({c.upper(): i for c, i in list(_DECODING.items())})
# Crockford's aliases for characters that are easy to misread.
_DECODING.update({"o": 0, "O": 0, "i": 1, "I": 1, "l": 1, "L": 1})


@functools.total_ordering
class RLID:
    """A 10-byte event ID; ``str(rlid)`` is its 16-character encoding."""

    __slots__ = ("bytes",)

    def __init__(self, bytes: Union[bytes, bytearray, memoryview]) -> None:
        if len(bytes) != RLID_SIZE:
            raise ValueError(f"Unexpected RLID size: {len(bytes)}")
        if isinstance(bytes, str):
            raise TypeError("RLID must be created from bytes, not str (use RLID.parse)")
        # NOTE: stored as immutable bytes even for a bytearray, so it can be hashed.
        self.bytes = bytes if type(bytes) is _bytes else _bytes(bytes)

    @classmethod
    def parse(cls, value: str) -> RLID:
        """Decode the 16-character string form (case-insensitive)."""
        if len(value) != ENCODED_SIZE:
            raise ValueError(f"Unexpected RLID string length: {len(value)}")
        n = 0
        try:
            for c in value:
                n = (n << 5) | _DECODING[c]
        except KeyError:
            raise ValueError(f"invalid character in RLID string: {value!r}") from None
        return cls(n.to_bytes(RLID_SIZE, "big"))

    @classmethod
    def from_str(cls, value: str) -> RLID:
        """Alias of :meth:`parse`."""
        return cls.parse(value)

    def __str__(self) -> str:
        n = int.from_bytes(self.bytes, "big")
        return "".join([ENCODING[(n >> shift) & 31] for shift in range(75, -1, -5)])

    def __repr__(self) -> str:
        return f"RLID({self.bytes!r})"

    def __bytes__(self) -> bytes:
        return self.bytes

    def __hash__(self) -> int:
        return hash(self.bytes)

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, RLID):
            return self.bytes == other.bytes
        return NotImplemented

    def __lt__(self, other: Any) -> bool:
        if isinstance(other, RLID):
            return self.bytes < other.bytes
        return NotImplemented
