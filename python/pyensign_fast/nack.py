"""Nack codes, compatible with ``pyensign.nack``.

The values of ``ensign.v1beta1.Nack.Code`` as plain ints, so that ``event.nack(code)``
and checks on ``nack.code`` in ``on_nack`` callbacks need no protobuf import. They equal
``pyensign_fast.api.v1beta1.ensign_pb2.Nack.Code.<NAME>``.
"""

from __future__ import annotations

from typing import Dict

Unknown = 0

# Client-side codes: what a subscriber sends back when it cannot handle an event. Our
# client also reports its own failures to publishers with these (Timeout when the
# reconnect timeout passed, Unprocessed when the client closed before an outcome).
Unprocessed = 100
Timeout = 101
UnhandledMimetype = 102
UnknownType = 103
DeliverAgainAny = 104
DeliverAgainNotMe = 105

# Server-side codes: why the Ensign server refused a published event.
MaxEventSizeExceeded = 1
TopicUnknown = 2
TopicArchived = 3
TopicDeleted = 4
PermissionDenied = 5
ConsensusFailure = 6
ShardingFailure = 7
Redirect = 8
Internal = 9

# Code value -> protobuf enum name, for messages and logs.
names_by_value: Dict[int, str] = {
    Unknown: "UNKNOWN",
    MaxEventSizeExceeded: "MAX_EVENT_SIZE_EXCEEDED",
    TopicUnknown: "TOPIC_UNKNOWN",
    TopicArchived: "TOPIC_ARCHIVED",
    TopicDeleted: "TOPIC_DELETED",
    PermissionDenied: "PERMISSION_DENIED",
    ConsensusFailure: "CONSENSUS_FAILURE",
    ShardingFailure: "SHARDING_FAILURE",
    Redirect: "REDIRECT",
    Internal: "INTERNAL",
    Unprocessed: "UNPROCESSED",
    Timeout: "TIMEOUT",
    UnhandledMimetype: "UNHANDLED_MIMETYPE",
    UnknownType: "UNKNOWN_TYPE",
    DeliverAgainAny: "DELIVER_AGAIN_ANY",
    DeliverAgainNotMe: "DELIVER_AGAIN_NOT_ME",
}
