"""Output of the client commands: events, topics and projects as JSON-ready dicts, JSON
lines, and tables (with rich when it is installed, ``pip install 'pyensign-fast[cli]'``;
plain aligned text otherwise).

An event as JSON: ``{"id", "topic_id", "topic", "mimetype", "type", "meta", "created",
"committed", "data"}``. ``data`` is the payload as text when it is valid UTF-8;
otherwise ``data`` is absent and ``data_base64`` holds it. Times are RFC 3339 (UTC).
"""

from __future__ import annotations

import base64
import json
import sys
from typing import IO, Any, Dict, Mapping, Optional, Sequence

__all__ = [
    "event_json",
    "json_line",
    "print_table",
    "project_json",
    "rich_console",
    "topic_json",
]


def _time(ts: Any) -> Optional[str]:
    if ts is None:
        return None
    if hasattr(ts, "ToJsonString"):
        return str(ts.ToJsonString())
    if hasattr(ts, "isoformat"):
        # The client's datetimes are naive UTC.
        return str(ts.isoformat()) + ("Z" if getattr(ts, "tzinfo", None) is None else "")
    return str(ts)


def event_json(event: Any, topics: Mapping[str, str] | None = None) -> Dict[str, Any]:
    """A received event (or query result) as a JSON-ready dict. ``topics`` maps topic
    id strings to names, where known."""
    from pyensign_fast import mimetypes

    topic_id = event.topic_id
    out: Dict[str, Any] = {
        "id": str(event.id) if event.id is not None else None,
        "topic_id": str(topic_id) if topic_id is not None else None,
    }
    if topics is not None and out["topic_id"] in topics:
        out["topic"] = topics[out["topic_id"]]
    out["mimetype"] = mimetypes.to_str(event.mimetype)
    out["type"] = f"{event.type.name} v{event.type.semver()}"
    out["meta"] = dict(event.meta or {})
    out["created"] = _time(event.created)
    out["committed"] = _time(event.committed)
    data: bytes = event.data
    try:
        out["data"] = data.decode("utf-8")
    except UnicodeDecodeError:
        out["data_base64"] = base64.b64encode(data).decode("ascii")
    return out


def _name(value: Any) -> Any:
    return getattr(value, "name", value)


def topic_json(topic: Any) -> Dict[str, Any]:
    dedup = topic.deduplication
    return {
        "id": str(topic.id) if topic.id is not None else None,
        "name": topic.name,
        "project_id": str(topic.project_id) if topic.project_id is not None else None,
        "status": _name(topic.status),
        "offset": topic.offset,
        "deduplication": None
        if dedup is None
        else {
            "strategy": _name(dedup.strategy),
            "offset": _name(dedup.offset),
            "keys": list(dedup.keys or []),
            "fields": list(dedup.fields or []),
            "overwrite_duplicate": bool(dedup.overwrite_duplicate),
        },
        "created": _time(topic.created),
        "modified": _time(topic.modified),
    }


def project_json(project: Any, names: Mapping[str, str]) -> Dict[str, Any]:
    """``Ensign.info()``'s ``Project``; ``names`` maps topic id strings to names."""
    from pyensign_fast import mimetypes

    topics = []
    for topic in project.topics:
        tid = str(topic.id) if topic.id is not None else None
        topics.append(
            {
                "topic_id": tid,
                "name": names.get(tid or ""),
                "events": topic.events,
                "duplicates": topic.duplicates,
                "data_size_bytes": topic.data_size_bytes,
                "types": [
                    {
                        "type": f"{t.type.name} v{t.type.semver()}",
                        "mimetype": mimetypes.to_str(t.mimetype),
                        "events": t.events,
                        "duplicates": t.duplicates,
                        "data_size_bytes": t.data_size_bytes,
                    }
                    for t in topic.types
                ],
            }
        )
    return {
        "project_id": str(project.id),
        "num_topics": project.num_topics,
        "num_readonly_topics": project.num_readonly_topics,
        "events": project.events,
        "duplicates": project.duplicates,
        "data_size_bytes": project.data_size_bytes,
        "topics": topics,
    }


def json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def rich_console(file: IO[str]) -> Any:
    """A rich ``Console`` on ``file``, or ``None`` without rich."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    # Off a terminal rich would wrap tables at 80 columns: let them take their width.
    width = None if file.isatty() else 500
    return Console(file=file, soft_wrap=False, width=width)


def _cell(value: Any, width: int = 0) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    file: IO[str] | None = None,
    title: str | None = None,
    numeric: Sequence[str] = (),
    max_width: int = 60,
) -> None:
    """A table of ``rows`` under ``columns``: rich's when installed, else aligned text.
    Cells are cut at ``max_width`` characters; ``numeric`` columns are right-aligned."""
    out = file if file is not None else sys.stdout
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    console = rich_console(out)
    if console is not None:
        from rich.table import Table

        table = Table(title=title, show_edge=False, header_style="bold", pad_edge=False)
        for c in columns:
            table.add_column(c, justify="right" if c in numeric else "left", overflow="fold")
        for row in cells:
            table.add_row(*row)
        console.print(table)
        return
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if c in numeric else v.ljust(w) for c, v, w in zip(columns, values, widths)
        ]
        return "  ".join(parts).rstrip()

    if title:
        print(title, file=out)
    print(line(columns), file=out)
    print(line(["-" * w for w in widths]), file=out)
    for row in cells:
        print(line(row), file=out)
