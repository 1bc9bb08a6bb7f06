"""pyensign_fast.utils.ulid: a python-ulid compatible ULID, strict parsing, parse()."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest

from pyensign_fast.utils.ulid import ULID, parse

# A known pair (from the ULID spec examples).
TEXT = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
RAW = bytes.fromhex("01563e3ab5d3d6764c61efb99302bd5b")


def test_round_trips() -> None:
    u = ULID.from_str(TEXT)
    assert u.bytes == RAW and str(u) == TEXT and repr(u) == f"ULID({TEXT})"
    assert ULID.from_str(TEXT.lower()) == u
    assert ULID.from_bytes(RAW) == u == ULID(bytearray(RAW))
    assert ULID.from_int(int(u)) == u and ULID.from_hex(u.hex) == u
    assert ULID.from_uuid(u.to_uuid()) == u and u.to_uuid() == uuid.UUID(bytes=RAW)
    assert u.to_uuid4().version == 4
    assert u.milliseconds == 1469922850259
    assert u.timestamp == 1469922850.259
    assert u.datetime == dt.datetime(2016, 7, 30, 23, 54, 10, 259000, tzinfo=dt.timezone.utc)


def test_new_ulids_carry_the_time() -> None:
    before = time.time_ns() // 1_000_000
    u = ULID()
    after = time.time_ns() // 1_000_000
    assert before <= u.milliseconds <= after and len(u.bytes) == 16
    assert ULID() != u
    assert ULID.from_timestamp(1469922850259).milliseconds == 1469922850259
    assert ULID.from_timestamp(1469922850.259).milliseconds == 1469922850259
    when = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    assert ULID.from_datetime(when).datetime == when


def test_comparisons() -> None:
    u = ULID.from_str(TEXT)
    assert u == RAW and u == TEXT and u == int(u)
    assert u != "01ARZ3NDEKTSV4RRFFQ69G5FAW" and u != 5.0
    assert u < ULID.from_str("01ARZ3NDEKTSV4RRFFQ69G5FAW") and u <= RAW and u >= TEXT
    assert u > ULID(bytes(16))
    assert len({u, ULID(RAW)}) == 1 and hash(u) == hash(RAW)
    with pytest.raises(TypeError):
        assert u < 1.5


@pytest.mark.parametrize(
    "text",
    [
        "01ARZ3NDEKTSV4RRFFQ69G5FA",  # 25 characters
        "01ARZ3NDEKTSV4RRFFQ69G5FAU",  # U is not in the alphabet
        "abcdefghijklmnopqrstuvwxyz",  # a 26-character topic name
        "81ARZ3NDEKTSV4RRFFQ69G5FAV",  # more than 128 bits
    ],
)
def test_strict_from_str(text: str) -> None:
    with pytest.raises(ValueError):
        ULID.from_str(text)


def test_bad_bytes() -> None:
    with pytest.raises(ValueError, match="exactly 16 bytes"):
        ULID(b"abc")


@pytest.mark.parametrize("value", [TEXT, RAW, bytearray(RAW), ULID.from_str(TEXT)])
def test_parse(value: Any) -> None:
    assert parse(value) == ULID.from_str(TEXT)
    assert ULID.parse(value) == RAW


def test_parse_errors() -> None:
    with pytest.raises(TypeError, match="cannot parse ULID from <class 'int'>"):
        parse(5)
    with pytest.raises(ValueError):
        parse("not a ulid")


def test_interoperates_with_python_ulid() -> None:
    import ulid as theirs_module  # python-ulid, in the test extras

    theirs = theirs_module.ULID.from_str(TEXT)
    ours = ULID.from_str(TEXT)
    assert ours == theirs and theirs == ours
    assert parse(theirs) == ours
    assert str(theirs) == str(ours)
