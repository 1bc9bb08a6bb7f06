"""MIME type constants and parsing, compatible with ``pyensign.mimetypes``.

Ensign stores an event's MIME type as an integer (the ``mimetype.v1beta1.MIME`` enum).
This module exposes the enum values under pyensign's readable names (including its
real public typo ``AppplicationJSONLines``) and converts between IANA-style strings and
those integers with pyensign's exact best-effort rules:

* an exact, case- and whitespace-insensitive match of a known name wins;
* otherwise the *original* string is split into ``prefix/mime+ext; k=v ...`` and tried as
  ``prefix/mime``, ``prefix/mime+ext``, ``prefix/ext``, then the same three with the
  alternate prefix (``application`` for ``text``, ``text`` for anything else);
* anything else raises ``ValueError``.

``parse`` is on the ``Event`` constructor's hot path, so successful results are cached
(``_PARSED``, bounded); integers are looked up in the same dict.
"""

from __future__ import annotations

import re
from typing import Dict, Union

__all__ = [
    "names_by_value",
    "parse",
    "to_str",
    "values_by_name",
]

# Enum values of mimetype.v1beta1.MIME (protos/mimetype/v1beta1/mimetype.proto).
Unspecified = 0
Unknown = 0
TextPlain = 1
TextCSV = 2
TextHTML = 3
TextCalendar = 4
ApplicationOctetStream = 0
ApplicationJSON = 50
ApplicationJSONUTF8 = 50
ApplicationJSONLD = 51
AppplicationJSONLines = 52  # NOTE: the triple "p" is pyensign's public spelling; keep it.
ApplicationUBJSON = 53
ApplicationBSON = 54
ApplicationXML = 100
ApplicationAtom = 101
ApplicationMsgPack = 252
ApplicationParquet = 253
ApplicationAvro = 254
ApplicationProtobuf = 255
ApplicationPDF = 512
ApplicationJavaArchive = 513
ApplicationPythonPickle = 514
UserSpecified0 = 1000
UserSpecified1 = 1001
UserSpecified2 = 1002
UserSpecified3 = 1003
UserSpecified4 = 1004
UserSpecified5 = 1005
UserSpecified6 = 1006
UserSpecified7 = 1007
UserSpecified8 = 1008
UserSpecified9 = 1009

# Integer value -> IANA-style name (the names pyensign prints in ``str(event)``).
names_by_value: Dict[int, str] = {
    ApplicationOctetStream: "application/octet-stream",
    TextPlain: "text/plain",
    TextCSV: "text/csv",
    TextHTML: "text/html",
    TextCalendar: "text/calendar",
    ApplicationJSON: "application/json",
    ApplicationJSONLD: "application/ld+json",
    AppplicationJSONLines: "application/jsonlines",
    ApplicationUBJSON: "application/ubjson",
    ApplicationBSON: "application/bson",
    ApplicationXML: "application/xml",
    ApplicationAtom: "application/atom+xml",
    ApplicationMsgPack: "application/msgpack",
    ApplicationParquet: "application/parquet",
    ApplicationAvro: "application/avro",
    ApplicationProtobuf: "application/protobuf",
    ApplicationPDF: "application/pdf",
    ApplicationJavaArchive: "application/java-archive",
    ApplicationPythonPickle: "application/python-pickle",
}
names_by_value.update({1000 + i: f"user/format-{i}" for i in range(10)})

# Name -> integer value.
values_by_name: Dict[str, int] = {name: value for value, name in names_by_value.items()}

# The grammar pyensign accepts: ``prefix/mime[+ext][;( k=v)+]``. ``search`` with ``$``
# also accepts one trailing newline, exactly like pyensign; ``\w`` is Unicode-aware.
_COMPONENTS = re.compile(
    r"""^(?P<prefix>application|user|text)/
        (?P<mime>[\w\-.]+)
        (?:\+(?P<ext>[\w-]+))?
        (?P<pairs>;(?:\s+[\w.\-]+=[\w.\-]+)+)?$""",
    re.VERBOSE,
)

# Successful parses: str inputs and every known int. Failures are never cached.
_PARSED: Dict[Union[str, int], int] = {v: v for v in names_by_value}
_PARSED.update(values_by_name)
# NOTE: bounded so that user-generated strings (e.g. unique parameters) cannot grow it
# without limit; past the bound, parsing still works, only uncached (~2 µs).
_PARSED_MAX = 4096


def _components(mimetype: str) -> Dict[str, str | None]:
    """Split a MIME string into prefix, mime, ext and pairs (pyensign's ``_parse_str``)."""
    match = _COMPONENTS.search(mimetype)
    if match is None:
        raise ValueError(f"unparseable mimetype: {mimetype}")
    return match.groupdict()


# pyensign's tests call the private helper by this name.
_parse_str = _components


def _join(prefix: str, mime: str | None, ext: str | None = None) -> str:
    # str.format of None gives "None", which can never match a known name: that is how
    # pyensign treats a missing extension, so keep the same result.
    if ext:
        return f"{prefix}/{mime}+{ext}"
    return f"{prefix}/{mime}"


def _parse_uncached(mimetype: str) -> int:
    exact = values_by_name.get(mimetype.lower().strip())
    if exact is not None:
        return exact

    # NOTE: the components come from the original string, not the lowered one; that is
    # pyensign's behaviour ("APPLICATION/VND.X+XML" is unparseable there too).
    parts = _components(mimetype)
    prefix, mime, ext = parts["prefix"], parts["mime"], parts["ext"]
    assert prefix is not None
    alternate = "application" if prefix == "text" else "text"
    for p in (prefix, alternate):
        for candidate in (_join(p, mime), _join(p, mime, ext), _join(p, ext)):
            value = values_by_name.get(candidate)
            if value is not None:
                return value
    raise ValueError(f"unrecognized mimetype: {mimetype}")


def parse(mimetype: Union[str, int]) -> int:
    """Return the ``MIME`` enum value for a MIME string or integer.

    Strings are matched best-effort (see the module docstring); integers must be known
    enum values. Raises ``ValueError`` for anything unrecognized.
    """
    try:
        return _PARSED[mimetype]
    except KeyError:
        pass
    if not isinstance(mimetype, str):
        raise ValueError(f"unrecognized mimetype: {mimetype}")
    value = _parse_uncached(mimetype)
    if len(_PARSED) < _PARSED_MAX:
        _PARSED[mimetype] = value
    return value


def to_str(mimetype: int) -> str:
    """Return the IANA-style name of a ``MIME`` enum value (``ValueError`` if unknown)."""
    try:
        return names_by_value[mimetype]
    except KeyError:
        raise ValueError(f"unrecognized mimetype: {mimetype}") from None
