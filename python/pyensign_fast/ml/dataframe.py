"""``DataFrame``: a pandas DataFrame built from events (``pyensign.ml.dataframe``).

Importing this module without pandas raises ``ImportError``, as in pyensign::

    from pyensign_fast.ml.dataframe import DataFrame

    df = await DataFrame.from_events(await client.query("SELECT * FROM readings"))

Each event is decoded (:meth:`pyensign_fast.events.Event.decode`). The payloads must all
be scalars, all arrays of one length, or all dicts (whose keys become columns); rows are
ordered by event ID.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Dict, List

try:
    import pandas as pd  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError:
    raise ImportError(
        "please `pip install pyensign-fast[ml]` (or pandas) to use PyEnsign DataFrames"
    ) from None

__all__ = ["DataFrame", "ObjectType"]


class ObjectType(Enum):
    """The shape of a decoded payload."""

    SCALAR = 0
    ARRAY = 1
    DICT = 2

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse_object(cls, obj: Any) -> ObjectType:
        """DICT for dicts, ARRAY for lists, tuples and Series, SCALAR otherwise."""
        if isinstance(obj, dict):
            return cls.DICT
        if isinstance(obj, (list, tuple, pd.Series)):
            return cls.ARRAY
        return cls.SCALAR


async def _iterate(events: Any) -> Any:
    # A cursor or async generator, or any plain iterable of events.
    if hasattr(events, "__aiter__"):
        async for event in events:
            yield event
    else:
        for event in events:
            yield event


class DataFrame(pd.DataFrame):  # type: ignore[misc]
    """A pandas DataFrame that is a view on a collection of events."""

    @classmethod
    async def from_events(
        cls,
        events: Any,
        orient: str = "columns",
        columns: List[Any] | None = None,
        fillna: bool = True,
        index: str = "id",
    ) -> DataFrame:
        """Build a DataFrame from events (an async iterator such as a query cursor, or
        an iterable). ``orient="columns"``: one row per event; ``"index"``: one column
        per event. ``fillna``: dict payloads with different keys are allowed (missing
        values are ``None``), else they must match. ``index="id"`` labels rows with
        event IDs, ``"range"`` numbers them (``orient="columns"`` only)."""
        orient = orient.lower()
        if orient not in ("columns", "index"):
            raise ValueError("unsupported orient option, expected one of columns, index")
        index = index.lower()
        if index not in ("id", "range"):
            raise ValueError("unsupported index option, expected one of id, range")

        kind: ObjectType | None = None
        keys: set = set()
        width = 0
        decoded: Dict[Any, Any] = {}
        async for event in _iterate(events):
            event_id = event.id
            if not event_id:
                raise ValueError("missing event id")
            if event_id in decoded:
                raise ValueError(f"duplicate event id: {event_id}")
            try:
                obj = event.decode()
            except ValueError as e:
                raise ValueError(f"could not decode event data for event with id {event_id}") from e
            decoded[event_id] = obj
            this = ObjectType.parse_object(obj)
            if kind is not None and kind != this:
                raise ValueError(f"incompatible event data types: {kind} and {this}")
            kind = this
            if this is ObjectType.ARRAY:
                if width == 0:
                    width = len(obj)
                elif len(obj) != width:
                    raise ValueError(
                        f"expected array-like event data of length {width}, got length {len(obj)}"
                    )
            elif this is ObjectType.DICT:
                if not keys:
                    keys = set(obj)
                elif fillna:
                    keys |= set(obj)
                elif keys != set(obj):
                    got = set(obj)
                    raise ValueError(
                        f"mismatched event schemas for fillna=False, expected {keys}, got {got}"
                    )

        ids = sorted(decoded)
        values = [decoded[i] for i in ids]
        if kind is ObjectType.ARRAY:
            rows = [list(v) for v in values]
            labels: Any = pd.RangeIndex(width)
        elif kind is ObjectType.DICT:
            labels = sorted(keys)
            rows = [[v.get(k) for k in labels] for v in values]
        else:
            rows = [[v] for v in values]
            labels = pd.RangeIndex(1)

        if orient == "columns":
            row_index = ids if index == "id" else pd.RangeIndex(len(rows))
            return cls(data=rows, columns=labels, index=row_index)
        transposed = [list(col) for col in zip(*rows)] if rows else []
        if kind is ObjectType.DICT and labels:
            row_index = labels
        else:
            row_index = pd.RangeIndex(len(transposed))
        return cls(data=transposed, columns=columns or ids, index=row_index)
