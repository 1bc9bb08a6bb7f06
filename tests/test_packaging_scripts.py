"""The release checks in ``scripts/`` (``make check-wheel``, ``make check-sdist``) catch
what they are for: a wheel whose library needs a glibc newer than its tag, a wrong tag or
size, an sdist missing a file a build needs or shipping build output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import check_sdist  # noqa: E402
import check_wheel  # noqa: E402
import interpreters  # noqa: E402

TAG = "manylinux_2_17_x86_64"


def host_glibc() -> tuple[int, ...]:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        return ()
    name, _, version = text.partition(" ")
    return tuple(int(p) for p in version.split(".")) if name == "glibc" else ()


needs_toolchain = pytest.mark.skipif(
    not (shutil.which("gcc") and shutil.which("objdump")) or host_glibc() < (2, 25),
    reason="needs gcc, objdump and a glibc >= 2.25",
)


def fake_wheel(tmp_path: Path, body: str, name: str = f"x-0.1-cp39-abi3-{TAG}.whl") -> Path:
    """A wheel holding one shared library compiled from ``body`` (C)."""
    src = tmp_path / "lib.c"
    src.write_text(body)
    lib = tmp_path / "_core.abi3.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    wheel = tmp_path / name
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(lib, "pkg/_core.abi3.so")
    return wheel


OLD_ONLY = '#include <stdio.h>\nint f(void) { return puts("hi"); }\n'
NEWER = "#include <sys/random.h>\nlong f(char *b) { return getrandom(b, 8, 0); }\n"


@needs_toolchain
def test_wheel_with_only_old_glibc_symbols_passes(tmp_path, capsys):
    check_wheel.check_file(fake_wheel(tmp_path, OLD_ONLY), TAG, max_mb=8)
    assert "newest glibc symbol 2.2.5" in capsys.readouterr().out


@needs_toolchain
def test_wheel_needing_a_newer_glibc_than_its_tag_fails(tmp_path):
    wheel = fake_wheel(tmp_path, NEWER)
    with pytest.raises(SystemExit, match=r"newer than \(2, 17\).*getrandom"):
        check_wheel.check_file(wheel, TAG, max_mb=8)


@needs_toolchain
def test_wheel_with_wrong_tag_or_too_big_fails(tmp_path):
    wheel = fake_wheel(tmp_path, OLD_ONLY, name="x-0.1-cp39-abi3-manylinux_2_34_x86_64.whl")
    with pytest.raises(SystemExit, match="not tagged"):
        check_wheel.check_file(wheel, TAG, max_mb=8)
    with pytest.raises(SystemExit, match="more than"):
        check_wheel.check_file(wheel, "manylinux_2_34_x86_64", max_mb=0.000001)


def test_without_cargo_drops_the_toolchain_from_path(tmp_path):
    tools = tmp_path / "cargo-bin"
    tools.mkdir()
    (tools / "cargo").write_text("")
    env = check_wheel.without_cargo({"PATH": os.pathsep.join([str(tools), "/usr/bin"])})
    assert env["PATH"] == "/usr/bin"


# -- sdist ------------------------------------------------------------------------------

needs_git = pytest.mark.skipif(
    not (shutil.which("git") and (ROOT / ".git").exists()), reason="needs a git checkout"
)


def fake_sdist(tmp_path: Path, drop: str = "", add: str = "") -> Path:
    """An sdist of this checkout's needed files, without ``drop``, with ``add``."""
    sdist = tmp_path / "pyensign_fast-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name in sorted(check_sdist.needed_files() | {"PKG-INFO"}):
            if name != drop:
                path = ROOT / name if name != "PKG-INFO" else ROOT / "README.md"
                tar.add(path, f"pyensign_fast-0.1.0/{name}")
        if add:
            tar.add(ROOT / "README.md", f"pyensign_fast-0.1.0/{add}")
    return sdist


@needs_git
def test_complete_sdist_passes(tmp_path, capsys):
    check_sdist.check_contents(fake_sdist(tmp_path), max_mb=2, max_file_kb=200)
    assert "crates client, proto, python, server" in capsys.readouterr().out


@needs_git
def test_sdist_missing_a_proto_fails(tmp_path):
    sdist = fake_sdist(tmp_path, drop="protos/api/v1beta1/event.proto")
    with pytest.raises(SystemExit, match=r"event\.proto is missing"):
        check_sdist.check_contents(sdist, max_mb=2, max_file_kb=200)


@needs_git
def test_sdist_with_build_output_fails(tmp_path):
    sdist = fake_sdist(tmp_path, add="target/release/lib_core.so")
    with pytest.raises(SystemExit, match="must not be shipped"):
        check_sdist.check_contents(sdist, max_mb=2, max_file_kb=200)


# -- interpreters -----------------------------------------------------------------------


def test_interpreter_lookup_explains_what_it_cannot_find():
    assert interpreters.find_interpreter("3.99") == (None, "no python3.99 in pyenv or on PATH")
    path, why = interpreters.find_interpreter("two")
    assert path is None and "not a version" in str(why)
    path, why = interpreters.find_interpreter("3.8")
    assert path is None and "older than" in str(why)


def test_interpreter_lookup_finds_a_working_python():
    path, why = interpreters.find_interpreter(sys.executable)
    assert path is not None and why is None
    newest, _ = interpreters.find_interpreter("newest")
    assert newest is not None
