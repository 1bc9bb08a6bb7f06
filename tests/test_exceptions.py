"""pyensign_fast.exceptions: the hierarchy, messages, rpc_error and catch_rpc_error."""

from __future__ import annotations

import pickle
import re
import sys
import types
from typing import Any

import pytest

from pyensign_fast import exceptions as ex
from pyensign_fast.exceptions import catch_rpc_error

HIERARCHY = {
    "TopicNotFoundError": (Exception,),
    "PyEnsignError": (Exception,),
    "AuthenticationError": (ex.PyEnsignError,),
    "CacheMissError": (ex.PyEnsignError,),
    "UnknownTopicError": (ex.PyEnsignError, ex.TopicNotFoundError),
    "CouldNotAck": (ex.PyEnsignError,),
    "CouldNotNack": (ex.PyEnsignError,),
    "NackError": (ex.PyEnsignError,),
    "EnSQLError": (ex.PyEnsignError,),
    "InvalidQueryError": (ex.EnSQLError,),
    "QueryNoRows": (ex.EnSQLError,),
    "CursorError": (ex.PyEnsignError,),
    "CursorNoRows": (ex.CursorError,),
    "CursorClosedError": (ex.CursorError,),
    "EnsignError": (ex.PyEnsignError,),
    "EnsignRPCError": (ex.EnsignError,),
    "EnsignInvalidArgument": (ex.EnsignRPCError,),
    "EnsignTypeError": (ex.EnsignError, TypeError),
    "EnsignAttributeError": (ex.EnsignError, AttributeError),
    "EnsignTopicCreateError": (ex.EnsignError,),
    "EnsignTopicDestroyError": (ex.EnsignError,),
    "EnsignInvalidTopicError": (ex.EnsignError, ValueError),
    "EnsignTopicNotFoundError": (ex.EnsignError, ex.TopicNotFoundError),
    "EnsignInitError": (ex.EnsignError,),
    "EnsignTimeoutError": (ex.EnsignError,),
    "EnsignClientClosingError": (ex.EnsignError,),
}


@pytest.mark.parametrize("name, bases", HIERARCHY.items())
def test_hierarchy(name: str, bases: tuple) -> None:
    assert getattr(ex, name).__bases__ == bases


@pytest.mark.parametrize(
    "exc, message",
    [
        (ex.TopicNotFoundError("otters"), "topic not found: otters"),
        (
            ex.UnknownTopicError("otters"),
            "unknown topic: otters, please specify the name or ID of a topic in your project",
        ),
        (ex.NackError(103, "bad type"), "event was nacked: bad type (103)"),
        (
            ex.EnsignRPCError("NOT_FOUND", 5, "no such topic"),
            "received gRPC error from Ensign: NOT_FOUND: no such topic (5)",
        ),
        (ex.EnsignTopicNotFoundError("otters"), "topic not found: otters"),
        (ex.CacheMissError("key"), "key"),
        (ex.CouldNotAck("nope"), "nope"),
    ],
)
def test_messages_and_pickling(exc: Exception, message: str) -> None:
    assert str(exc) == message
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc) and str(copy) == message


def test_attributes() -> None:
    assert ex.UnknownTopicError("t").topic == "t"
    nack = ex.NackError(2, "topic unknown")
    assert (nack.code, nack.error) == (2, "topic unknown")
    rpc = ex.EnsignInvalidArgument("INVALID_ARGUMENT", 3, "bad")
    assert (rpc.name, rpc.code, rpc.details) == ("INVALID_ARGUMENT", 3, "bad")


@pytest.mark.parametrize(
    "code, cls, name",
    [
        (3, ex.EnsignInvalidArgument, "INVALID_ARGUMENT"),
        (5, ex.EnsignRPCError, "NOT_FOUND"),
        (16, ex.EnsignRPCError, "UNAUTHENTICATED"),
        (99, ex.EnsignRPCError, "UNKNOWN"),
    ],
)
def test_rpc_error(code: int, cls: type, name: str) -> None:
    err = ex.rpc_error(code, "details")
    assert type(err) is cls
    assert (err.name, err.code, err.details) == (name, code, "details")


