"""The exception hierarchy of ``pyensign.exceptions``, plus ``catch_rpc_error``.

Same class names, bases, constructor signatures and ``str`` messages as pyensign, so
``except`` clauses written for pyensign keep working. pyensign learned about server
errors from ``grpc.aio.AioRpcError``; our Rust core raises ``EnsignRPCError(name, code,
details)`` (or ``EnsignInvalidArgument``) itself, with the gRPC status code's name and
integer value (e.g. ``"NOT_FOUND", 5``) — build those with :func:`rpc_error`. So
``catch_rpc_error`` passes our own exceptions through and only re-maps what pyensign
re-mapped (``AttributeError``, the ``Ensign*Error`` messages, unknown errors). A real
``AioRpcError`` is still mapped as pyensign did when grpc happens to be loaded; grpc is
never imported here.
"""

from __future__ import annotations

import functools
import inspect
import sys
from typing import Any, Callable, Dict, NoReturn, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# gRPC status codes: value -> name (grpc.StatusCode member names).
GRPC_STATUS_NAMES: Dict[int, str] = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}
INVALID_ARGUMENT = 3


class TopicNotFoundError(Exception):
    """A topic could not be found."""

    def __init__(self, topic: Any) -> None:
        self.topic = topic

    def __str__(self) -> str:
        return f"topic not found: {self.topic}"


class PyEnsignError(Exception):
    """Base class of the SDK's own exceptions."""


class AuthenticationError(PyEnsignError):
    """Authenticating with the auth server failed."""


class CacheMissError(PyEnsignError):
    """A key is not in a cache (``str`` is the key)."""


class UnknownTopicError(PyEnsignError, TopicNotFoundError):
    """A topic string is neither a known name nor a topic ID."""

    def __str__(self) -> str:
        return (
            f"unknown topic: {self.topic}, please specify the name or ID of a topic in your project"
        )


class CouldNotAck(PyEnsignError):
    """An event cannot be acked (it was not received by a subscriber)."""


class CouldNotNack(PyEnsignError):
    """An event cannot be nacked (it was not received by a subscriber)."""


class NackError(PyEnsignError):
    """A published event was nacked; raised by ``Event.wait_for_ack``."""

    def __init__(self, code: int, error: str) -> None:
        self.code = code
        self.error = error

    def __str__(self) -> str:
        return f"event was nacked: {self.error} ({self.code})"


class EnSQLError(PyEnsignError):
    """Base class of query errors."""


class InvalidQueryError(EnSQLError):
    """The server rejected an EnSQL query (bad syntax or arguments)."""


class QueryNoRows(EnSQLError):
    """A valid query selected no rows."""


class CursorError(PyEnsignError):
    """Base class of cursor errors (declared by pyensign, unused there)."""


class CursorNoRows(CursorError):
    """A cursor has no rows."""


class CursorClosedError(CursorError):
    """A cursor is already closed."""


class EnsignError(PyEnsignError):
    """An error reported by, or while talking to, the Ensign server."""


class EnsignRPCError(EnsignError):
    """A gRPC status error from Ensign: status ``name``, ``code`` and ``details``."""

    def __init__(self, name: str, code: Any, details: str) -> None:
        self.name = name
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return f"received gRPC error from Ensign: {self.name}: {self.details} ({self.code})"


class EnsignInvalidArgument(EnsignRPCError):
    """An ``INVALID_ARGUMENT`` status from Ensign."""


class EnsignTypeError(EnsignError, TypeError):
    """A response message had an unexpected type."""


class EnsignAttributeError(EnsignError, AttributeError):
    """A field could not be read from a response message."""


class EnsignTopicCreateError(EnsignError):
    """Ensign failed to create a topic."""


class EnsignTopicDestroyError(EnsignError):
    """Ensign failed to destroy a topic."""


class EnsignInvalidTopicError(EnsignError, ValueError):
    """A topic lacks required fields."""


