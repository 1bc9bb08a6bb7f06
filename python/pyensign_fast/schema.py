"""``Type``: an event's schema name and semantic version (``pyensign.events.Type``).

Besides pyensign's API (``Type(name, version=None)``, ``parse_version``, ``semver()``,
``proto()``, ``convert()``, ``repr``/``str``), a ``Type`` carries ``_pb``: its encoded
``ensign.v1beta1.Type`` protobuf bytes, which the Rust core copies into each published
event (docs/architecture.md, Event ↔ core contract). ``_pb`` is ``None`` when stale;
assigning ``name`` or a version resets it, and ``_encode()`` rebuilds it. The encoder is
a few lines of Python so that this path never needs the protobuf package.

``Event`` construction goes through :func:`_event_type_parts`, which caches the parsed
and encoded result per ``(schema_name, schema_version)`` pair. An event keeps that shared
tuple (``Event._tparts``) and makes its own ``Type`` object only when ``event.type`` is
first read (users may mutate it), so publishing never creates one.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Tuple

from pyensign_fast._core import gc_track as _gc_track

__all__ = ["Type"]

_UINT32_MAX = 0xFFFFFFFF
# (name, major, minor, patch, encoded protobuf bytes)
TypeParts = Tuple[str, int, int, int, bytes]


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_type(name: str, major: int, minor: int, patch: int) -> bytes:
    """Encode an ``ensign.v1beta1.Type`` message (1: name, 2-4: uint32 versions) the way
    protobuf does: fields in order, zero values omitted."""
    out = b""
    if name:
        raw = name.encode("utf-8")
        out = b"\x0a" + _varint(len(raw)) + raw
    for tag, value in ((0x10, major), (0x18, minor), (0x20, patch)):
        if value:
            if not 0 <= value <= _UINT32_MAX:
                raise ValueError(f"version number out of range for uint32: {value}")
            out += bytes((tag,)) + _varint(value)
    return out


class Type:
    """A schema type: ``name`` plus ``major_version``/``minor_version``/``patch_version``.

    ``version`` must be a semver 2.0.0 string, optionally prefixed with ``v``;
    pre-release and build metadata are accepted and dropped. Without a version the
    numbers are 0 (pyensign left them unset, which made ``semver()`` fail).
    """

    __slots__ = ("_major", "_minor", "_name", "_patch", "_pb")

    # semver.org's recommended pattern, with any number of leading "v"s (as pyensign).
    semver_pattern = re.compile(
        r"""^v*(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)
        (?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)
            (?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?
        (?:\+(?P<buildmetadata>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$""",
        re.VERBOSE,
    )

    def __init__(self, name: str, version: str | None = None) -> None:
        self._name = name
        self._major = self._minor = self._patch = 0
        self._pb: bytes | None = None
        if version:
            self.parse_version(version)

    @classmethod
    def from_values(cls, name: str, major: int = 0, minor: int = 0, patch: int = 0) -> Type:
        """Build from plain values (e.g. a ``(name, major, minor, patch)`` from the core)."""
        t = cls.__new__(cls)
        t._name, t._major, t._minor, t._patch, t._pb = name, major, minor, patch, None
        return t

    @classmethod
    def convert(cls, pb_val: Any) -> Type:
        """Build from a protobuf ``Type`` (or anything with the same attributes)."""
        return cls.from_values(
            pb_val.name, pb_val.major_version, pb_val.minor_version, pb_val.patch_version
        )

    def parse_version(self, version: str) -> None:
        """Set the version numbers from a semver string (``ValueError`` if unparseable)."""
        match = Type.semver_pattern.search(version)
        if match is None:
            raise ValueError(f"unparseable semantic version: {version}")
        self._major = int(match.group("major"))
        self._minor = int(match.group("minor"))
        self._patch = int(match.group("patch"))
        self._pb = None

    # Assigning any field makes the cached encoding stale, and tracks the instance with
    # the cyclic GC again (publishing untracks types that hold only str and int values).
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = value
        self._pb = None
        _gc_track(self)

    @property
    def major_version(self) -> int:
        return self._major

    @major_version.setter
    def major_version(self, value: int) -> None:
        self._major = value
        self._pb = None
        _gc_track(self)

    @property
    def minor_version(self) -> int:
        return self._minor

    @minor_version.setter
    def minor_version(self, value: int) -> None:
        self._minor = value
        self._pb = None
        _gc_track(self)

    @property
    def patch_version(self) -> int:
        return self._patch

    @patch_version.setter
    def patch_version(self, value: int) -> None:
        self._patch = value
        self._pb = None
        _gc_track(self)

    def semver(self) -> str:
        return f"{self._major}.{self._minor}.{self._patch}"

    def _encode(self) -> bytes:
        """Refresh and return ``_pb``, the encoded protobuf ``Type``."""
        pb = encode_type(self._name, self._major, self._minor, self._patch)
        self._pb = pb
        return pb

    def proto(self) -> Any:
        """The protobuf ``event_pb2.Type`` (imports protobuf)."""
        from pyensign_fast.api.v1beta1 import event_pb2

        return event_pb2.Type(
            name=self._name,
            major_version=self._major,
            minor_version=self._minor,
            patch_version=self._patch,
        )

    def __repr__(self) -> str:
        return f"Type(name={self._name}, version={self.semver()})"

    def __str__(self) -> str:
        return f"{self._name} v{self.semver()}"


# schema_name -> schema_version -> parsed and encoded parts, as given to Event.
# NOTE: two plain lookups (~50 ns) instead of one keyed by a (name, version) tuple
# (~130 ns: the tuple is built and hashed on every Event).
_TYPE_CACHE: Dict[Any, Dict[Any, TypeParts]] = {}
# NOTE: bounded so that per-event dynamic schema names cannot grow it without limit;
# past the bound, events are still built correctly (about 1.5 µs slower each).
_TYPE_CACHE_MAX = 4096
_type_cache_size = 0


def _check_schema_name(schema_name: str) -> str:
    name = schema_name.strip()
    if name == "":
        raise ValueError("schema name cannot be empty")
    return name


def _event_type_parts(schema_name: str, schema_version: str | None) -> TypeParts:
    """Parse, validate and encode an Event's schema (the name was checked already)."""
    name = _check_schema_name(schema_name)
    t = Type(name, schema_version)
    parts = (name, t._major, t._minor, t._patch, t._encode())
    global _type_cache_size
    if _type_cache_size < _TYPE_CACHE_MAX:
        try:
            versions = _TYPE_CACHE.setdefault(schema_name, {})
            if schema_version not in versions:
                versions[schema_version] = parts
                _type_cache_size += 1
        except TypeError:  # an unhashable version object: just don't cache it
            pass
    return parts
