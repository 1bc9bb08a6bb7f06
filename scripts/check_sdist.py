"""Checks a source distribution: ``make check-sdist`` and the release workflow.

1. Contents: every file a build needs is there (the workspace manifests and
   ``Cargo.lock``, every crate's sources and build script, ``protos/``, the Python
   package, ``pyproject.toml``, ``README.md``), compared with ``git ls-files`` of this
   checkout; nothing that must not ship is (build output, virtualenvs, compiled
   extensions, files over ``--max-file-kb``), and the whole stays under ``--max-mb``.
2. Unless ``--contents-only``: for each interpreter (``--python``, default ``newest``), a
   fresh virtualenv outside the source tree, ``pip install`` of the sdist (this compiles
   the Rust core, so cargo must be on PATH; ``CARGO_TARGET_DIR``, if set, is used and
   saves rebuilding dependencies), then ``wheel_smoke.py`` run from that directory.

Usage::

    python scripts/check_sdist.py dist/pyensign_fast-*.tar.gz [--python 3.9] [--contents-only]
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from interpreters import find_interpreter

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# What a build from the sdist reads, as git pathspecs of this checkout.
NEEDED = [
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "protos/**/*.proto",
    "rust/*/Cargo.toml",
    "rust/*/build.rs",
    "rust/*/src/**",
    "python/pyensign_fast/**",
]
# Never in an sdist (patterns on paths inside it, after the top directory).
FORBIDDEN = ["target/*", "*/target/*", ".venv*", ".venvs/*", "dist/*", "*.so", "*.pyd", "*.whl"]


def needed_files() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", *(f":(glob){p}" for p in NEEDED)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def check_contents(sdist: Path, max_mb: float, max_file_kb: float) -> None:
    size_mb = sdist.stat().st_size / 1e6
    print(f"sdist: {sdist.name}, {size_mb:.2f} MB")
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.isfile()]
    top = {m.name.split("/", 1)[0] for m in members}
    if len(top) != 1:
        raise SystemExit(f"FAIL: the sdist has more than one top directory: {sorted(top)}")
    files = {m.name.split("/", 1)[1]: m.size for m in members}
    problems = []
    if size_mb > max_mb:
        problems.append(f"it is {size_mb:.2f} MB, more than {max_mb} MB")
    for name, size in sorted(files.items()):
        if any(fnmatch.fnmatch(name, p) for p in FORBIDDEN):
            problems.append(f"{name} must not be shipped")
        if size > max_file_kb * 1000:
            problems.append(f"{name} is {size / 1000:.0f} kB, more than {max_file_kb} kB")
    if "PKG-INFO" not in files:
        problems.append("PKG-INFO is missing")
    if shutil.which("git") and (ROOT / ".git").exists():
        missing = sorted(needed_files() - set(files))
        problems += [f"{name} is missing" for name in missing]
    else:
        print("  (no git checkout here: the contents were not compared with it)")
    if problems:
        raise SystemExit("FAIL:\n  " + "\n  ".join(problems))
    crates = sorted({n.split("/")[1] for n in files if n.startswith("rust/")})
    protos = sum(n.startswith("protos/") for n in files)
    print(f"  {len(files)} files: crates {', '.join(crates)}; {protos} protos; nothing forbidden")


def check_install(sdist: Path, python: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="pyensign-fast-sdist-") as tmp:
        work = Path(tmp)
        env = dict(os.environ)
        for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
            env.pop(name, None)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        if not shutil.which("cargo", path=env.get("PATH")):
            raise SystemExit("FAIL: building the sdist needs cargo on PATH")
        subprocess.run([str(python), "-m", "venv", str(work / "venv")], check=True, env=env)
        bindir = work / "venv" / ("Scripts" if os.name == "nt" else "bin")
        env["PATH"] = os.pathsep.join([str(bindir), env["PATH"]])
        vpy = str(bindir / "python")
        print(f"  $ pip install {sdist.name}  (compiles the Rust core)", flush=True)
        subprocess.run(
            [vpy, "-m", "pip", "install", "--quiet", str(sdist.resolve())],
            check=True,
            env=env,
            cwd=work,
        )
        shutil.copy(HERE / "wheel_smoke.py", work / "wheel_smoke.py")
        subprocess.run([vpy, "wheel_smoke.py"], check=True, env=env, cwd=work)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sdist", type=Path, nargs="+", help="the sdist (one; a glob may match)")
    parser.add_argument("--max-mb", type=float, default=2.0, help="largest allowed sdist")
    parser.add_argument("--max-file-kb", type=float, default=200.0, help="largest file in it")
    parser.add_argument("--python", action="append", help="X.Y, 'newest' or a path")
    parser.add_argument("--contents-only", action="store_true", help="do not install it")
    args = parser.parse_args()
    if len(args.sdist) != 1:
        raise SystemExit(f"expected exactly one sdist, got {[str(s) for s in args.sdist]}")
    sdist = args.sdist[0]
    check_contents(sdist, args.max_mb, args.max_file_kb)
    if args.contents_only:
        return 0
    tested = 0
    for want in args.python or ["newest"]:
        python, why = find_interpreter(want)
        if python is None:
            print(f"SKIP Python {want}: {why}")
            continue
        start = time.perf_counter()
        print(f"\n== Python {want}: {python}")
        check_install(sdist, python)
        took = time.perf_counter() - start
        print(f"== Python {want}: sdist built, installed and smoke-tested in {took:.0f} s")
        tested += 1
    if tested == 0:
        raise SystemExit("FAIL: no interpreter to build the sdist with")
    return 0


if __name__ == "__main__":
    sys.exit(main())
