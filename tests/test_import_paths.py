"""Every module users import from pyensign exists under ``pyensign_fast`` with pyensign's
public names (recorded from pyensign 0.12.1), plus the protobuf names the docs use and the
pandas-less ``ml.dataframe`` error."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

PYENSIGN_NAMES = {
    "ensign": ["Ensign", "authenticate", "publisher", "subscriber"],
    "events": ["Event", "EventState", "Type", "ack_event", "from_object"],
    "exceptions": [
        "AuthenticationError", "CacheMissError", "CouldNotAck", "CouldNotNack",
        "CursorClosedError", "CursorError", "CursorNoRows", "EnSQLError",
        "EnsignAttributeError", "EnsignClientClosingError", "EnsignError", "EnsignInitError",
        "EnsignInvalidArgument", "EnsignInvalidTopicError", "EnsignRPCError",
        "EnsignTimeoutError", "EnsignTopicCreateError", "EnsignTopicDestroyError",
        "EnsignTopicNotFoundError", "EnsignTypeError", "InvalidQueryError", "NackError",
        "PyEnsignError", "QueryNoRows", "TopicNotFoundError", "UnknownTopicError",
        "catch_rpc_error",
    ],
    "mimetypes": [
        "ApplicationAtom", "ApplicationAvro", "ApplicationBSON", "ApplicationJSON",
        "ApplicationJSONLD", "ApplicationJSONUTF8", "ApplicationJavaArchive",
        "ApplicationMsgPack", "ApplicationOctetStream", "ApplicationPDF", "ApplicationParquet",
        "ApplicationProtobuf", "ApplicationPythonPickle", "ApplicationUBJSON", "ApplicationXML",
        "AppplicationJSONLines", "TextCSV", "TextCalendar", "TextHTML", "TextPlain", "Unknown",
        "Unspecified", "UserSpecified0", "UserSpecified9", "names_by_value", "parse", "to_str",
        "values_by_name",
    ],
    "nack": [
        "ConsensusFailure", "DeliverAgainAny", "DeliverAgainNotMe", "Internal",
        "MaxEventSizeExceeded", "PermissionDenied", "Redirect", "ShardingFailure", "Timeout",
        "TopicArchived", "TopicDeleted", "TopicUnknown", "UnhandledMimetype", "Unknown",
        "UnknownType", "Unprocessed",
    ],
    "ack": ["Ack"],
    "enum": ["DeduplicationStrategy", "OffsetPosition", "PBEnum", "ShardingStrategy", "TopicState"],
    "topics": ["Deduplication", "EventType", "Topic"],
    "projects": ["Project"],
    "status": ["ServerStatus"],
    "publisher": ["Publisher"],
    "subscriber": ["Subscriber"],
    "sync": [
        "async_gen_to_sync", "async_to_sync", "coro_to_sync", "fn_to_async", "gen_to_async",
        "sync_to_async",
    ],
    "connection": ["Client", "Connection"],
    "api.v1beta1.ensign_pb2": ["Nack", "Ack", "PublisherRequest", "SubscribeRequest"],
    "api.v1beta1.event_pb2": ["Event", "EventWrapper", "Type"],
    "api.v1beta1.topic_pb2": ["Topic", "TopicMod", "Deduplication", "READY", "NO_SHARDING"],
    "api.v1beta1.query_pb2": ["Query", "Parameter"],
    "api.v1beta1.groups_pb2": ["ConsumerGroup", "AT_LEAST_ONCE", "EXACTLY_ONCE"],
    "api.v1beta1.event": ["unwrap", "wrap"],
    "api.v1beta1.query": ["format_query"],
    "mimetype.v1beta1.mimetype_pb2": ["MIME", "APPLICATION_JSON", "USER_SPECIFIED9"],
    "region.v1beta1.region_pb2": ["Region", "LKE_US_EAST_1A"],
    "utils.rlid": ["ENCODED_SIZE", "ENCODING", "RLID", "RLID_SIZE"],
    "utils.ulid": ["parse"],
    "utils.topics": ["TopicCache"],
    "utils.cache": ["Cache"],
    "utils.pbtime": ["to_datetime"],
    "version": ["get_version", "user_agent"],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PYENSIGN_NAMES))
def test_module_has_pyensigns_names(module):
    mod = importlib.import_module(f"pyensign_fast.{module}")
    missing = [name for name in PYENSIGN_NAMES[module] if not hasattr(mod, name)]
    assert not missing, f"pyensign_fast.{module} lacks {missing}"


def test_names_from_the_docs():
    from pyensign_fast import nack
    from pyensign_fast.api.v1beta1.ensign_pb2 import Nack
    from pyensign_fast.api.v1beta1.groups_pb2 import ConsumerGroup
    from pyensign_fast.ensign import Ensign
    from pyensign_fast.events import Event
    from pyensign_fast.mimetype.v1beta1.mimetype_pb2 import MIME

    assert Nack.Code.UNKNOWN_TYPE == nack.UnknownType == 103
    assert ConsumerGroup(name="g").name == "g"
    assert MIME.APPLICATION_JSON == 50
    assert Event(b"x", MIME.APPLICATION_JSON).mimetype == 50
    import pyensign_fast

    assert pyensign_fast.Ensign is Ensign and pyensign_fast.Event is Event


def test_decorators_and_classes_are_the_same_objects_everywhere():
    from pyensign_fast import decorators, ensign, publisher, subscriber

    assert ensign.authenticate is decorators.authenticate
    assert ensign.publisher is decorators.publisher
    assert ensign.subscriber is decorators.subscriber
    assert issubclass(publisher.Publisher, ensign.Ensign)
    assert issubclass(subscriber.Subscriber, ensign.Ensign)


def test_connection_cursor_is_the_query_cursor():
    from pyensign_fast.connection import Cursor as FromConnection
    from pyensign_fast.cursor import Cursor

    assert FromConnection is Cursor


def test_connection_checks_addresses():
    from pyensign_fast.connection import Client, Connection

    with pytest.raises(ValueError, match="Invalid address:port format"):
        Connection("localhost")
    conn = Connection("localhost:5356", insecure=True)
    client = Client(conn)
    assert len(client.client_id) == 26
    assert client.ensign().endpoint == "localhost:5356"


def test_package_is_typed():
    import pyensign_fast

    assert (Path(pyensign_fast.__file__).parent / "py.typed").exists()


def test_ml_dataframe_without_pandas_says_what_to_install():
    # In a child interpreter where pandas cannot be imported.
    code = (
        "import sys; sys.modules['pandas'] = None\n"
        "try:\n"
        "    import pyensign_fast.ml.dataframe\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install pyensign-fast[ml]" in out.stdout
    assert "PyEnsign DataFrames" in out.stdout
