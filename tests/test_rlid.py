"""pyensign_fast.utils.rlid.RLID: encoding, errors, ordering, parsing."""

from __future__ import annotations

from typing import Any

import pytest

from pyensign_fast.utils.rlid import RLID


@pytest.mark.parametrize(
    "raw, expected",
    [
        (bytes.fromhex("018bcfe5680000000001"), "065wzsb800000001"),
        (
            bytearray([0x01, 0x83, 0x42, 0x5F, 0x66, 0x6F, 0x00, 0x6F, 0xEB, 0x6B]),
            "061m4qv6dw06ztvb",
        ),
        (bytearray([0x42 for _ in range(10)]), "89144gj289144gj2"),
        (bytes(10), "0000000000000000"),
        (b"\xff" * 10, "zzzzzzzzzzzzzzzz"),
    ],
)
def test_encode_and_parse(raw: Any, expected: str) -> None:
    rlid = RLID(raw)
    assert str(rlid) == expected
    assert rlid.bytes == bytes(raw) and isinstance(rlid.bytes, bytes)
    assert bytes(rlid) == bytes(raw)
    assert RLID.parse(expected) == rlid
    assert RLID.parse(expected.upper()) == rlid


@pytest.mark.parametrize(
    "raw, exception",
    [
        (None, TypeError),
        ("bad", ValueError),
        (bytearray(), ValueError),
        (bytearray([0x01, 0x83, 0x42, 0x5F, 0x66, 0x6F, 0x00, 0x6F, 0xEB]), ValueError),
        ("0123456789", TypeError),
    ],
)
def test_bad_rlid(raw: Any, exception: type) -> None:
    with pytest.raises(exception):
        RLID(raw)


def test_size_message() -> None:
    with pytest.raises(ValueError, match="Unexpected RLID size: 9"):
        RLID(bytes(9))


@pytest.mark.parametrize("text", ["065wzsb80000000", "065wzsb80000000u", "065wzsb8000000!1"])
def test_bad_strings(text: str) -> None:
    with pytest.raises(ValueError):
        RLID.parse(text)


def test_sort_hash_and_equality() -> None:
    a = RLID(bytearray([0x08, 0x12, 0xF5, 0x59, 0x12, 0xA2, 0x3B, 0xFE, 0x01, 0x98]))
    b = RLID(bytearray([0x07, 0x11, 0xF4, 0x58, 0x11, 0xA1, 0x3A, 0xFD, 0x00, 0x97]))
    c = RLID(bytearray([0x18, 0x22, 0xF6, 0x69, 0x22, 0xB2, 0x4B, 0xFF, 0x11, 0xF0]))
    assert sorted([a, b, c]) == [b, a, c]
    assert b < a <= a < c and c > a >= a
    assert len({a, RLID(a.bytes), b}) == 2
    assert a != a.bytes
    assert repr(b) == f"RLID({b.bytes!r})"
    assert RLID.parse("065WZSB8OOOOOOOI") == RLID.parse("065wzsb800000001")  # Crockford aliases
