"""pyensign_fast: a drop-in, much faster replacement for pyensign, the Python SDK of
Ensign, with a Rust core and a local Ensign-compatible server.

Import from the same modules as with pyensign (``pyensign_fast.ensign``,
``pyensign_fast.events``, ``pyensign_fast.mimetypes``, ...); the most used names are
also available here.
"""

from pyensign_fast.version import __version__, __version_info__, get_version

__all__ = ["Ensign", "Event", "__version__", "__version_info__", "get_version"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    # Lazy, so that importing a light module (mimetypes, nack) does not load the client.
    if name == "Ensign":
        from pyensign_fast.ensign import Ensign

        return Ensign
    if name == "Event":
        from pyensign_fast.events import Event

        return Event
    raise AttributeError(f"module 'pyensign_fast' has no attribute {name!r}")
