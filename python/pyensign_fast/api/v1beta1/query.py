"""``format_query``: an EnSQL string and parameters → protobuf ``Query``
(``pyensign.api.v1beta1.query``). Importing this module imports protobuf."""

from __future__ import annotations

from typing import Any, Dict, List

from pyensign_fast.api.v1beta1 import query_pb2

__all__ = ["format_query", "parameter_fields"]


def parameter_fields(params: Dict[str, Any] | None) -> List[Dict[str, Any]]:
    """Validate query parameters and return them as ``{"name": ..., <field>: value}``
    dicts, where the field (``b``, ``i``, ``d``, ``y`` or ``s``) follows pyensign's
    mapping (``bool`` is checked before ``int``). ``TypeError`` for other types or a
    non-dict ``params``. Usable without protobuf (e.g. to hand to the Rust core)."""
    fields: List[Dict[str, Any]] = []
    if not params:
        return fields
    if not isinstance(params, dict):
        raise TypeError("params must be a dict")
    for name, value in params.items():
        if isinstance(value, bool):
            key = "b"
        elif isinstance(value, int):
            key = "i"
        elif isinstance(value, float):
            key = "d"
        elif isinstance(value, bytes):
            key = "y"
        elif isinstance(value, str):
            key = "s"
        else:
            raise TypeError(f"unsupported parameter type: {type(value).__name__}")
        fields.append({"name": name, key: value})
    return fields


def format_query(
    query: str, params: Dict[str, Any] | None = None, include_duplicates: bool = False
) -> Any:
    """A ``query_pb2.Query`` from a query string (stripped; ``ValueError`` if empty,
    ``TypeError`` if not a str) and optional parameters."""
    if not isinstance(query, str):
        raise TypeError("query must be a string")
    query = query.strip()
    if query == "":
        raise ValueError("query must not be empty")
    parameters = [query_pb2.Parameter(**f) for f in parameter_fields(params)]
    return query_pb2.Query(query=query, params=parameters, include_duplicates=include_duplicates)
