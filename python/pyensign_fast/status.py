"""``ServerStatus``: the reply of ``Ensign.status()`` (``pyensign.status``)."""

from __future__ import annotations

from typing import Any, Mapping

from pyensign_fast.timestamps import Duration

__all__ = ["ServerStatus"]


def _duration(value: Any) -> Any:
    """A ``Duration`` from ``(seconds, nanos)`` or int ns; other values unchanged."""
    if isinstance(value, tuple):
        return Duration(*value)
    if isinstance(value, int):
        d = Duration()
        d.FromNanoseconds(value)
        return d
    return value


class ServerStatus:
    """``status`` (the ``ServiceState.Status`` number, e.g. 1 = HEALTHY), the server's
    ``version`` and its ``uptime`` (a ``Duration`` with ``seconds``/``nanos``)."""

    def __init__(self, status: Any, version: str, uptime: Any) -> None:
        self.status = status
        self.version = version
        self.uptime = uptime

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ServerStatus:
        """Build from plain values: ``status`` (int), ``version`` (str) and ``uptime``
        as ``(seconds, nanos)``, int nanoseconds or a Duration-like object."""
        uptime: Any | None = values.get("uptime")
        return cls(values.get("status", 0), values.get("version", ""), _duration(uptime))

    def __repr__(self) -> str:
        return (
            f"ServerStatus(status={self.status!r}, version={self.version!r}, "
            f"uptime={self.uptime!r})"
        )

    def __str__(self) -> str:
        return f"status: {self.status}\nversion: {self.version}\nuptime: {self.uptime}"
