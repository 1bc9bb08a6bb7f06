"""pyensign_fast.mimetypes: constants, parse/to_str rules and errors, the parse cache."""

from __future__ import annotations

from typing import Any

import pytest

from _pyensign_tables import TABLES, outcome
from pyensign_fast import mimetypes as mt


def test_every_input_parses_as_pyensign_did() -> None:
    rows = TABLES["mimetype_parse"]
    assert len(rows) > 400
    mismatches = [(i, exp, outcome(lambda i=i: mt.parse(i))) for i, exp in rows]
    mismatches = [m for m in mismatches if m[1] != m[2]]
    assert mismatches == []


def test_parse_results_are_the_same_when_cached() -> None:
    # Every row a second time: now served from the cache (or failing again).
    for i, expected in TABLES["mimetype_parse"]:
        assert outcome(lambda i=i: mt.parse(i)) == expected


def test_names_by_value_is_pyensigns() -> None:
    assert {int(k): v for k, v in TABLES["names_by_value"]} == mt.names_by_value
    assert mt.values_by_name == {v: k for k, v in mt.names_by_value.items()}


@pytest.mark.parametrize(
    "value, expected",
    [(0, "application/octet-stream"), (50, "application/json"), (1009, "user/format-9")],
)
def test_to_str(value: int, expected: str) -> None:
    assert mt.to_str(value) == expected


def test_to_str_unknown() -> None:
    with pytest.raises(ValueError, match="unrecognized mimetype: 7"):
        mt.to_str(7)
    for value, expected in TABLES["mimetype_to_str"]:
        assert outcome(lambda v=value: mt.to_str(v)) == expected


@pytest.mark.parametrize(
    "name, value",
    [
        ("Unspecified", 0),
        ("Unknown", 0),
        ("ApplicationOctetStream", 0),
        ("TextPlain", 1),
        ("TextCSV", 2),
        ("TextHTML", 3),
        ("TextCalendar", 4),
        ("ApplicationJSON", 50),
        ("ApplicationJSONUTF8", 50),
        ("ApplicationJSONLD", 51),
        ("AppplicationJSONLines", 52),
        ("ApplicationUBJSON", 53),
        ("ApplicationBSON", 54),
        ("ApplicationXML", 100),
        ("ApplicationAtom", 101),
        ("ApplicationMsgPack", 252),
        ("ApplicationParquet", 253),
        ("ApplicationAvro", 254),
        ("ApplicationProtobuf", 255),
        ("ApplicationPDF", 512),
        ("ApplicationJavaArchive", 513),
        ("ApplicationPythonPickle", 514),
        *[(f"UserSpecified{i}", 1000 + i) for i in range(10)],
    ],
)
def test_constants(name: str, value: int) -> None:
    assert getattr(mt, name) == value


def test_constants_match_the_mime_enum() -> None:
    from pyensign_fast.mimetype.v1beta1 import mimetype_pb2

    numbers = {v.number for v in mimetype_pb2.MIME.DESCRIPTOR.values}
    assert numbers == set(mt.names_by_value)
    for value in mimetype_pb2.MIME.DESCRIPTOR.values:
        # e.g. APPLICATION_JSON_LINES -> AppplicationJSONLines is the odd one out
        assert mt.parse(value.number) == value.number


# The cases of pyensign's own test_mimetypes.py.
@pytest.mark.parametrize(
    "mimetype, expected",
    [
        (0, mt.ApplicationOctetStream),
        (100, mt.ApplicationXML),
        ("application/json", mt.ApplicationJSON),
        ("user/format-5", mt.UserSpecified5),
        ("APPLICATION/XML", mt.ApplicationXML),
        ("  TEXT/csv  ", mt.TextCSV),
        ("application/json; charset=utf-8", mt.ApplicationJSON),
        ("application/atom+xml; charset=latin1", mt.ApplicationAtom),
        ("application/vnd.myapp.type+xml", mt.ApplicationXML),
        ("text/atom+xml", mt.ApplicationAtom),
        ("application/csv", mt.TextCSV),
        ("text/vnd.myapp.type+xml", mt.ApplicationXML),
    ],
)
def test_parse(mimetype: Any, expected: int) -> None:
    assert mt.parse(mimetype) == expected


@pytest.mark.parametrize(
    "mimetype", [None, 99999, "text/svg+png", "image/png", "application/vnd.myapp.type"]
)
def test_parse_invalid(mimetype: Any) -> None:
    with pytest.raises(ValueError):
        mt.parse(mimetype)


def test_parse_unhashable_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        mt.parse([])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "mimetype, expected",
    [
        ("application/json", ("application", "json", None, None)),
        ("application/ld+json", ("application", "ld", "json", None)),
        ("application/json; charset=utf8", ("application", "json", None, "; charset=utf8")),
        (
            "application/protobuf; msg=trisa.v1beta1.SecureEnvelope counterparty=trisa.example.com",
            (
                "application",
                "protobuf",
                None,
                "; msg=trisa.v1beta1.SecureEnvelope counterparty=trisa.example.com",
            ),
        ),
        ("application/vnd.google.protobuf", ("application", "vnd.google.protobuf", None, None)),
        ("application/x-protobuf", ("application", "x-protobuf", None, None)),
        ("text/tsv+csv; charset=utf8", ("text", "tsv", "csv", "; charset=utf8")),
        ("user/format-853", ("user", "format-853", None, None)),
    ],
)
def test_components(mimetype: str, expected: tuple) -> None:
    keys = ("prefix", "mime", "ext", "pairs")
    assert mt._parse_str(mimetype) == dict(zip(keys, expected))


def test_parse_cache_is_bounded_and_skips_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mt, "_PARSED", dict(mt._PARSED))
    monkeypatch.setattr(mt, "_PARSED_MAX", len(mt._PARSED) + 1)
    assert mt.parse("application/vnd.one+json") == 50
    assert "application/vnd.one+json" in mt._PARSED
    assert mt.parse("application/vnd.two+json") == 50  # still parsed, no longer cached
    assert "application/vnd.two+json" not in mt._PARSED
    with pytest.raises(ValueError):
        mt.parse("image/png")
    assert "image/png" not in mt._PARSED


def test_prefixes() -> None:
    for name in mt.names_by_value.values():
        prefix, _ = name.split("/")
        assert prefix in ("application", "text", "user")