class EnsignTopicNotFoundError(EnsignError, TopicNotFoundError):
    """A topic could not be retrieved from Ensign."""

    def __init__(self, topic: Any) -> None:
        self.topic = topic

    def __str__(self) -> str:
        return f"topic not found: {self.topic}"


class EnsignInitError(EnsignError):
    """The client is not connected or not initialized."""


class EnsignTimeoutError(EnsignError):
    """Timed out waiting for the server (e.g. the reconnect timeout passed)."""


class EnsignClientClosingError(EnsignError):
    """A request was made while the client is closing."""


class EnsignBufferFullError(EnsignError, BufferError):
    """``publish`` with ``on_full="error"``: the in-flight window (``max_inflight_events``
    / ``max_inflight_bytes``) has no room for the whole call. Nothing of that call was
    sent; retry after some acks (``flush()``), or use ``on_full="block"``. Not in
    pyensign (which always waits)."""


def rpc_error(code: int, details: str) -> EnsignRPCError:
    """Build the exception for a gRPC status: ``EnsignInvalidArgument`` for
    ``INVALID_ARGUMENT``, else ``EnsignRPCError(name, code, details)``.

    This is the constructor the Rust bindings use for status errors.
    """
    name = GRPC_STATUS_NAMES.get(code, "UNKNOWN")
    if code == INVALID_ARGUMENT:
        return EnsignInvalidArgument(name, code, details)
    return EnsignRPCError(name, code, details)


def _handle_client_error(e: Exception) -> NoReturn:
    """Re-raise ``e`` as pyensign's decorator did (the branches keep pyensign's order)."""
    aio = sys.modules.get("grpc.aio")
    if aio is not None and isinstance(e, aio.AioRpcError):
        # pyensign passes grpc's StatusCode.value (a tuple) as the code; keep it.
        status = e.code()
        args = (status.name, status.value, e.details())
        if status.name == "INVALID_ARGUMENT":
            raise EnsignInvalidArgument(*args) from e
        raise EnsignRPCError(*args) from e
    if isinstance(e, AttributeError):
        raise EnsignAttributeError(f"error accessing field from Ensign response: {e}") from e
    if isinstance(e, (AuthenticationError, QueryNoRows)):
        raise e
    if isinstance(e, EnsignTopicNotFoundError):
        raise UnknownTopicError(e.topic) from e
    if isinstance(e, EnsignTypeError):
        raise EnsignTypeError(f"unexpected type in Ensign response: {e}") from e
    if isinstance(e, EnsignInitError):
        raise EnsignInitError("error processing request: client is not connected") from e
    if isinstance(e, EnsignTimeoutError):
        raise EnsignTimeoutError(f"timeout exceeded while connecting to Ensign: {e}") from e
    if isinstance(e, EnsignClientClosingError):
        raise EnsignClientClosingError("error processing request: client is already closing") from e
    # Not in pyensign: our core raises status errors itself. A bare EnsignRPCError for
    # INVALID_ARGUMENT is normalised; every other SDK exception passes through unchanged
    # instead of becoming "unknown error".
    if type(e) is EnsignRPCError and e.name == "INVALID_ARGUMENT":
        raise EnsignInvalidArgument(e.name, e.code, e.details) from e
    if isinstance(e, PyEnsignError):
        raise e
    raise PyEnsignError(f"unknown error: {e}") from e


def catch_rpc_error(fn: F) -> F:
    """Decorate a function, generator, coroutine or async generator so that errors are
    mapped onto the SDK's exceptions (see ``_handle_client_error``)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:
                _handle_client_error(e)

        return gen_wrapper  # type: ignore[return-value]

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except Exception as e:
                _handle_client_error(e)

        return agen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def coro_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as e:
                _handle_client_error(e)

        return coro_wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            _handle_client_error(e)

    return wrapper  # type: ignore[return-value]
