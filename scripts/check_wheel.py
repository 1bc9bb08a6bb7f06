"""Checks a built Linux wheel the way our users get it: ``make check-wheel`` and ``.ci/run``.

1. The file: its platform tag (``--tag``, default ``manylinux_2_17_x86_64``), its size
   (``--max-mb``), and the glibc symbol versions its libraries import, read with
   ``objdump -T``: none may be newer than the glibc of the tag (2.17 for manylinux2014).
2. For each interpreter (``--python 3.9 --python newest`` by default): a fresh virtualenv
   in a temporary directory, **with no cargo or rustc on PATH**, ``pip install
   --only-binary :all:`` of the wheel (so nothing can be compiled), then
   ``wheel_smoke.py`` copied into that directory and run from there, outside the source tree.
   A missing interpreter is skipped with the reason printed, not failed.
3. With ``--tests``: the repository's pytest suite against the installed wheel
   (``make test-wheel``), with the ``installed_only`` plugin refusing any other copy of
   ``pyensign_fast``.

Interpreters are looked up as ``$PYENV_ROOT/versions/X.Y.*`` (newest patch), then
``pythonX.Y`` on PATH; ``newest`` is the newest CPython ≥ 3.9 found either way. Usage::

    python scripts/check_wheel.py dist/pyensign_fast-*-manylinux_2_17_x86_64*.whl
    python scripts/check_wheel.py WHEEL --python 3.12 --tests
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from interpreters import find_interpreter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GLIBC = re.compile(r"\bGLIBC_(\d+)\.(\d+)(?:\.(\d+))?\b")


def glibc_needs(library: Path) -> dict[tuple[int, ...], list[str]]:
    """``{glibc version: [symbols]}`` of the versioned symbols ``library`` imports."""
    out = subprocess.run(
        ["objdump", "-T", str(library)], check=True, capture_output=True, text=True
    ).stdout
    needs: dict[tuple[int, ...], list[str]] = {}
    for line in out.splitlines():
        m = GLIBC.search(line)
        if m and "*UND*" in line:
            version = tuple(int(g) for g in m.groups() if g is not None)
            needs.setdefault(version, []).append(line.split()[-1])
    return needs


def check_file(wheel: Path, tag: str, max_mb: float) -> None:
    size_mb = wheel.stat().st_size / 1e6
    print(f"wheel: {wheel.name}, {size_mb:.2f} MB")
    if tag not in wheel.name:
        raise SystemExit(f"FAIL: the wheel is not tagged {tag}")
    if size_mb > max_mb:
        raise SystemExit(f"FAIL: the wheel is {size_mb:.2f} MB, more than {max_mb} MB")
    m = re.search(r"manylinux_(\d+)_(\d+)", tag)
    limit = (int(m.group(1)), int(m.group(2))) if m else None
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(wheel) as zf:
        libs = [n for n in zf.namelist() if n.endswith(".so") or ".so." in n]
        if not libs:
            raise SystemExit("FAIL: the wheel holds no shared library")
        for name in libs:
            path = Path(zf.extract(name, tmp))
            needs = glibc_needs(path)
            newest = max(needs) if needs else ()
            shown = ".".join(map(str, newest)) or "none"
            print(f"  {name}: {path.stat().st_size / 1e6:.2f} MB, newest glibc symbol {shown}")
            if limit and newest > limit:
                late = {v: s for v, s in needs.items() if v > limit}
                raise SystemExit(f"FAIL: {name} needs glibc symbols newer than {limit}: {late}")


def without_cargo(env: dict[str, str]) -> dict[str, str]:
    """``env`` with every PATH entry that holds cargo or rustc removed."""
    env = dict(env)
    keep = []
    for entry in env.get("PATH", "").split(os.pathsep):
        if entry and any((Path(entry) / tool).exists() for tool in ("cargo", "rustc")):
            continue
        keep.append(entry)
    env["PATH"] = os.pathsep.join(keep)
    for name in ("CARGO_TARGET_DIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(cmd: list[str], **kw: object) -> None:
    print("  $ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def check_installed(wheel: Path, python: Path, tests: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="pyensign-fast-wheel-") as tmp:
        work = Path(tmp)
        env = without_cargo(dict(os.environ))
        run([str(python), "-m", "venv", str(work / "venv")], env=env)
        bindir = work / "venv" / ("Scripts" if os.name == "nt" else "bin")
        env["PATH"] = os.pathsep.join([str(bindir), env["PATH"]])
        env["VIRTUAL_ENV"] = str(work / "venv")
        vpy = str(bindir / "python")
        if shutil.which("cargo", path=env["PATH"]) or shutil.which("rustc", path=env["PATH"]):
            raise SystemExit("FAIL: cargo is still on PATH")
        spec = f"{wheel.resolve()}[test]" if tests else str(wheel.resolve())
        pip = [vpy, "-m", "pip", "install", "--quiet", "--only-binary", ":all:", spec]
        run(pip, env=env, cwd=work)
        shutil.copy(HERE / "wheel_smoke.py", work / "wheel_smoke.py")
        run([vpy, "wheel_smoke.py"], env=env, cwd=work)
        if tests:
            env["PYTHONPATH"] = str(HERE)  # the installed_only plugin, nothing else
            # tests/compat keeps pyensign's own virtualenv in the repository, as usual.
            env.setdefault("PYENSIGN_VENV", str(ROOT / ".venvs" / "pyensign"))
            pytest = [vpy, "-m", "pytest", "-q", "-p", "installed_only", "-p", "no:cacheprovider"]
            pytest += ["-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)]
            run([*pytest, str(ROOT / "tests")], env=env, cwd=work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, nargs="+", help="the wheel (one; a glob may match)")
    parser.add_argument("--tag", default="manylinux_2_17_x86_64", help="expected platform tag")
    parser.add_argument("--max-mb", type=float, default=8.0, help="largest allowed wheel size")
    parser.add_argument(
        "--python",
        action="append",
        help="interpreter: X.Y, 'newest' or a path (repeatable; default 3.9 and newest)",
    )
    parser.add_argument("--tests", action="store_true", help="also run the pytest suite")
    args = parser.parse_args()
    if len(args.wheel) != 1:
        raise SystemExit(f"expected exactly one wheel, got {[str(w) for w in args.wheel]}")
    wheel = args.wheel[0]
    check_file(wheel, args.tag, args.max_mb)
    tested: list[Path] = []
    for want in args.python or ["3.9", "newest"]:
        python, why = find_interpreter(want)
        if python is None:
            print(f"SKIP Python {want}: {why}")
            continue
        if python in tested:
            print(f"SKIP Python {want}: {python} was tested already")
            continue
        start = time.perf_counter()
        print(f"\n== Python {want}: {python}")
        check_installed(wheel, python, args.tests)
        print(f"== Python {want}: passed in {time.perf_counter() - start:.0f} s")
        tested.append(python)
    if not tested:
        raise SystemExit("FAIL: no interpreter to test the wheel with")
    print(f"\nwheel checks passed with {len(tested)} interpreter(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
