"""Light ``Timestamp`` and ``Duration`` values with the protobuf well-known-type API.

pyensign hands users ``google.protobuf`` ``Timestamp`` objects (``event.created``,
``ack.committed`` in ``on_ack``) and a ``Duration`` (``status().uptime``). These
``__slots__`` classes carry the same fields and the methods users touch, without
importing protobuf: ``ToDatetime`` returns a naive UTC datetime like protobuf's,
``str`` is protobuf's text format (zero fields omitted), and ``==`` also compares equal
to a protobuf message with the same fields.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import time
from typing import Any

__all__ = ["Duration", "Timestamp"]

_NANOS_PER_SECOND = 1_000_000_000
_EPOCH = _dt.datetime(1970, 1, 1)
_UTC = _dt.timezone.utc


def _trunc_div(n: int, d: int) -> int:
    """Integer division rounding toward zero (protobuf's ``_RoundTowardZero``)."""
    q = n // d
    if q < 0 and q * d != n:
        q += 1
    return q


def _text(seconds: int, nanos: int) -> str:
    # protobuf's text format: one "name: value" line per non-default field.
    s = f"seconds: {seconds}\n" if seconds else ""
    if nanos:
        s += f"nanos: {nanos}\n"
    return s


def _fraction(nanos: int) -> str:
    # RFC 3339 / protobuf JSON: 0, 3, 6 or 9 fractional digits.
    if nanos == 0:
        return ""
    if nanos % 1_000_000 == 0:
        return f".{nanos // 1_000_000:03d}"
    if nanos % 1_000 == 0:
        return f".{nanos // 1_000:06d}"
    return f".{nanos:09d}"


class Timestamp:
    """A point in time: ``seconds`` since the Unix epoch plus ``nanos`` (0..999999999)."""

    __slots__ = ("nanos", "seconds")

    def __init__(self, seconds: int = 0, nanos: int = 0) -> None:
        self.seconds = seconds
        self.nanos = nanos

    @classmethod
    def _from_ns(cls, ns: int) -> Timestamp:
        ts = cls.__new__(cls)
        ts.seconds, ts.nanos = divmod(ns, _NANOS_PER_SECOND)
        return ts

    # -- conversions out ---------------------------------------------------------------
    def ToNanoseconds(self) -> int:
        return self.seconds * _NANOS_PER_SECOND + self.nanos

    def ToMicroseconds(self) -> int:
        return self.seconds * 1_000_000 + _trunc_div(self.nanos, 1_000)

    def ToMilliseconds(self) -> int:
        return self.seconds * 1_000 + _trunc_div(self.nanos, 1_000_000)

    def ToSeconds(self) -> int:
        return self.seconds

    def ToDatetime(self, tzinfo: _dt.tzinfo | None = None) -> _dt.datetime:
        """A naive UTC datetime (microsecond precision), or an aware one in ``tzinfo``."""
        naive = _EPOCH + _dt.timedelta(
            seconds=self.seconds, microseconds=_trunc_div(self.nanos, 1_000)
        )
        if tzinfo is None:
            return naive
        return naive.replace(tzinfo=_UTC).astimezone(tzinfo)

    def ToJsonString(self) -> str:
        """RFC 3339 in UTC, e.g. ``"2023-01-01T00:00:00.500Z"``."""
        ns = self.ToNanoseconds()
        seconds, nanos = divmod(ns, _NANOS_PER_SECOND)
        d = _EPOCH + _dt.timedelta(seconds=seconds)
        # Formatted by hand: strftime pads years < 1000 inconsistently across platforms.
        base = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
        return base + _fraction(nanos) + "Z"

    # -- conversions in (protobuf mutates in place and returns None) -------------------
    def FromNanoseconds(self, nanos: int) -> None:
        self.seconds, self.nanos = divmod(nanos, _NANOS_PER_SECOND)

    def FromMicroseconds(self, micros: int) -> None:
        self.FromNanoseconds(micros * 1_000)

    def FromMilliseconds(self, millis: int) -> None:
        self.FromNanoseconds(millis * 1_000_000)

    def FromSeconds(self, seconds: int) -> None:
        self.seconds, self.nanos = seconds, 0

    def FromDatetime(self, dt: _dt.datetime) -> None:
        """Set from a datetime; a naive one is taken as UTC (as protobuf does)."""
        self.seconds = calendar.timegm(dt.utctimetuple())
        self.nanos = dt.microsecond * 1_000

    def FromJsonString(self, value: str) -> None:
        """Set from an RFC 3339 string (``Z`` or a ``±hh:mm`` offset)."""
        text = value.strip()
        if text.endswith(("Z", "z")):
            text, offset = text[:-1], 0
        elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
            sign = 1 if text[-6] == "+" else -1
            offset = sign * (int(text[-5:-3]) * 3600 + int(text[-2:]) * 60)
            text = text[:-6]
        else:
            raise ValueError(f"Failed to parse timestamp: missing valid timezone offset: {value}")
        whole, _, frac = text.partition(".")
        if len(frac) > 9 or (frac and not frac.isdigit()):
            raise ValueError(f"Failed to parse timestamp: invalid fraction: {value}")
        parsed = _dt.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
        self.seconds = calendar.timegm(parsed.timetuple()) - offset
        self.nanos = int(frac.ljust(9, "0")) if frac else 0

    def GetCurrentTime(self) -> None:
        self.FromNanoseconds(time.time_ns())

    # -- protocol ----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        try:
            return self.seconds == other.seconds and self.nanos == other.nanos  # type: ignore[attr-defined]
        except AttributeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like protobuf messages

    def __repr__(self) -> str:
        return f"Timestamp(seconds={self.seconds}, nanos={self.nanos})"

    def __str__(self) -> str:
        return _text(self.seconds, self.nanos)

    def __reduce__(self) -> Any:
        return (type(self), (self.seconds, self.nanos))


class Duration:
    """A signed span of time: ``seconds`` plus ``nanos`` of the same sign."""

    __slots__ = ("nanos", "seconds")

    def __init__(self, seconds: int = 0, nanos: int = 0) -> None:
        self.seconds = seconds
        self.nanos = nanos

    def ToNanoseconds(self) -> int:
        return self.seconds * _NANOS_PER_SECOND + self.nanos

    def ToMicroseconds(self) -> int:
        return self.seconds * 1_000_000 + _trunc_div(self.nanos, 1_000)

    def ToMilliseconds(self) -> int:
        return self.seconds * 1_000 + _trunc_div(self.nanos, 1_000_000)

    def ToSeconds(self) -> int:
        return self.seconds

    def ToTimedelta(self) -> _dt.timedelta:
        return _dt.timedelta(seconds=self.seconds, microseconds=_trunc_div(self.nanos, 1_000))

    def FromNanoseconds(self, nanos: int) -> None:
        sign = -1 if nanos < 0 else 1
        seconds, rest = divmod(abs(nanos), _NANOS_PER_SECOND)
        self.seconds, self.nanos = sign * seconds, sign * rest

    def FromTimedelta(self, td: _dt.timedelta) -> None:
        self.FromNanoseconds(
            (td.days * 86_400 + td.seconds) * _NANOS_PER_SECOND + td.microseconds * 1_000
        )

    def ToJsonString(self) -> str:
        """protobuf's JSON form, e.g. ``"10.000000005s"``."""
        ns = self.ToNanoseconds()
        sign = "-" if ns < 0 else ""
        seconds, nanos = divmod(abs(ns), _NANOS_PER_SECOND)
        return f"{sign}{seconds}{_fraction(nanos)}s"

    def __eq__(self, other: object) -> bool:
        try:
            return self.seconds == other.seconds and self.nanos == other.nanos  # type: ignore[attr-defined]
        except AttributeError:
            return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Duration(seconds={self.seconds}, nanos={self.nanos})"

    def __str__(self) -> str:
        return _text(self.seconds, self.nanos)

    def __reduce__(self) -> Any:
        return (type(self), (self.seconds, self.nanos))
