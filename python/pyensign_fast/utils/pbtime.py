"""Timestamp ↔ datetime conversion, at pyensign's ``utils.pbtime`` path.

pyensign's ``to_datetime`` returned a naive datetime in the machine's *local* time
(pyensign-api.md K13), so printed events and ``wait_for_ack`` results depended on the
``TZ`` of the machine. Here the result is a naive datetime in **UTC**, the same value
protobuf's own ``Timestamp.ToDatetime()`` returns. It stays naive (not ``tzinfo=utc``)
so that code comparing or subtracting it with other naive datetimes, as pyensign users
do, keeps working; only its meaning is now fixed (UTC) instead of machine-dependent.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, Tuple, Union

__all__ = ["from_datetime", "to_datetime", "to_nanoseconds"]

_EPOCH = _dt.datetime(1970, 1, 1)
_NANOS_PER_SECOND = 1_000_000_000


def to_datetime(pbtime: Any) -> _dt.datetime | None:
    """Naive UTC datetime of anything with ``seconds``/``nanos`` (``None`` if seconds
    is negative, pyensign's marker for an unset timestamp)."""
    seconds = pbtime.seconds
    if seconds < 0:
        return None
    # NOTE: integer arithmetic (pyensign used float seconds and lost precision).
    return _EPOCH + _dt.timedelta(seconds=seconds, microseconds=pbtime.nanos // 1_000)


def from_datetime(dt: _dt.datetime) -> Tuple[int, int]:
    """``(seconds, nanos)`` of a datetime; a naive datetime is taken as UTC."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    delta = dt - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return seconds, delta.microseconds * 1_000


TimeLike = Union[int, Tuple[int, int], _dt.datetime, Any]


def to_nanoseconds(value: TimeLike) -> int:
    """Nanoseconds since the epoch of an int (already ns), a ``(seconds, nanos)``
    tuple, a datetime (naive = UTC) or an object with ``seconds``/``nanos``."""
    if isinstance(value, int):
        return value
    if isinstance(value, tuple):
        seconds, nanos = value
        return int(seconds) * _NANOS_PER_SECOND + int(nanos)
    if isinstance(value, _dt.datetime):
        seconds, nanos = from_datetime(value)
        return seconds * _NANOS_PER_SECOND + nanos
    try:
        return int(value.seconds) * _NANOS_PER_SECOND + int(value.nanos)
    except AttributeError:
        raise TypeError(
            f"expected a Timestamp, datetime, (seconds, nanos) or int ns, got {type(value)}"
        ) from None
