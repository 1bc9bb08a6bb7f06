"""The official pyensign 0.12.1b0 and our protobuf modules in one process, imported in
either order (pyensign's interpreter and pins: protobuf 4.24.4, grpcio 1.59.0): both
keep pyensign's full names, neither import fails, messages cross between them by their
bytes, and our classes take pyensign's ``Timestamp`` (the default pool's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pyensign_env  # noqa: E402

import pyensign_fast  # noqa: E402

SCRIPT = textwrap.dedent(
    """
    import json, sys

    def theirs():
        from pyensign.api.v1beta1 import ensign_pb2, event_pb2
        return ensign_pb2, event_pb2

    def ours():
        from pyensign_fast.api.v1beta1 import ensign_pb2, ensign_pb2_grpc, event_pb2
        return ensign_pb2, event_pb2, ensign_pb2_grpc

    if sys.argv[1] == "pyensign-first":
        t, te = theirs()
        o, oe, grpc_stubs = ours()
    else:
        o, oe, grpc_stubs = ours()
        t, te = theirs()
    from google.protobuf.timestamp_pb2 import Timestamp

    event = oe.Event(data=b"x", created=Timestamp(seconds=5))
    as_theirs = te.Event.FromString(event.SerializeToString())
    print(json.dumps({
        "names": [t.Nack.DESCRIPTOR.full_name, o.Nack.DESCRIPTOR.full_name],
        "same_class": t.Nack is o.Nack,
        "crossed": [as_theirs.data.decode(), as_theirs.created.seconds],
        "back": oe.Event.FromString(as_theirs.SerializeToString()) == event,
        "path": grpc_stubs.METHODS[0].path,
    }))
    """
)


@pytest.fixture(scope="module")
def pyensign_python() -> Path:
    try:
        return pyensign_env.python()
    except (OSError, subprocess.CalledProcessError) as e:  # pragma: no cover - no PyPI
        pytest.skip(f"cannot create the pyensign virtualenv: {e}")


@pytest.mark.parametrize("order", ["pyensign-first", "ours-first"])
def test_pyensign_and_ours_in_one_process(pyensign_python: Path, order: str, tmp_path: Any) -> None:
    # Only our package on the path (not our environment's newer protobuf and grpcio).
    (tmp_path / "pyensign_fast").symlink_to(Path(pyensign_fast.__file__).parent)
    script = tmp_path / "coexist.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [str(pyensign_python), str(script), order],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["names"] == ["ensign.v1beta1.Nack", "ensign.v1beta1.Nack"]
    assert out["same_class"] is False
    assert out["crossed"] == ["x", 5] and out["back"] is True
    assert out["path"] == "/ensign.v1beta1.Ensign/Publish"
