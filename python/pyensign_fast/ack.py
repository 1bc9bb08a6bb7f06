"""``pyensign.ack.Ack``: what ``Event.wait_for_ack()`` returns.

(Callbacks receive :class:`pyensign_fast.messages.Ack` instead, as pyensign passed the
protobuf message there.) ``committed`` is converted to a datetime like pyensign did,
but a naive **UTC** one instead of pyensign's machine-local time (K13; see
:mod:`pyensign_fast.utils.pbtime` for why it stays naive).
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from pyensign_fast.utils import pbtime

__all__ = ["Ack"]


class Ack:
    """An acknowledgement: ``id`` (the published event's 16-byte ``local_id``) and
    ``committed`` (naive UTC datetime of the server commit, or ``None``)."""

    __slots__ = ("committed", "id")

    def __init__(self, id: Any, committed: Any) -> None:
        self.id = id
        self.committed: _dt.datetime | None
        if committed is None or isinstance(committed, _dt.datetime):
            self.committed = committed
        else:
            self.committed = pbtime.to_datetime(committed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ack):
            return NotImplemented
        return self.id == other.id and self.committed == other.committed

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ack(id={self.id!r}, committed={self.committed!r})"

    def __str__(self) -> str:
        return f"id: {self.id}\ncommitted: {self.committed}"
