"""pyensign_fast.utils.pbtime: naive UTC datetimes whatever the machine's zone (K13)."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

import pytest

from pyensign_fast.timestamps import Timestamp
from pyensign_fast.utils import pbtime


@pytest.fixture(params=["UTC", "Pacific/Auckland", "America/St_Johns"])
def timezone(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available")
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_to_datetime_does_not_depend_on_the_timezone(timezone: str) -> None:
    value = pbtime.to_datetime(Timestamp(1672531200, 999_999_999))
    assert value == dt.datetime(2023, 1, 1, 0, 0, 0, 999_999)
    assert value is not None and value.tzinfo is None


def test_to_datetime_edges() -> None:
    assert pbtime.to_datetime(Timestamp(0, 0)) == dt.datetime(1970, 1, 1)
    assert pbtime.to_datetime(Timestamp(-1, 0)) is None  # pyensign's "unset" marker


@pytest.mark.parametrize(
    "value, expected",
    [
        (dt.datetime(2023, 1, 1), (1672531200, 0)),
        (dt.datetime(2023, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), (1672531200, 0)),
        (dt.datetime(1969, 12, 31, 23, 59, 59, 500000), (-1, 500_000_000)),
    ],
)
def test_from_datetime(value: dt.datetime, expected: tuple) -> None:
    assert pbtime.from_datetime(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        (5, 5),
        ((1, 2), 1_000_000_002),
        (Timestamp(1, 2), 1_000_000_002),
        (dt.datetime(1970, 1, 1, 0, 0, 1), 1_000_000_000),
    ],
)
def test_to_nanoseconds(value: Any, expected: int) -> None:
    assert pbtime.to_nanoseconds(value) == expected


def test_to_nanoseconds_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="expected a Timestamp"):
        pbtime.to_nanoseconds("now")
