"""pyensign-compatible import path for protobuf-generated modules.

The ``*_pb2`` classes live in a descriptor pool of their own (see
:mod:`pyensign_fast.api._pool`); :func:`descriptor_pool` returns it, e.g. for
``json_format`` over an ``Any`` that packs one of them.
"""

from typing import Any

__all__ = ["descriptor_pool"]


def descriptor_pool() -> Any:
    """The ``DescriptorPool`` of ``ensign.v1beta1``, ``mimetype.v1beta1`` and
    ``region.v1beta1`` (imports protobuf)."""
    from pyensign_fast.api._pool import descriptor_pool as pool

    return pool()
