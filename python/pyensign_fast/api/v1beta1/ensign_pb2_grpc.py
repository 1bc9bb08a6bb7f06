"""grpcio client and server classes for the ``ensign.v1beta1.Ensign`` service, at the
import path of pyensign's ``api.v1beta1.ensign_pb2_grpc``: ``EnsignStub``,
``EnsignServicer``, ``add_EnsignServicer_to_server`` and the experimental ``Ensign``.

They are what ``grpc_tools.protoc --grpc_python_out`` generates, built instead from the
service descriptor of :mod:`~pyensign_fast.api.v1beta1.ensign_pb2` (one table,
``METHODS``, so they always match ``protos/``). Use them for mocks and raw calls::

    channel = grpc.insecure_channel("127.0.0.1:5356")
    state = EnsignStub(channel).Status(ensign_pb2.HealthCheck())

They need grpcio, an optional dependency: ``pip install 'pyensign-fast[grpc]'``. The
pyensign-fast client itself never uses them (its transport is the Rust core).
"""

from __future__ import annotations

from typing import Any, Dict, NamedTuple, Tuple

from pyensign_fast.api._pool import message_class
from pyensign_fast.api.v1beta1 import ensign_pb2


def _import_grpc() -> Any:
    try:
        import grpc  # type: ignore[import-untyped, unused-ignore]
    except ImportError as e:  # exercised in a subprocess test
        raise ImportError(
            "pyensign_fast.api.v1beta1.ensign_pb2_grpc needs grpcio: "
            "pip install 'pyensign-fast[grpc]'"
        ) from e
    return grpc


grpc = _import_grpc()

__all__ = ["METHODS", "Ensign", "EnsignServicer", "EnsignStub", "add_EnsignServicer_to_server"]

SERVICE = ensign_pb2.DESCRIPTOR.services_by_name["Ensign"]
SERVICE_NAME: str = SERVICE.full_name  # "ensign.v1beta1.Ensign"


class Method(NamedTuple):
    """One RPC: its name, the gRPC kind (``"unary_unary"``, ``"unary_stream"``,
    ``"stream_unary"``, ``"stream_stream"``) and its request and response classes."""

    name: str
    kind: str
    request: Any
    response: Any

    @property
    def path(self) -> str:
        return f"/{SERVICE_NAME}/{self.name}"


def _streaming(method: Any) -> Tuple[bool, bool]:
    if hasattr(method, "client_streaming"):
        return bool(method.client_streaming), bool(method.server_streaming)
    # protobuf < 4.22 does not expose them on the descriptor.
    from google.protobuf import descriptor_pb2  # type: ignore[import-untyped, unused-ignore]

    proto = descriptor_pb2.MethodDescriptorProto()
    method.CopyToProto(proto)
    return proto.client_streaming, proto.server_streaming


def _methods() -> Tuple[Method, ...]:
    out = []
    for m in SERVICE.methods:
        client_streaming, server_streaming = _streaming(m)
        kind = ("stream" if client_streaming else "unary") + "_"
        kind += "stream" if server_streaming else "unary"
        out.append(
            Method(
                m.name,
                kind,
                message_class(m.input_type.full_name),
                message_class(m.output_type.full_name),
            )
        )
    return tuple(out)


METHODS: Tuple[Method, ...] = _methods()


class EnsignStub:
    """Client of the Ensign service over a ``grpc.Channel`` (or ``grpc.aio.Channel``):
    one callable attribute per RPC, e.g. ``stub.Status(HealthCheck())`` or
    ``stub.Publish(iter(requests))``."""

    def __init__(self, channel: Any) -> None:
        for method in METHODS:
            make = getattr(channel, method.kind)
            options = {
                "request_serializer": method.request.SerializeToString,
                "response_deserializer": method.response.FromString,
            }
            try:
                # grpcio >= 1.63 (what its generator emits): a faster call path.
                call = make(method.path, _registered_method=True, **options)
            except TypeError:
                call = make(method.path, **options)
            setattr(self, method.name, call)


def _unimplemented(context: Any) -> Any:
    context.set_code(grpc.StatusCode.UNIMPLEMENTED)
    context.set_details("Method not implemented!")
    raise NotImplementedError("Method not implemented!")


