"""pyensign_fast.timestamps: Timestamp and Duration behave like protobuf's classes."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest
from google.protobuf import duration_pb2 as pb_duration
from google.protobuf import timestamp_pb2 as pb_timestamp

from pyensign_fast.timestamps import Duration, Timestamp

TIMESTAMPS = [
    (0, 0),
    (1, 0),
    (0, 1),
    (5, 1000),
    (1672531200, 500_000_000),
    (1672531200, 123_456_789),
    (1672531200, 123_456_000),
    (-1, 999_999_999),
    (-62135596800, 0),  # 0001-01-01
    (253402300799, 999_999_999),  # 9999-12-31T23:59:59.999999999
]


@pytest.mark.parametrize("seconds, nanos", TIMESTAMPS)
def test_timestamp_conversions_match_protobuf(seconds: int, nanos: int) -> None:
    ours, theirs = Timestamp(seconds, nanos), pb_timestamp.Timestamp(seconds=seconds, nanos=nanos)
    assert ours.ToNanoseconds() == theirs.ToNanoseconds()
    assert ours.ToMicroseconds() == theirs.ToMicroseconds()
    assert ours.ToMilliseconds() == theirs.ToMilliseconds()
    assert ours.ToSeconds() == theirs.ToSeconds()
    assert ours.ToDatetime() == theirs.ToDatetime()
    assert ours.ToDatetime().tzinfo is None
    assert ours.ToJsonString() == theirs.ToJsonString()
    assert str(ours) == str(theirs)
    assert ours == theirs


@pytest.mark.parametrize("seconds, nanos", TIMESTAMPS[:8])
def test_timestamp_from_methods_match_protobuf(seconds: int, nanos: int) -> None:
    ns = seconds * 1_000_000_000 + nanos
    for method, value in [
        ("FromNanoseconds", ns),
        ("FromMicroseconds", ns // 1000),
        ("FromMilliseconds", ns // 1_000_000),
        ("FromSeconds", seconds),
    ]:
        ours, theirs = Timestamp(), pb_timestamp.Timestamp()
        getattr(ours, method)(value)
        getattr(theirs, method)(value)
        assert (ours.seconds, ours.nanos) == (theirs.seconds, theirs.nanos), method
    theirs = pb_timestamp.Timestamp(seconds=seconds, nanos=nanos)
    ours = Timestamp()
    ours.FromJsonString(theirs.ToJsonString())
    assert ours == theirs


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2023, 1, 1),
        dt.datetime(2023, 1, 1, 12, 30, 5, 123456),
        dt.datetime(2023, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(1969, 12, 31, 23, 59, 59, 1),
    ],
)
def test_from_datetime_matches_protobuf(value: dt.datetime) -> None:
    ours, theirs = Timestamp(), pb_timestamp.Timestamp()
    ours.FromDatetime(value)
    theirs.FromDatetime(value)
    assert ours == theirs


@pytest.mark.parametrize(
    "text", ["1972-01-01T10:00:20.021-05:00", "2023-06-01T00:00:00Z", "2023-06-01T00:00:00.5+01:30"]
)
def test_from_json_string_matches_protobuf(text: str) -> None:
    ours, theirs = Timestamp(), pb_timestamp.Timestamp()
    ours.FromJsonString(text)
    theirs.FromJsonString(text)
    assert ours == theirs


@pytest.mark.parametrize("text", ["2023-06-01T00:00:00", "2023-06-01T00:00:00.1234567890Z"])
def test_from_json_string_rejects_bad_input(text: str) -> None:
    with pytest.raises(ValueError):
        Timestamp().FromJsonString(text)


def test_to_datetime_with_tzinfo() -> None:
    ts = Timestamp(1672531200, 0)
    utc = ts.ToDatetime(dt.timezone.utc)
    assert utc == dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc)
    plus2 = ts.ToDatetime(dt.timezone(dt.timedelta(hours=2)))
    assert plus2.hour == 2 and plus2 == utc


def test_get_current_time() -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    ts = Timestamp()
    ts.GetCurrentTime()
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    assert before - dt.timedelta(microseconds=1) <= ts.ToDatetime() <= after
    assert 0 <= ts.nanos < 1_000_000_000


def test_timestamp_value_semantics() -> None:
    ts = Timestamp(seconds=3, nanos=4)
    assert repr(ts) == "Timestamp(seconds=3, nanos=4)"
    assert str(ts) == "seconds: 3\nnanos: 4\n"
    assert str(Timestamp()) == ""
    assert ts == Timestamp(3, 4) and ts != Timestamp(3, 5)
    assert ts != 3
    assert pickle.loads(pickle.dumps(ts)) == ts
    with pytest.raises(TypeError):
        hash(ts)
    with pytest.raises(AttributeError):
        ts.other = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "seconds, nanos", [(0, 0), (10, 5), (-1, -5), (3600, 500_000_000), (-7, -123_000)]
)
def test_duration_matches_protobuf(seconds: int, nanos: int) -> None:
    ours, theirs = Duration(seconds, nanos), pb_duration.Duration(seconds=seconds, nanos=nanos)
    assert ours.ToNanoseconds() == theirs.ToNanoseconds()
    assert ours.ToMicroseconds() == theirs.ToMicroseconds()
    assert ours.ToMilliseconds() == theirs.ToMilliseconds()
    assert ours.ToTimedelta() == theirs.ToTimedelta()
    assert ours.ToJsonString() == theirs.ToJsonString()
    assert str(ours) == str(theirs)
    assert ours == theirs
    back = Duration()
    back.FromNanoseconds(theirs.ToNanoseconds())
    assert back == theirs
    td = Duration()
    td.FromTimedelta(theirs.ToTimedelta())
    expected = pb_duration.Duration()
    expected.FromTimedelta(theirs.ToTimedelta())
    assert td == expected


def test_duration_repr() -> None:
    assert repr(Duration(1, 2)) == "Duration(seconds=1, nanos=2)"
    assert pickle.loads(pickle.dumps(Duration(1, 2))) == Duration(1, 2)
