"""Protobuf classes for ``api/v1beta1/query.proto``: EnSQL queries and parameters.

The import path of ``pyensign.api.v1beta1.query_pb2``. The classes are built at import time from
the Rust core's descriptor set (see :mod:`pyensign_fast.api._pool`), so importing
this module imports protobuf."""

from typing import TYPE_CHECKING, Any

from pyensign_fast.api._pool import export

export(globals(), "api/v1beta1/query.proto")

if TYPE_CHECKING:
    DESCRIPTOR: Any
    Query: Any
    Parameter: Any
    QueryExplanation: Any

__all__ = [
    "DESCRIPTOR",
    "Parameter",
    "Query",
    "QueryExplanation",
]
