"""``pyensign_fast.api.v1beta1.ensign_pb2_grpc``: pyensign's grpcio stubs. A grpcio server
built from ``EnsignServicer`` answers a grpcio client built from ``EnsignStub`` (unary,
server-streaming and bidirectional RPCs, and UNIMPLEMENTED for the rest); the stub also
talks to ``LocalEnsign``; without grpcio the import names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent import futures
from typing import Any, Iterator

import grpc  # the [grpc] extra is part of the test extras
import pytest

from pyensign_fast.api.v1beta1 import ensign_pb2, ensign_pb2_grpc, event_pb2, query_pb2, topic_pb2
from pyensign_fast.server import LocalEnsign


class MockServicer(ensign_pb2_grpc.EnsignServicer):
    """What pyensign's tests did: answer a few RPCs with canned replies."""

    def Status(self, request: Any, context: Any) -> Any:
        return ensign_pb2.ServiceState(status=ensign_pb2.ServiceState.Status.HEALTHY, version="t")

    def Publish(self, request_iterator: Iterator[Any], context: Any) -> Iterator[Any]:
        yield ensign_pb2.PublisherReply(ready=ensign_pb2.StreamReady(server_id="mock"))
        for request in request_iterator:
            if request.HasField("event"):
                yield ensign_pb2.PublisherReply(ack=ensign_pb2.Ack(id=request.event.local_id))

    def EnSQL(self, request: Any, context: Any) -> Iterator[Any]:
        for i in range(3):
            yield event_pb2.EventWrapper(id=bytes([i]) * 10)


@pytest.fixture
def mock_channel() -> Iterator[Any]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ensign_pb2_grpc.add_EnsignServicer_to_server(MockServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel
    finally:
        channel.close()
        server.stop(grace=None)


def test_the_method_table_is_the_service_descriptor() -> None:
    service = ensign_pb2.DESCRIPTOR.services_by_name["Ensign"]
    assert [m.name for m in ensign_pb2_grpc.METHODS] == [m.name for m in service.methods]
    kinds = {m.name: m.kind for m in ensign_pb2_grpc.METHODS}
    assert kinds["Publish"] == kinds["Subscribe"] == "stream_stream"
    assert kinds["EnSQL"] == "unary_stream" and kinds["Status"] == "unary_unary"
    status = next(m for m in ensign_pb2_grpc.METHODS if m.name == "Status")
    assert status.path == "/ensign.v1beta1.Ensign/Status"
    assert status.request is ensign_pb2.HealthCheck and status.response is ensign_pb2.ServiceState
    for method in ensign_pb2_grpc.METHODS:
        assert callable(getattr(ensign_pb2_grpc.EnsignServicer, method.name))
        assert callable(getattr(ensign_pb2_grpc.Ensign, method.name))


def test_stub_against_a_servicer(mock_channel: Any) -> None:
    stub = ensign_pb2_grpc.EnsignStub(mock_channel)
    state = stub.Status(ensign_pb2.HealthCheck())
    assert state.status == ensign_pb2.ServiceState.Status.HEALTHY and state.version == "t"

    requests = [ensign_pb2.PublisherRequest(open_stream=ensign_pb2.OpenStream(client_id="c"))]
    requests += [
        ensign_pb2.PublisherRequest(event=event_pb2.EventWrapper(local_id=bytes([i]) * 16))
        for i in range(3)
    ]
    replies = list(stub.Publish(iter(requests)))
    assert replies[0].ready.server_id == "mock"
    assert [r.ack.id for r in replies[1:]] == [bytes([i]) * 16 for i in range(3)]

    rows = list(stub.EnSQL(query_pb2.Query(query="SELECT * FROM t")))
    assert [len(r.id) for r in rows] == [10, 10, 10]

    with pytest.raises(grpc.RpcError) as info:
        stub.ListTopics(ensign_pb2.PageInfo())
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_stub_against_local_ensign() -> None:
    with LocalEnsign() as server, grpc.insecure_channel(server.endpoint) as channel:
        stub = ensign_pb2_grpc.EnsignStub(channel)
        assert stub.Status(ensign_pb2.HealthCheck()).status == 1
        topic = stub.CreateTopic(topic_pb2.Topic(name="raw"))
        assert len(topic.id) == 16 and topic.name == "raw"
        assert stub.TopicExists(topic_pb2.TopicName(name="raw")).exists

        event = event_pb2.Event(data=b'{"n": 1}', mimetype=50)
        requests = [
            ensign_pb2.PublisherRequest(open_stream=ensign_pb2.OpenStream(client_id="raw")),
            ensign_pb2.PublisherRequest(
                event=event_pb2.EventWrapper(
                    topic_id=topic.id, local_id=b"L" * 16, event=event.SerializeToString()
                )
            ),
        ]
        replies = list(stub.Publish(iter(requests)))
        assert replies[0].ready.topics["raw"] == topic.id
        assert replies[1].ack.id == b"L" * 16 and replies[1].ack.committed.seconds > 0
        assert replies[-1].HasField("close_stream") and replies[-1].close_stream.events == 1

        rows = list(stub.EnSQL(query_pb2.Query(query="SELECT * FROM raw")))
        assert len(rows) == 1 and len(rows[0].id) == 10
        assert event_pb2.Event.FromString(rows[0].event).data == b'{"n": 1}'


async def test_aio_stub_against_local_ensign() -> None:
    with LocalEnsign() as server:
        async with grpc.aio.insecure_channel(server.endpoint) as channel:
            stub = ensign_pb2_grpc.EnsignStub(channel)
            state = await stub.Status(ensign_pb2.HealthCheck())
            assert state.status == ensign_pb2.ServiceState.Status.HEALTHY


def test_without_grpcio_the_import_names_the_extra() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["grpc"] = None  # as if grpcio were not installed
        from pyensign_fast.api.v1beta1 import ensign_pb2  # works without grpcio
        try:
            from pyensign_fast.api.v1beta1 import ensign_pb2_grpc
        except ImportError as e:
            print(e)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'pyensign-fast[grpc]'" in out.stdout
