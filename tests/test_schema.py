"""pyensign_fast.schema.Type: semver parsing as pyensign, the ``_pb`` encoding contract."""

from __future__ import annotations

from typing import Any

import pytest

from _pyensign_tables import TABLES, outcome
from pyensign_fast.schema import _TYPE_CACHE, Type, _event_type_parts, encode_type


# pyensign's TestType cases.
@pytest.mark.parametrize(
    "name, version, major, minor, patch, fullname",
    [
        ("otters", "1.4.2", 1, 4, 2, "otters v1.4.2"),
        ("lighthouses", "v0.0.4", 0, 0, 4, "lighthouses v0.0.4"),
        ("otters n' company", "1.2.3", 1, 2, 3, "otters n' company v1.2.3"),
        ("type", "10.20.30", 10, 20, 30, "type v10.20.30"),
        ("unknown", "1.1.2-prerelease+meta", 1, 1, 2, "unknown v1.1.2"),
        ("placeholder", "1.1.2+meta-valid", 1, 1, 2, "placeholder v1.1.2"),
        ("something", "1.1.2-alpha", 1, 1, 2, "something v1.1.2"),
        ("test", "1.1.2-beta", 1, 1, 2, "test v1.1.2"),
        ("foo", "1.1.2-alpha.1", 1, 1, 2, "foo v1.1.2"),
        ("bar baz", "1.1.2-rc.1+build.123", 1, 1, 2, "bar baz v1.1.2"),
        ("tbd", "999999999.999999999.999999999", 999999999, 999999999, 999999999, None),
    ],
)
def test_type(name: str, version: str, major: int, minor: int, patch: int, fullname: Any) -> None:
    t = Type(name, version)
    assert (t.name, t.major_version, t.minor_version, t.patch_version) == (
        name,
        major,
        minor,
        patch,
    )
    assert str(t) == (fullname or f"{name} v{major}.{minor}.{patch}")
    assert repr(t) == f"Type(name={name}, version={major}.{minor}.{patch})"
    assert t.semver() == f"{major}.{minor}.{patch}"


@pytest.mark.parametrize("version", ["1", "1.2", "abc"])
def test_bad_version(version: str) -> None:
    with pytest.raises(ValueError, match=f"unparseable semantic version: {version}"):
        Type("foo", version)


def test_semver_parsing_matches_pyensign() -> None:
    def parse(v: str) -> Any:
        t = Type("t", v)
        return [t.major_version, t.minor_version, t.patch_version]

    rows = TABLES["semver"]
    assert [outcome(lambda v=v: parse(v)) for v, _ in rows] == [exp for _, exp in rows]


def test_non_string_version_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Type("foo", 1)  # type: ignore[arg-type]


def test_no_version_means_zero() -> None:
    for version in (None, ""):
        assert Type("foo", version).semver() == "0.0.0"


@pytest.mark.parametrize(
    "name, major, minor, patch",
    [
        ("", 0, 0, 0),
        ("Generic", 1, 0, 0),
        ("Generic", 0, 0, 1),
        ("otters n' company ✓", 1, 2, 3),
        ("x" * 300, 127, 128, 16384),
        ("big", 0xFFFFFFFF, 2**31, 300),
    ],
)
def test_encoding_matches_protobuf(name: str, major: int, minor: int, patch: int) -> None:
    from pyensign_fast.api.v1beta1 import event_pb2

    t = Type.from_values(name, major, minor, patch)
    assert t._pb is None
    pb = t._encode()
    assert t._pb is pb
    expected = event_pb2.Type(
        name=name, major_version=major, minor_version=minor, patch_version=patch
    )
    assert pb == expected.SerializeToString()
    assert t.proto() == expected
    assert Type.convert(expected).semver() == t.semver()


def test_encoding_rejects_out_of_range_versions() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_type("x", 2**32, 0, 0)
    with pytest.raises(ValueError, match="out of range"):
        encode_type("x", 0, -1, 0)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: setattr(t, "name", "Other"),
        lambda t: setattr(t, "major_version", 9),
        lambda t: setattr(t, "minor_version", 9),
        lambda t: setattr(t, "patch_version", 9),
        lambda t: t.parse_version("4.5.6"),
    ],
)
def test_assignment_makes_the_encoding_stale(change: Any) -> None:
    t = Type("Generic", "1.2.3")
    before = t._encode()
    change(t)
    assert t._pb is None
    after = t._encode()
    assert after != before
    assert after == encode_type(t.name, t.major_version, t.minor_version, t.patch_version)


def test_type_has_no_dict() -> None:
    with pytest.raises(AttributeError):
        Type("x").other = 1  # type: ignore[attr-defined]


def test_event_type_parts_are_cached_per_name_and_version() -> None:
    _TYPE_CACHE.get(" Spaced ", {}).pop("v2.0.0", None)
    parts = _event_type_parts(" Spaced ", "v2.0.0")
    assert parts == ("Spaced", 2, 0, 0, encode_type("Spaced", 2, 0, 0))
    assert _TYPE_CACHE[" Spaced "]["v2.0.0"] is parts
    with pytest.raises(ValueError, match="schema name cannot be empty"):
        _event_type_parts("  ", "1.0.0")
    with pytest.raises(ValueError, match="unparseable"):
        _event_type_parts("Name", "1.0")
    assert "1.0" not in _TYPE_CACHE.get("Name", {})
