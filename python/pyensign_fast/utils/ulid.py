"""ULIDs (topic and project IDs) without the ``python-ulid`` dependency.

pyensign represents topic and project IDs with ``python-ulid``'s ``ULID`` and offers
``utils.ulid.parse``. This module provides a ``ULID`` class with the same API
(``bytes``, ``str`` as 26 uppercase Crockford characters, ``from_str``/``from_bytes``/
``from_int``/``from_hex``/``from_uuid``/``from_timestamp``/``from_datetime``,
``milliseconds``, ``timestamp``, ``datetime``, ``hex``, ``to_uuid``, ordering, hashing)
which compares equal to a python-ulid ``ULID``, to its bytes, int or string form.

One deliberate difference: ``from_str`` validates its input (python-ulid 2.2 accepts any
26 characters and decodes garbage), so a 26-character topic *name* is not mistaken for
an ID.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
import uuid
from typing import Any, Union

__all__ = ["ULID", "parse"]

_ENCODING = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODING = {c: i for i, c in enumerate(_ENCODING)}
_DECODING.update({c.lower(): i for c, i in list(_DECODING.items())})
_DECODING.update({"O": 0, "o": 0, "I": 1, "i": 1, "L": 1, "l": 1})
_BYTES_LEN = 16
_STR_LEN = 26
_bytes = bytes


def _other_bytes(other: Any) -> bytes | None:
    # Interoperate with python-ulid's ULID (and any class named ULID holding 16 bytes).
    if type(other).__name__ == "ULID":
        value = getattr(other, "bytes", None)
        if isinstance(value, _bytes) and len(value) == _BYTES_LEN:
            return value
    return None


class ULID:
    """A 128-bit ULID: 48-bit millisecond timestamp + 80 random bits."""

    __slots__ = ("bytes",)

    def __init__(self, value: Union[bytes, bytearray] | None = None) -> None:
        if value is None:
            ms = time.time_ns() // 1_000_000
            self.bytes = ms.to_bytes(6, "big") + os.urandom(10)
            return
        if len(value) != _BYTES_LEN:
            raise ValueError("ULID has to be exactly 16 bytes long.")
        self.bytes = value if type(value) is _bytes else _bytes(value)

    # -- constructors ------------------------------------------------------------------
    @classmethod
    def from_bytes(cls, bytes_: bytes) -> ULID:
        return cls(bytes_)

    @classmethod
    def from_int(cls, value: int) -> ULID:
        return cls(value.to_bytes(_BYTES_LEN, "big"))

    @classmethod
    def from_hex(cls, value: str) -> ULID:
        return cls(_bytes.fromhex(value))

    @classmethod
    def from_uuid(cls, value: uuid.UUID) -> ULID:
        return cls(value.bytes)

    @classmethod
    def from_str(cls, string: str) -> ULID:
        """Decode the 26-character Crockford form (case-insensitive, validated)."""
        if not isinstance(string, str):
            raise ValueError("Value has to be of type str")
        if len(string) != _STR_LEN:
            raise ValueError("Encoded ULID has to be exactly 26 characters long.")
        n = 0
        try:
            for c in string:
                n = (n << 5) | _DECODING[c]
        except KeyError:
            raise ValueError(f"Invalid character in ULID string: {string!r}") from None
        if n >> 128:
            raise ValueError(f"ULID string is out of range: {string!r}")
        return cls(n.to_bytes(_BYTES_LEN, "big"))

    @classmethod
    def from_timestamp(cls, value: Union[int, float]) -> ULID:
        """A new ULID at ``value``: float seconds, or int milliseconds (python-ulid)."""
        ms = int(value * 1000) if isinstance(value, float) else int(value)
        return cls(ms.to_bytes(6, "big") + os.urandom(10))

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> ULID:
        return cls.from_timestamp(value.timestamp())

    @classmethod
    def parse(cls, value: Any) -> ULID:
        """A ULID from a ULID (ours or python-ulid's), str, bytes, int or UUID."""
        return parse(value)

    # -- views -------------------------------------------------------------------------
    @property
    def milliseconds(self) -> int:
        return int.from_bytes(self.bytes[:6], "big")

    @property
    def timestamp(self) -> float:
        return self.milliseconds / 1000

    @property
    def datetime(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.timestamp, _dt.timezone.utc)

    @property
    def hex(self) -> str:
        return self.bytes.hex()

    def to_uuid(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.bytes)

    def to_uuid4(self) -> uuid.UUID:
        return uuid.UUID(bytes=self.bytes, version=4)

    # -- protocol ----------------------------------------------------------------------
    def __str__(self) -> str:
        n = int.from_bytes(self.bytes, "big")
        return "".join([_ENCODING[(n >> shift) & 31] for shift in range(125, -1, -5)])

    def __repr__(self) -> str:
        return f"ULID({self})"

    def __int__(self) -> int:
        return int.from_bytes(self.bytes, "big")

    def __bytes__(self) -> bytes:
        return self.bytes

    def __hash__(self) -> int:
        return hash(self.bytes)

    def _key(self, other: Any) -> Any:
        if isinstance(other, ULID):
            return self.bytes, other.bytes
        if isinstance(other, int):
            return int(self), other
        if isinstance(other, _bytes):
            return self.bytes, other
        if isinstance(other, str):
            return str(self), other
        theirs = _other_bytes(other)
        if theirs is not None:
            return self.bytes, theirs
        return None

    def __eq__(self, other: Any) -> bool:
        pair = self._key(other)
        return NotImplemented if pair is None else pair[0] == pair[1]

    def __lt__(self, other: Any) -> bool:
        pair = self._key(other)
        return NotImplemented if pair is None else pair[0] < pair[1]

    def __gt__(self, other: Any) -> bool:
        pair = self._key(other)
        return NotImplemented if pair is None else pair[0] > pair[1]

    def __le__(self, other: Any) -> bool:
        pair = self._key(other)
        return NotImplemented if pair is None else pair[0] <= pair[1]

    def __ge__(self, other: Any) -> bool:
        pair = self._key(other)
        return NotImplemented if pair is None else pair[0] >= pair[1]


def parse(id: Any) -> ULID:
    """Parse a ULID from its string or bytes form (or pass a ULID through), as
    ``pyensign.utils.ulid.parse`` does; other types raise ``TypeError``."""
    if isinstance(id, ULID):
        return id
    if isinstance(id, str):
        return ULID.from_str(id)
    if isinstance(id, (_bytes, bytearray)):
        return ULID(id)
    theirs = _other_bytes(id)
    if theirs is not None:
        return ULID(theirs)
    raise TypeError(f"cannot parse ULID from {type(id)}")