# pyensign's test_error_decorator cases (new exceptions), plus our own exceptions, which
# pass through unchanged (passthrough=True).
@pytest.mark.parametrize(
    "exception, expected, match, passthrough",
    [
        (AttributeError("error"), ex.EnsignAttributeError, "error", False),
        (
            ex.EnsignTopicNotFoundError("topic"),
            ex.UnknownTopicError,
            "unknown topic: topic, please specify the name or ID of a topic in your project",
            False,
        ),
        (ex.EnsignTypeError("error"), ex.EnsignTypeError, "response: error", False),
        (ex.EnsignInitError("error"), ex.EnsignInitError, "not connected", False),
        (ex.EnsignTimeoutError("e"), ex.EnsignTimeoutError, "connecting to Ensign: e", False),
        (ex.EnsignClientClosingError("e"), ex.EnsignClientClosingError, "closing", False),
        (ZeroDivisionError("error"), ex.PyEnsignError, "unknown error: error", False),
        (ex.EnsignRPCError("INVALID_ARGUMENT", 3, "x"), ex.EnsignInvalidArgument, "x", False),
        (ex.AuthenticationError("denied"), ex.AuthenticationError, "^denied$", True),
        (ex.QueryNoRows("none"), ex.QueryNoRows, "^none$", True),
        (ex.rpc_error(5, "gone"), ex.EnsignRPCError, re.escape("NOT_FOUND: gone (5)"), True),
        (ex.rpc_error(3, "bad"), ex.EnsignInvalidArgument, re.escape("(3)"), True),
        (ex.NackError(1, "too big"), ex.NackError, "too big", True),
        (ex.EnsignTopicCreateError("no"), ex.EnsignTopicCreateError, "^no$", True),
    ],
)
async def test_catch_rpc_error(
    exception: Exception, expected: type, match: str, passthrough: bool
) -> None:
    # A new exception has 3 frames: this test, the wrapper and the handler, as pyensign's
    # tests assert. A passed-through one is the same object, with its own traceback.
    def check(info: Any) -> None:
        assert type(info.value) is expected
        if passthrough:
            assert info.value is exception
        else:
            assert info.value is not exception
            assert info.value.__cause__ is exception
            assert len(info.traceback) == 3

    @catch_rpc_error
    def fn() -> None:
        raise exception

    with pytest.raises(expected, match=match) as info:
        fn()
    check(info)

    @catch_rpc_error
    def fn_gen() -> Any:
        yield 1
        raise exception

    with pytest.raises(expected, match=match) as info:
        for _ in fn_gen():
            pass
    check(info)

    @catch_rpc_error
    async def coro() -> None:
        raise exception

    with pytest.raises(expected, match=match) as info:
        await coro()
    check(info)

    @catch_rpc_error
    async def coro_gen() -> Any:
        yield 1
        raise exception

    with pytest.raises(expected, match=match) as info:
        async for _ in coro_gen():
            pass
    check(info)


async def test_traceback_depth_for_sync_function() -> None:
    @catch_rpc_error
    def fn() -> None:
        raise ZeroDivisionError("x")

    with pytest.raises(ex.PyEnsignError) as info:
        fn()
    assert len(info.traceback) == 3


def test_return_values_pass_through() -> None:
    @catch_rpc_error
    def fn(a: int, b: int = 2) -> int:
        return a + b

    @catch_rpc_error
    def gen(n: int) -> Any:
        yield from range(n)

    assert fn(1, b=3) == 4
    assert list(gen(3)) == [0, 1, 2]
    assert fn.__name__ == "fn"


class _StatusCode:
    def __init__(self, name: str, value: tuple) -> None:
        self.name, self.value = name, value


class _FakeAioRpcError(Exception):
    def __init__(self, code: _StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> _StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("NOT_FOUND", (5, "not found"), ex.EnsignRPCError),
        ("INVALID_ARGUMENT", (3, "invalid argument"), ex.EnsignInvalidArgument),
    ],
)
def test_grpc_errors_are_mapped_when_grpc_is_loaded(
    monkeypatch: pytest.MonkeyPatch, name: str, value: tuple, expected: type
) -> None:
    fake = types.ModuleType("grpc.aio")
    fake.AioRpcError = _FakeAioRpcError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "grpc.aio", fake)

    @catch_rpc_error
    def fn() -> None:
        raise _FakeAioRpcError(_StatusCode(name, value), "details")

    with pytest.raises(expected) as info:
        fn()
    # pyensign passes grpc's StatusCode.value (a tuple) through as the code.
    assert str(info.value) == f"received gRPC error from Ensign: {name}: details ({value})"


def test_grpc_is_not_imported() -> None:
    assert "grpc" not in sys.modules or "pyensign_fast.exceptions" in sys.modules
    source = open(ex.__file__).read()
    assert "import grpc" not in source