class EnsignServicer:
    """Base class of an Ensign service implementation: override the RPCs you serve;
    the others answer ``UNIMPLEMENTED``. Streaming-request RPCs receive an iterator of
    requests; streaming-response RPCs return (or yield) an iterator of replies."""

    def Publish(self, request_iterator: Any, context: Any) -> Any:
        """Bidirectional: ``PublisherRequest`` in, ``PublisherReply`` out."""
        return _unimplemented(context)

    def Subscribe(self, request_iterator: Any, context: Any) -> Any:
        """Bidirectional: ``SubscribeRequest`` in, ``SubscribeReply`` out."""
        return _unimplemented(context)

    def EnSQL(self, request: Any, context: Any) -> Any:
        """``Query`` in, a stream of ``EventWrapper`` out."""
        return _unimplemented(context)

    def Explain(self, request: Any, context: Any) -> Any:
        """``Query`` → ``QueryExplanation``."""
        return _unimplemented(context)

    def ListTopics(self, request: Any, context: Any) -> Any:
        """``PageInfo`` → ``TopicsPage``."""
        return _unimplemented(context)

    def CreateTopic(self, request: Any, context: Any) -> Any:
        """``Topic`` → ``Topic``."""
        return _unimplemented(context)

    def RetrieveTopic(self, request: Any, context: Any) -> Any:
        """``Topic`` → ``Topic``."""
        return _unimplemented(context)

    def DeleteTopic(self, request: Any, context: Any) -> Any:
        """``TopicMod`` → ``TopicStatus``."""
        return _unimplemented(context)

    def TopicNames(self, request: Any, context: Any) -> Any:
        """``PageInfo`` → ``TopicNamesPage``."""
        return _unimplemented(context)

    def TopicExists(self, request: Any, context: Any) -> Any:
        """``TopicName`` → ``TopicExistsInfo``."""
        return _unimplemented(context)

    def SetTopicPolicy(self, request: Any, context: Any) -> Any:
        """``TopicPolicy`` → ``TopicStatus``."""
        return _unimplemented(context)

    def Info(self, request: Any, context: Any) -> Any:
        """``InfoRequest`` → ``ProjectInfo``."""
        return _unimplemented(context)

    def Status(self, request: Any, context: Any) -> Any:
        """``HealthCheck`` → ``ServiceState`` (needs no token on a real server)."""
        return _unimplemented(context)


def add_EnsignServicer_to_server(servicer: Any, server: Any) -> None:
    """Register ``servicer``'s RPCs on a ``grpc.Server`` (or ``grpc.aio.Server``)."""
    handlers: Dict[str, Any] = {}
    for method in METHODS:
        make = getattr(grpc, f"{method.kind}_rpc_method_handler")
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=method.request.FromString,
            response_serializer=method.response.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    register = getattr(server, "add_registered_method_handlers", None)
    if register is not None:  # grpcio >= 1.62: faster dispatch of known methods
        register(SERVICE_NAME, handlers)


def _experimental_call(method: Method) -> Any:
    def call(
        request: Any,
        target: str,
        options: Any = (),
        channel_credentials: Any = None,
        call_credentials: Any = None,
        insecure: bool = False,
        compression: Any = None,
        wait_for_ready: Any = None,
        timeout: Any = None,
        metadata: Any = None,
    ) -> Any:
        import grpc.experimental  # type: ignore[import-untyped, unused-ignore]

        return getattr(grpc.experimental, method.kind)(
            request,
            target,
            method.path,
            method.request.SerializeToString,
            method.response.FromString,
            options,
            channel_credentials,
            insecure,
            call_credentials,
            compression,
            wait_for_ready,
            timeout,
            metadata,
        )

    call.__name__ = call.__qualname__ = method.name
    call.__doc__ = f"One-shot ``{method.path}`` call on ``target`` (grpc.experimental)."
    return staticmethod(call)


def _one_shot(name: str) -> Any:
    return _experimental_call(next(m for m in METHODS if m.name == name))


class Ensign:
    """The experimental one-shot API that grpcio generates: ``Ensign.Status(request,
    target, insecure=True)`` opens a channel per call (``grpc.experimental``)."""

    Publish = _one_shot("Publish")
    Subscribe = _one_shot("Subscribe")
    EnSQL = _one_shot("EnSQL")
    Explain = _one_shot("Explain")
    ListTopics = _one_shot("ListTopics")
    CreateTopic = _one_shot("CreateTopic")
    RetrieveTopic = _one_shot("RetrieveTopic")
    DeleteTopic = _one_shot("DeleteTopic")
    TopicNames = _one_shot("TopicNames")
    TopicExists = _one_shot("TopicExists")
    SetTopicPolicy = _one_shot("SetTopicPolicy")
    Info = _one_shot("Info")
    Status = _one_shot("Status")
