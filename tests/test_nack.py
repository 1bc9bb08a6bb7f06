"""pyensign_fast.nack: the Nack.Code values under pyensign's names."""

from __future__ import annotations

import pytest

from pyensign_fast import nack


@pytest.mark.parametrize(
    "name, value",
    [
        ("Unknown", 0),
        ("MaxEventSizeExceeded", 1),
        ("TopicUnknown", 2),
        ("TopicArchived", 3),
        ("TopicDeleted", 4),
        ("PermissionDenied", 5),
        ("ConsensusFailure", 6),
        ("ShardingFailure", 7),
        ("Redirect", 8),
        ("Internal", 9),
        ("Unprocessed", 100),
        ("Timeout", 101),
        ("UnhandledMimetype", 102),
        ("UnknownType", 103),
        ("DeliverAgainAny", 104),
        ("DeliverAgainNotMe", 105),
    ],
)
def test_codes(name: str, value: int) -> None:
    assert getattr(nack, name) == value
    assert value in nack.names_by_value


def test_codes_match_the_protobuf_enum() -> None:
    from pyensign_fast.api.v1beta1.ensign_pb2 import Nack

    assert {v.number: v.name for v in Nack.Code.DESCRIPTOR.values} == nack.names_by_value
