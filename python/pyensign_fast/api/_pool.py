"""Builds the protobuf message classes behind pyensign's ``*_pb2`` import paths.

No protoc and no generated code: the Rust core exports the ``FileDescriptorSet`` that
protox compiled from ``protos/`` (``_core.FILE_DESCRIPTOR_SET``), and this module loads
it into a descriptor pool and makes classes with ``message_factory``. Only the ``*_pb2``
modules import this (and so protobuf); ``import pyensign_fast`` never does.

Names: every file, package and message keeps its original name, so
``event_pb2.Event.DESCRIPTOR.full_name`` is ``"ensign.v1beta1.Event"`` (as in pyensign),
``Any.Pack`` writes ``type.googleapis.com/ensign.v1beta1.Event`` and gRPC paths are
``/ensign.v1beta1.Ensign/...``.

NOTE: the files go into a **private** ``DescriptorPool`` (:func:`descriptor_pool`), not
protobuf's default pool. pyensign (every version, each with slightly different
descriptors) and any other generated code for these protos register the same file and
symbol names in the default pool, and protobuf refuses a second, different definition of
a name: whichever module came second would fail to import. A private pool never
conflicts, in either import order. Its one cost: the pool holds its own copies of
``google.protobuf.Timestamp`` and ``Duration``. So that code written for the default
classes keeps working, those two classes (and only those) accept instances of the
default classes wherever they accept their own: in constructors
(``Event(created=timestamp_pb2.Timestamp(...))``), ``CopyFrom``, ``MergeFrom``, ``==``
and ``!=``. ``isinstance(event.created, timestamp_pb2.Timestamp)`` is still ``False``.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, MutableMapping

_lock = threading.Lock()
_files: Dict[str, Any] = {}
_pool: Any = None
# NOTE: protobuf keeps message classes only weakly (per descriptor): without these strong
# references the patched well-known-type classes could be collected and silently
# replaced by unpatched ones.
_patched: List[Any] = []


def _protobuf() -> Any:
    try:
        # (protobuf ships no type hints; types-protobuf is optional)
        from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
            descriptor_pb2,
        )
        from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
            descriptor_pool as pools,
        )
    except ImportError as e:
        raise ImportError(
            "the pyensign_fast protobuf modules (and Event.proto()) need the protobuf "
            "package: pip install 'protobuf>=4.21'"
        ) from e
    return descriptor_pb2, pools


def _load() -> Dict[str, Any]:
    global _pool
    descriptor_pb2, pools = _protobuf()
    from pyensign_fast._core import FILE_DESCRIPTOR_SET

    pool = pools.DescriptorPool()
    fds = descriptor_pb2.FileDescriptorSet.FromString(FILE_DESCRIPTOR_SET)
    files: Dict[str, Any] = {}
    # The set is in dependency order (protox emits imports first), and it includes the
    # well-known-type files our protos import.
    for proto in fds.file:
        pool.AddSerializedFile(proto.SerializeToString())
        files[proto.name] = pool.FindFileByName(proto.name)
    for proto in fds.file:
        if proto.package == "google.protobuf":
            for descriptor in files[proto.name].message_types_by_name.values():
                cls = _message_class(descriptor)
                _accept_default_classes(cls)
                _patched.append(cls)
    for proto in fds.file:
        if proto.package != "google.protobuf":
            _convert_constructors(files[proto.name].message_types_by_name.values())
    _pool = pool
    return files


# -- interop of the pool's well-known types with protobuf's default classes --------------


def _from_foreign(cls: Any, value: Any) -> Any:
    """``value`` as an instance of ``cls`` if it is the same type from another pool."""
    if type(value) is not cls and _foreign_type(cls, value):
        return cls.FromString(value.SerializeToString())
    return value


def _foreign_type(cls: Any, value: Any) -> bool:
    from google.protobuf.message import Message  # type: ignore[import-untyped, unused-ignore]

    return isinstance(value, Message) and (value.DESCRIPTOR.full_name == cls.DESCRIPTOR.full_name)


def _accept_default_classes(cls: Any) -> None:
    """Let the well-known-type class ``cls`` take values of the same type from another
    pool in ``CopyFrom``, ``MergeFrom``, ``==`` and ``!=``: the wire format is the same,
    so a value crosses as its serialized bytes."""
    base_copy = cls.CopyFrom
    base_merge = cls.MergeFrom
    base_eq = cls.__eq__

    def CopyFrom(self: Any, other: Any) -> None:
        base_copy(self, _from_foreign(cls, other))

    def MergeFrom(self: Any, other: Any) -> None:
        base_merge(self, _from_foreign(cls, other))

    def __eq__(self: Any, other: Any) -> Any:
        return base_eq(self, _from_foreign(cls, other))

    def __ne__(self: Any, other: Any) -> Any:
        equal = __eq__(self, other)
        return equal if equal is NotImplemented else not equal

    cls.CopyFrom = CopyFrom
    cls.MergeFrom = MergeFrom
    cls.__eq__ = __eq__
    cls.__ne__ = __ne__


def _is_repeated(field: Any) -> bool:
    # protobuf 7 dropped FieldDescriptor.label; 3 is LABEL_REPEATED.
    repeated = getattr(field, "is_repeated", None)
    return bool(repeated) if repeated is not None else field.label == 3


def _convert_constructors(descriptors: Any) -> None:
    """Wrap the constructor of every message with a singular well-known-type field, so
    that ``Event(created=timestamp_pb2.Timestamp(...))`` converts the default class."""
    for descriptor in descriptors:
        _convert_constructors(descriptor.nested_types)
        fields = {
            f.name: _message_class(f.message_type)
            for f in descriptor.fields
            if f.message_type is not None
            and f.message_type.file.package == "google.protobuf"
            and not _is_repeated(f)
        }
        if not fields:
            continue
        cls = _message_class(descriptor)
        base_init = cls.__init__

        def __init__(
            self: Any, *args: Any, _fields: Dict[str, Any] = fields, _init: Any = base_init,
            **kwargs: Any,
        ) -> None:  # fmt: skip
            for name, field_cls in _fields.items():
                value = kwargs.get(name)
                if value is not None:
                    kwargs[name] = _from_foreign(field_cls, value)
            _init(self, *args, **kwargs)

        cls.__init__ = __init__
        _patched.append(cls)


# -- what the *_pb2 modules use ------------------------------------------------------------


def _loaded() -> Dict[str, Any]:
    with _lock:
        if not _files:
            _files.update(_load())
    return _files


def descriptor_pool() -> Any:
    """The ``DescriptorPool`` holding the ``ensign.v1beta1``, ``mimetype.v1beta1`` and
    ``region.v1beta1`` descriptors (e.g. for ``json_format.Parse(...,
    descriptor_pool=...)`` of an ``Any`` that packs one of our messages)."""
    _loaded()
    return _pool


def file_descriptor(name: str) -> Any:
    """The ``FileDescriptor`` of one of our files, by its ``protos/`` path."""
    return _loaded()[name]


def _message_class(descriptor: Any) -> Any:
    from google.protobuf import message_factory  # type: ignore[import-untyped, unused-ignore]

    get_class = getattr(message_factory, "GetMessageClass", None)
    if get_class is not None:
        return get_class(descriptor)
    # protobuf < 4.22
    return message_factory.MessageFactory(descriptor.file.pool).GetPrototype(descriptor)


def message_class(full_name: str) -> Any:
    """The class of a message of our pool by full name, e.g. ``"ensign.v1beta1.Event"``."""
    return _message_class(descriptor_pool().FindMessageTypeByName(full_name))


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
