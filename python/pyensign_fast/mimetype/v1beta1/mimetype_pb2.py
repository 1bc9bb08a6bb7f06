"""Protobuf classes for ``mimetype/v1beta1/mimetype.proto``: the MIME enum.

The import path of ``pyensign.mimetype.v1beta1.mimetype_pb2``. The classes are built at
import time from the Rust core's descriptor set (see :mod:`pyensign_fast.api._pool`), so importing
this module imports protobuf."""

from typing import TYPE_CHECKING, Any

from pyensign_fast.api._pool import export

export(globals(), "mimetype/v1beta1/mimetype.proto")

if TYPE_CHECKING:
    DESCRIPTOR: Any
    MIME: Any
    UNSPECIFIED: int
    UNKNOWN: int
    TEXT_PLAIN: int
    TEXT_CSV: int
    TEXT_HTML: int
    TEXT_CALENDAR: int
    APPLICATION_OCTET_STREAM: int
    APPLICATION_JSON: int
    APPLICATION_JSON_UTF8: int
    APPLICATION_JSON_LD: int
    APPLICATION_JSON_LINES: int
    APPLICATION_UBJSON: int
    APPLICATION_BSON: int
    APPLICATION_XML: int
    APPLICATION_ATOM: int
    APPLICATION_MSGPACK: int
    APPLICATION_PARQUET: int
    APPLICATION_AVRO: int
    APPLICATION_PROTOBUF: int
    APPLICATION_PDF: int
    APPLICATION_JAVA_ARCHIVE: int
    APPLICATION_PYTHON_PICKLE: int
    USER_SPECIFIED0: int
    USER_SPECIFIED1: int
    USER_SPECIFIED2: int
    USER_SPECIFIED3: int
    USER_SPECIFIED4: int
    USER_SPECIFIED5: int
    USER_SPECIFIED6: int
    USER_SPECIFIED7: int
    USER_SPECIFIED8: int
    USER_SPECIFIED9: int

__all__ = [
    "DESCRIPTOR",
    "MIME",
]
