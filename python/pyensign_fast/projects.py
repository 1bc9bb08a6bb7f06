"""``Project``: what ``Ensign.info()`` returns (``pyensign.projects``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, List

from pyensign_fast.topics import Topic, _field
from pyensign_fast.utils import ulid

__all__ = ["Project"]


class Project:
    """A project (a set of topics) with its counters and per-topic info."""

    def __init__(self, id: Any) -> None:
        self.id = ulid.parse(id)
        self.num_topics = 0
        self.num_readonly_topics = 0
        self.events = 0
        self.duplicates = 0
        self.data_size_bytes = 0
        self.topics: List[Topic] = []

    def __repr__(self) -> str:
        return f"Project(id={self.id})"

    def __str__(self) -> str:
        s = f"Project\n\tid={self.id}"
        for label in ("num_topics", "num_readonly_topics", "events", "duplicates"):
            s += f"\n\t{label}={getattr(self, label)}"
        s += f"\n\tdata_size_bytes={self.data_size_bytes}"
        for topic in self.topics:
            s += "\n\t" + str(topic).replace("\t", "\t\t")
        return s

    @classmethod
    def from_info(cls, pb_val: Any) -> Project:
        """From a protobuf ``ProjectInfo`` (or a mapping with its field names)."""
        project = cls(_field(pb_val, "project_id"))
        project.num_topics = _field(pb_val, "num_topics", 0)
        project.num_readonly_topics = _field(pb_val, "num_readonly_topics", 0)
        project.events = _field(pb_val, "events", 0)
        project.duplicates = _field(pb_val, "duplicates", 0)
        project.data_size_bytes = _field(pb_val, "data_size_bytes", 0)
        for topic in _field(pb_val, "topics", ()) or ():
            project.topics.append(Topic.from_info(topic))
        return project

    @classmethod
    def from_info_dict(cls, values: Mapping[str, Any]) -> Project:
        """From plain values keyed by ``ProjectInfo`` field names (``project_id`` as
        bytes or str; ``topics`` as mappings for :meth:`Topic.from_info_dict`)."""
        return cls.from_info(values)
