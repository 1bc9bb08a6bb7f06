"""pyensign_fast.messages: Ack/Nack look like the protobuf messages pyensign passed."""

from __future__ import annotations

import pytest

from pyensign_fast import nack
from pyensign_fast.messages import Ack, Nack
from pyensign_fast.timestamps import Timestamp

IDS = [b"", b"ab", bytes(range(0, 256, 7)) + b"\"\\'aZ\n\t\r", bytes(16)]


@pytest.fixture(scope="module")
def ensign_pb2():  # type: ignore[no-untyped-def]
    from pyensign_fast.api.v1beta1 import ensign_pb2

    return ensign_pb2


@pytest.mark.parametrize("local_id", IDS)
@pytest.mark.parametrize("seconds, nanos", [(0, 0), (5, 7), (1700000000, 0)])
def test_ack_is_like_the_protobuf_ack(
    ensign_pb2, local_id: bytes, seconds: int, nanos: int
) -> None:  # type: ignore[no-untyped-def]
    ack = Ack._from_core(local_id, seconds, nanos)
    pb = ensign_pb2.Ack(id=local_id)
    pb.committed.seconds, pb.committed.nanos = seconds, nanos
    assert ack.id == local_id
    assert (ack.committed.seconds, ack.committed.nanos) == (seconds, nanos)
    assert ack.committed.ToDatetime() == pb.committed.ToDatetime()
    assert str(ack) == str(pb)
    assert ack == pb
    assert ack.to_proto() == pb


@pytest.mark.parametrize("local_id", IDS)
@pytest.mark.parametrize(
    "code, error",
    [(0, ""), (nack.UnknownType, 'oh "no" é\n'), (nack.TopicUnknown, "x"), (1000, "odd")],
)
def test_nack_is_like_the_protobuf_nack(ensign_pb2, local_id: bytes, code: int, error: str) -> None:  # type: ignore[no-untyped-def]
    ours = Nack(local_id, code, error)
    pb = ensign_pb2.Nack(id=local_id, code=code, error=error)
    assert str(ours) == str(pb)
    assert ours == pb
    assert ours.to_proto() == pb


def test_value_semantics() -> None:
    ack = Ack(b"x", Timestamp(1, 2))
    assert ack == Ack(b"x", Timestamp(1, 2))
    assert ack != Ack(b"y", Timestamp(1, 2))
    assert Ack(b"x") == Ack(b"x", Timestamp())
    assert repr(ack) == "Ack(id=b'x', committed=Timestamp(seconds=1, nanos=2))"
    n = Nack(b"x", 2, "unknown topic")
    assert (n.id, n.code, n.error) == (b"x", 2, "unknown topic")
    assert repr(n) == "Nack(id=b'x', code=2, error='unknown topic')"
    assert n != Nack(b"x", 3, "unknown topic")
    assert n != "x"
