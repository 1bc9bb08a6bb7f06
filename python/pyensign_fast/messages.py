"""Light stand-ins for the protobuf ``ensign.v1beta1.Ack`` and ``Nack`` messages.

pyensign passes the raw protobuf ``Ack``/``Nack`` to ``on_ack``/``on_nack`` callbacks
and stores the ``Nack`` as a nacked event's ``error``; users read ``ack.id``,
``ack.committed.seconds``/``.nanos`` (or ``ack.committed.ToDatetime()``), ``nack.id``,
``nack.code`` and ``nack.error``. These ``__slots__`` classes have those fields, compare
equal to the protobuf messages with the same fields, and print in protobuf's text format,
so callbacks written for pyensign work unchanged while the hot path never touches
protobuf. ``to_proto()`` builds the real message when one is needed.
"""

from __future__ import annotations

from typing import Any

from pyensign_fast.nack import names_by_value as _NACK_NAMES
from pyensign_fast.timestamps import Timestamp

__all__ = ["Ack", "Nack"]

# protobuf's text-format escapes for bytes (C-style; octal for anything unprintable).
_BYTE_ESCAPES = {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}
_BYTE_ESCAPES.update({ord(c): "\\" + c for c in "\"'\\"})
_BYTE_TEXT = [_BYTE_ESCAPES.get(b, chr(b) if 32 <= b < 127 else f"\\{b:03o}") for b in range(256)]


def _escape_bytes(value: bytes) -> str:
    return "".join([_BYTE_TEXT[b] for b in value])


def _escape_str(value: str) -> str:
    # String fields keep non-ASCII characters and escape only ASCII specials.
    return "".join([_BYTE_TEXT[ord(c)] if ord(c) < 128 else c for c in value])


class Ack:
    """A server ack of a published event: ``id`` (the event's 16-byte ``local_id``) and
    ``committed`` (a :class:`~pyensign_fast.timestamps.Timestamp`)."""

    __slots__ = ("committed", "id")

    def __init__(self, id: bytes = b"", committed: Timestamp | None = None) -> None:
        self.id = id
        self.committed = committed

    @classmethod
    def _from_core(cls, local_id: bytes, seconds: int, nanos: int) -> Ack:
        """Build from the ``(local_id, seconds, nanos)`` tuple of the bridge (kind 4)."""
        ack = cls.__new__(cls)
        ack.id = local_id
        ack.committed = Timestamp(seconds, nanos)
        return ack

    def to_proto(self) -> Any:
        """The equivalent ``ensign_pb2.Ack`` (imports protobuf)."""
        from pyensign_fast.api.v1beta1 import ensign_pb2

        pb = ensign_pb2.Ack(id=self.id)
        if self.committed is not None:
            pb.committed.seconds = self.committed.seconds
            pb.committed.nanos = self.committed.nanos
        return pb

    def __eq__(self, other: object) -> bool:
        try:
            return self.id == other.id and _committed_eq(self.committed, other.committed)  # type: ignore[attr-defined]
        except AttributeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ack(id={self.id!r}, committed={self.committed!r})"

    def __str__(self) -> str:
        s = f'id: "{_escape_bytes(self.id)}"\n' if self.id else ""
        if self.committed is not None:
            inner = str(self.committed).replace("\n", "\n  ").rstrip(" ")
            s += "committed {\n" + ("  " + inner if inner else "") + "}\n"
        return s


def _committed_eq(a: Any, b: Any) -> bool:
    # An unset protobuf message field reads as an empty Timestamp.
    if a is None or b is None:
        a = a if a is not None else Timestamp()
        b = b if b is not None else Timestamp()
    return bool(a.seconds == b.seconds and a.nanos == b.nanos)


class Nack:
    """A negative ack: ``id`` (``local_id`` for published events, the RLID bytes for
    subscribed ones), ``code`` (see :mod:`pyensign_fast.nack`) and ``error`` message."""

    __slots__ = ("code", "error", "id")

    def __init__(self, id: bytes = b"", code: int = 0, error: str = "") -> None:
        self.id = id
        self.code = code
        self.error = error

    def to_proto(self) -> Any:
        """The equivalent ``ensign_pb2.Nack`` (imports protobuf)."""
        from pyensign_fast.api.v1beta1 import ensign_pb2

        return ensign_pb2.Nack(id=self.id, code=self.code, error=self.error)

    def __eq__(self, other: object) -> bool:
        try:
            return (
                self.id == other.id  # type: ignore[attr-defined]
                and self.code == other.code  # type: ignore[attr-defined]
                and self.error == other.error  # type: ignore[attr-defined]
            )
        except AttributeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Nack(id={self.id!r}, code={self.code!r}, error={self.error!r})"

    def __str__(self) -> str:
        s = f'id: "{_escape_bytes(self.id)}"\n' if self.id else ""
        if self.code:
            s += f"code: {_NACK_NAMES.get(self.code, self.code)}\n"
        if self.error:
            s += f'error: "{_escape_str(self.error)}"\n'
        return s
