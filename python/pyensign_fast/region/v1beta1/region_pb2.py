"""Protobuf classes for ``region/v1beta1/region.proto``: the Region enum and RegionInfo.

The import path of ``pyensign.region.v1beta1.region_pb2``. The classes are built at import time from
the Rust core's descriptor set (see :mod:`pyensign_fast.api._pool`), so importing
this module imports protobuf."""

from typing import TYPE_CHECKING, Any

from pyensign_fast.api._pool import export

export(globals(), "region/v1beta1/region.proto")

if TYPE_CHECKING:
    DESCRIPTOR: Any
    RegionInfo: Any
    Region: Any

    def __getattr__(name: str) -> int: ...  # the 125 enum values


__all__ = [
    "DESCRIPTOR",
    "Region",
    "RegionInfo",
]
