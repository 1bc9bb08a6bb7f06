"""Builds the protobuf message classes behind pyensign's ``*_pb2`` import paths.

No protoc and no generated code: the Rust core exports the ``FileDescriptorSet`` that
protox compiled from ``protos/`` (``_core.FILE_DESCRIPTOR_SET``), and this module adds
it to protobuf's default descriptor pool and makes classes with ``message_factory``.
Only the ``*_pb2`` modules import this (and so protobuf); ``import pyensign_fast``
never does.

NOTE: the files are registered under a ``pyensign_fast.`` package prefix (message
``ensign.v1beta1.Event`` becomes ``pyensign_fast.ensign.v1beta1.Event`` in the pool,
file ``api/v1beta1/event.proto`` becomes ``pyensign_fast/api/v1beta1/event.proto``).
The wire format does not contain package names, so encoding is unaffected; what it buys
is coexistence: pyensign registers its own, slightly different, descriptors for the
original names in the same default pool, and protobuf refuses a second definition of a
name. With the prefix, pyensign and pyensign_fast can be imported in either order in one
process, and our messages still use the default pool's ``google.protobuf.Timestamp`` and
``Duration`` classes, so ``Event(created=timestamp_pb2.Timestamp(...))`` works.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, MutableMapping

PREFIX = "pyensign_fast"

_lock = threading.Lock()
_files: Dict[str, Any] = {}


def _renamed(name: str) -> str:
    return name if name.startswith("google/") else f"{PREFIX}/{name}"


def _retype(type_name: str) -> str:
    # Fully-qualified references look like ".ensign.v1beta1.Type".
    if not type_name or type_name.startswith(".google."):
        return type_name
    return f".{PREFIX}{type_name}"


def _rename_messages(messages: Any) -> None:
    for message in messages:
        for field in message.field:
            # NOTE: assigning even "" would mark the proto2 field as present.
            if field.HasField("type_name"):
                field.type_name = _retype(field.type_name)
        _rename_messages(message.nested_type)


def _load() -> Dict[str, Any]:
    try:
        # (protobuf ships no type hints; types-protobuf is optional)
        from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
            descriptor_pb2,
            descriptor_pool,
        )
        from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
            duration_pb2 as _duration,  # noqa: F401 (registers the WKT)
        )
        from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
            timestamp_pb2 as _timestamp,  # noqa: F401
        )
    except ImportError as e:
        raise ImportError(
            "the pyensign_fast protobuf modules (and Event.proto()) need the protobuf "
            "package: pip install 'protobuf>=4.21'"
        ) from e

    from pyensign_fast._core import FILE_DESCRIPTOR_SET

    pool = descriptor_pool.Default()
    fds = descriptor_pb2.FileDescriptorSet.FromString(FILE_DESCRIPTOR_SET)
    files: Dict[str, Any] = {}
    # The set is in dependency order (protox emits imports first).
    for proto in fds.file:
        original = proto.name
        if original.startswith("google/"):
            files[original] = pool.FindFileByName(original)
            continue
        proto.name = _renamed(original)
        proto.package = f"{PREFIX}.{proto.package}"
        proto.dependency[:] = [_renamed(d) for d in proto.dependency]
        _rename_messages(proto.message_type)
        for service in proto.service:
            for method in service.method:
                method.input_type = _retype(method.input_type)
                method.output_type = _retype(method.output_type)
        try:
            files[original] = pool.FindFileByName(proto.name)
        except KeyError:
            pool.AddSerializedFile(proto.SerializeToString())
            files[original] = pool.FindFileByName(proto.name)
    return files


def file_descriptor(name: str) -> Any:
    """The ``FileDescriptor`` of one of our files, by its ``protos/`` path."""
    with _lock:
        if not _files:
            _files.update(_load())
    return _files[name]


def _message_class(descriptor: Any) -> Any:
    from google.protobuf import message_factory  # type: ignore[import-untyped, unused-ignore]

    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is not None:
        return get_class(descriptor)
    # protobuf < 4.22
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


def export(namespace: MutableMapping[str, Any], name: str) -> None:
    """Fill a ``*_pb2`` module namespace as generated code would: ``DESCRIPTOR``, one
    class per message, one ``EnumTypeWrapper`` per top-level enum and its values."""
    from google.protobuf.internal.enum_type_wrapper import (  # type: ignore[import-untyped, unused-ignore]
        EnumTypeWrapper,
    )

    fd = file_descriptor(name)
    namespace["DESCRIPTOR"] = fd
    for message_name, descriptor in fd.message_types_by_name.items():
        namespace[message_name] = _message_class(descriptor)
    for enum_name, descriptor in fd.enum_types_by_name.items():
        namespace[enum_name] = EnumTypeWrapper(descriptor)
        for value in descriptor.values:
            namespace[value.name] = value.number
