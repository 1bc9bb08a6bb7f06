"""Derive the reference tables used by the compatibility tests by running real pyensign.

Run with the interpreter of a venv where pyensign 0.12.1b0 is installed, e.g.
``/tmp/pyensign-venv/bin/python tests/data/gen_pyensign_tables.py``; it rewrites
``tests/data/pyensign_tables.json``. Every value in that file is what pyensign returned
or raised for the input, so the tests compare our behaviour with recorded facts.
"""

from __future__ import annotations

import json
import os
import pathlib
import time
from typing import Any, Callable

from pyensign import mimetypes as mt
from pyensign.events import Type

OUT = pathlib.Path(__file__).with_name("pyensign_tables.json")


def outcome(fn: Callable[[], Any]) -> list[Any]:
    try:
        return ["ok", fn()]
    except Exception as e:  # record the exception class and message
        return ["err", type(e).__name__, str(e)]


def mimetype_inputs() -> list[Any]:
    names = list(mt.names_by_value.values())
    inputs: list[Any] = []
    for n in names:
        prefix, mime = n.split("/")
        inputs += [
            n,
            n.upper(),
            n.title(),
            f"  {n}\t",
            f"{n}; charset=utf-8",
            f"{n};charset=utf-8",
            f"{n}; a=b; c=d",
            f"{n}; a=b c=d",
            f"{n}\n",
            f"{prefix}/vnd.acme.thing+{mime}",
            f"{prefix}/{mime}+zip",
            f"{prefix}/x-{mime}",
            f"{'text' if prefix == 'application' else 'application'}/{mime}",
            f"user/{mime}",
            f"image/{mime}",
        ]
    inputs += [
        "APPLICATION_JSON",
        "application/x-msgpack",
        "application/vnd.myapp.type",
        "application/vnd.myapp.type+xml",
        "APPLICATION/VND.MYAPP.TYPE+XML",
        "text/vnd.myapp.type+xml",
        "text/atom+xml",
        "application/csv",
        "text/json",
        "text/json+xml",
        "text/svg+png",
        "image/png",
        "application/json+",
        "application/",
        "/json",
        "",
        " ",
        "application/ld+json+xml",
        "user/format-10",
        "user/format-853",
        "application/protobuf; msg=trisa.v1beta1.SecureEnvelope counterparty=trisa.example.com",
        "application/protobuf; msg=trisa.v1beta1.SecureEnvelope; cp=trisa.example.com",
        "application/atom+xml; charset=latin1",
        "application/json; charset=utf-8 ",
        " application/vnd.x+json",
        "application/vnd.x+json ",
        "application/json;  charset=utf-8",
        "application/json; charset=",
        "application/jsonlines",
        "application/json-lines",
        "application/x-ndjson",
        "text/calendar+json",
        "text/plain; format=flowed",
        "application/vnd.apache.parquet",
        "application/python-pickle+json",
        "application/ubjson",
        "application/java-archive",
        "application/\u00e9+json",
        0,
        1,
        50,
        52,
        514,
        1009,
        1010,
        -1,
        99999,
        None,
    ]
    return inputs


def semver_inputs() -> list[str]:
    return [
        "1.2.3",
        "v1.2.3",
        "vv1.2.3",
        "V1.2.3",
        "1.2.3\n",
        "1.2.3 ",
        " 1.2.3",
        "01.2.3",
        "1.02.3",
        "1.2.03",
        "0.0.0",
        "1",
        "1.2",
        "abc",
        "1.2.3.4",
        "1.2.3-alpha",
        "1.2.3-alpha.1",
        "1.2.3-0.3.7",
        "1.2.3-x.7.z.92",
        "1.2.3-01",
        "1.2.3-alpha..1",
        "1.2.3+build.1",
        "1.2.3+build..1",
        "1.2.3-rc.1+build.123",
        "1.2.3-",
        "1.2.3+",
        "999999999.999999999.999999999",
        "18446744073709551616.0.0",
        "1.2.3-\u00e9",
        "\u0661.2.3",
    ]


