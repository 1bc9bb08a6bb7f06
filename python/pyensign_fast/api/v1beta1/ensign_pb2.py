"""Protobuf classes for ``api/v1beta1/ensign.proto``: the Ensign
service messages (streams, acks, project info, status).

The import path of ``pyensign.api.v1beta1.ensign_pb2``. The classes are built at import time from
the Rust core's descriptor set (see :mod:`pyensign_fast.api._pool`), so importing
this module imports protobuf."""

from typing import TYPE_CHECKING, Any

from pyensign_fast.api._pool import export

export(globals(), "api/v1beta1/ensign.proto")

if TYPE_CHECKING:
    DESCRIPTOR: Any
    PublisherRequest: Any
    PublisherReply: Any
    SubscribeRequest: Any
    SubscribeReply: Any
    Ack: Any
    Nack: Any
    OpenStream: Any
    CloseStream: Any
    StreamReady: Any
    Subscription: Any
    InfoRequest: Any
    ProjectInfo: Any
    HealthCheck: Any
    ServiceState: Any
    PageInfo: Any

__all__ = [
    "DESCRIPTOR",
    "Ack",
    "CloseStream",
    "HealthCheck",
    "InfoRequest",
    "Nack",
    "OpenStream",
    "PageInfo",
    "ProjectInfo",
    "PublisherReply",
    "PublisherRequest",
    "ServiceState",
    "StreamReady",
    "SubscribeReply",
    "SubscribeRequest",
    "Subscription",
]
