"""pyensign_fast.ack.Ack (wait_for_ack's result): committed becomes a naive UTC datetime."""

from __future__ import annotations

import datetime as dt

import pytest

from pyensign_fast.ack import Ack
from pyensign_fast.timestamps import Timestamp


@pytest.fixture
def far_timezone(set_timezone):  # type: ignore[no-untyped-def]
    """Run with the process in a timezone far from UTC (the K13 trap)."""
    set_timezone("Asia/Kathmandu")


def test_committed_is_naive_utc(far_timezone: None) -> None:
    ack = Ack(b"id", Timestamp(1672531200, 250_000_000))
    assert ack.committed == dt.datetime(2023, 1, 1, 0, 0, 0, 250_000)
    assert ack.committed is not None and ack.committed.tzinfo is None
    assert str(ack) == "id: b'id'\ncommitted: 2023-01-01 00:00:00.250000"


def test_committed_from_protobuf_timestamp() -> None:
    from google.protobuf import timestamp_pb2 as pb

    ack = Ack(b"id", pb.Timestamp(seconds=1672531200))
    assert ack.committed == dt.datetime(2023, 1, 1)


def test_committed_edge_values() -> None:
    assert Ack(b"", None).committed is None
    when = dt.datetime(2020, 5, 5)
    assert Ack(b"", when).committed is when
    # pyensign's marker for an unset timestamp.
    assert Ack(b"", Timestamp(-1, 0)).committed is None
    assert Ack(b"a", Timestamp(5)) == Ack(b"a", Timestamp(5))
    assert Ack(b"a", Timestamp(5)) != Ack(b"b", Timestamp(5))