def formats() -> dict[str, str]:
    """str/repr of the info types for fixed inputs (run with TZ=UTC, see main)."""
    from google.protobuf.duration_pb2 import Duration
    from google.protobuf.timestamp_pb2 import Timestamp
    from pyensign.api.v1beta1 import ensign_pb2, event_pb2, topic_pb2
    from pyensign.projects import Project
    from pyensign.status import ServerStatus
    from pyensign.topics import Deduplication, EventType, Topic

    topic_id = bytes.fromhex("01563e3ab5d3d6764c61efb99302bd5b")
    project_id = bytes.fromhex("018bcfe5680000000000000000000001")
    pb_topic = topic_pb2.Topic(
        id=topic_id,
        project_id=project_id,
        name="otters",
        offset=42,
        status=topic_pb2.TopicState.READY,
        deduplication=topic_pb2.Deduplication(
            strategy=topic_pb2.Deduplication.Strategy.KEY_GROUPED,
            offset=topic_pb2.Deduplication.OffsetPosition.OFFSET_EARLIEST,
            keys=["foo"],
            overwrite_duplicate=True,
        ),
        created=Timestamp(seconds=1672531200),
        modified=Timestamp(seconds=1672617600, nanos=500000000),
    )
    info = ensign_pb2.ProjectInfo(
        project_id=project_id,
        num_topics=2,
        num_readonly_topics=1,
        events=100,
        duplicates=10,
        data_size_bytes=1024,
        topics=[
            topic_pb2.TopicInfo(
                topic_id=topic_id,
                project_id=project_id,
                event_offset_id=b"\x01" * 10,
                events=60,
                duplicates=6,
                data_size_bytes=512,
                types=[
                    topic_pb2.EventTypeInfo(
                        type=event_pb2.Type(name="message", major_version=1, patch_version=3),
                        mimetype=1,
                        events=60,
                        duplicates=6,
                        data_size_bytes=512,
                    )
                ],
            )
        ],
    )
    topic = Topic.from_proto(pb_topic)
    project = Project.from_info(info)
    status = ServerStatus(1, "0.12.9", Duration(seconds=3600, nanos=5))
    return {
        "topic_str": str(topic),
        "topic_repr": repr(topic),
        "topic_name_repr": repr(Topic(name="otters", topic_str="x")),
        "dedup_str": str(topic.deduplication),
        "dedup_repr": repr(Deduplication()),
        "project_str": str(project),
        "project_repr": repr(project),
        "event_type_repr": repr(EventType(project.topics[0].types[0].type, 1)),
        "info_topic_str": str(project.topics[0]),
        "status_str": str(status),
    }


def descriptors() -> dict[str, list[list]]:
    """Every message's fields as [name, number, type, label, type name without package]."""
    from pyensign.api.v1beta1 import ensign_pb2, event_pb2, groups_pb2, query_pb2, topic_pb2
    from pyensign.mimetype.v1beta1 import mimetype_pb2
    from pyensign.region.v1beta1 import region_pb2

    out: dict[str, list[list]] = {}

    def walk(message: Any) -> None:
        out[message.full_name] = [
            [
                f.name,
                f.number,
                f.type,
                f.label,
                (f.message_type or f.enum_type).full_name
                if (f.message_type or f.enum_type)
                else "",
            ]
            for f in message.fields
        ]
        for nested in message.nested_types:
            walk(nested)
        for enum in message.enum_types:
            out[enum.full_name] = [[v.name, v.number] for v in enum.values]

    for module in (ensign_pb2, event_pb2, groups_pb2, query_pb2, topic_pb2, region_pb2):
        for message in module.DESCRIPTOR.message_types_by_name.values():
            walk(message)
    for module in (mimetype_pb2, region_pb2, topic_pb2, groups_pb2):
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            out[enum.full_name] = [[v.name, v.number] for v in enum.values]
    return out


def main() -> None:
    os.environ["TZ"] = "UTC"
    time.tzset()
    table = {
        "mimetype_parse": [[i, outcome(lambda i=i: mt.parse(i))] for i in mimetype_inputs()],
        "mimetype_to_str": [[i, outcome(lambda i=i: mt.to_str(i))] for i in (0, 50, 1009, 7)],
        "names_by_value": [[k, v] for k, v in mt.names_by_value.items()],
        "formats": formats(),
        "descriptors": descriptors(),
        "semver": [
            [
                v,
                outcome(
                    lambda v=v: [
                        Type("t", v).major_version,
                        Type("t", v).minor_version,
                        Type("t", v).patch_version,
                    ]
                ),
            ]
            for v in semver_inputs()
        ],
    }
    OUT.write_text(json.dumps(table, indent=1, ensure_ascii=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
