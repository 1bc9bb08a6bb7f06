# pyensign-fast: the usual targets. CI (.ci/run) and pre-commit call these same targets.
# Everything Python goes into $(VENV); Rust builds into target/.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CARGO ?= cargo
# The build tools of `make wheels`/`make sdist`, pinned, in their own virtualenv.
BUILD_VENV ?= .venvs/build
MATURIN_VERSION ?= 1.16.0
ZIGLANG_VERSION ?= 0.17.1
BUILD_TOOLS := $(BUILD_VENV)/.tools-maturin-$(MATURIN_VERSION)-zig-$(ZIGLANG_VERSION)
WHEEL_TARGET ?= x86_64-unknown-linux-gnu
# Interpreters of `make check-wheel` (X.Y, newest or a path; a missing one is skipped).
WHEEL_PYTHONS ?= 3.9 newest
TEST_WHEEL_PYTHON ?= newest
# `make check-sdist SDIST_CHECK=--contents-only` checks the files without building.
SDIST_CHECK ?=

.PHONY: help venv install install-dev build test test-rust test-python lint fmt stubtest bench bench-matrix bench-micro demo serve mutants clean \
	wheels sdist check-wheel test-wheel check-sdist

help:  ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)  ## Create the virtualenv

install: $(PY)  ## Build the wheel (release) and install it
	$(PIP) install --quiet .

install-dev: $(PY)  ## Editable install with the test, lint and bench tools
	$(PIP) install --quiet -e '.[dev]'

build:  ## Build the Rust workspace (debug)
	$(CARGO) build

test: install-dev test-rust test-python  ## Install everything the tests need and run every test

test-rust:  ## Rust unit and integration tests (client, server, proto)
	$(CARGO) test

test-python:  ## pytest against the in-process local server
	$(PY) -m pytest -q

lint: $(PY)  ## cargo fmt --check, clippy -D warnings, ruff, stub check
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(PY) -m ruff check python tests benches scripts
	$(PY) -m ruff format --check python tests benches scripts
	$(MAKE) stubtest

stubtest:  ## Check the .pyi stubs against the compiled module
	$(PY) -m mypy.stubtest pyensign_fast --allowlist stubtest-allowlist.txt

fmt: $(PY)  ## Format Rust and Python
	$(CARGO) fmt --all
	$(PY) -m ruff format python tests benches scripts

bench: install bench-matrix bench-micro  ## Side-by-side benchmarks against pyensign (writes benches/results/)
	$(PY) benches/publish_compare.py --repeat 3
	$(PY) benches/subscribe_compare.py --repeat 3
	$(PY) benches/server_sdk.py --repeat 3
	$(PY) benches/bench_event_create.py
	$(CARGO) bench -p ensign-server --bench server_ingest -- --events 2000000

bench-matrix: install  ## The programs users write, pyensign vs pyensign-fast vs Rust (~25 min; QUICK=1: ~5)
	$(PIP) install --quiet 'matplotlib>=3.7' 'pytest-benchmark>=4'  # the bench extra, without rebuilding
	$(PY) benches/matrix.py $(if $(QUICK),--quick,)

bench-micro: install  ## Per-event micro-benchmarks (pytest-benchmark; compare with --benchmark-compare)
	$(PIP) install --quiet 'matplotlib>=3.7' 'pytest-benchmark>=4'  # the bench extra, without rebuilding
	$(PY) -m pytest benches/bench_micro.py -q -p no:cacheprovider --benchmark-json benches/results/micro.json
# Mutation testing (cargo-mutants, `cargo install --locked cargo-mutants`): each run copies
# the tree to a temporary directory, so the working tree is never left mutated. One job,
# niced: hours on 2 cores. Equivalent mutants are excluded in .cargo/mutants.toml.
MUTANTS := nice -n 10 $(CARGO) mutants -j 1 --no-shuffle
# Test targets that guard storage and auth. `--cargo-arg` (not `--cargo-test-arg`) so that
# each mutant also *builds* only these, not the server's ~30 test binaries: about half the
# time per mutant.
STORAGE_TESTS := --cargo-arg=--lib --cargo-arg=--test=power_loss \
	--cargo-arg=--test=disk --cargo-arg=--test=full_disk
AUTH_TESTS := --cargo-arg=--test=auth_tokens --cargo-arg=--test=auth \
	--cargo-arg=--test=quarterdeck_http

mutants:  ## Mutation-test the code that guards data and access (long; see docs/mutation-testing.md)
	status=0; \
	$(MUTANTS) -p ensign-server -o mutants.out/storage \
		-f rust/server/src/storage/record.rs -f rust/server/src/storage/replay.rs \
		-f rust/server/src/storage/disk.rs -f rust/server/src/storage/writer.rs \
		$(STORAGE_TESTS) || status=1; \
	$(MUTANTS) -p ensign-server -o mutants.out/auth \
		-f rust/server/src/auth/interceptor.rs $(AUTH_TESTS) || status=1; \
	$(MUTANTS) -p ensign-client -o mutants.out/client \
		-f rust/client/src/publisher/tracker.rs -f rust/client/src/publisher/encode.rs \
		-f rust/client/src/publisher/reply.rs -f rust/client/src/subscriber/stream.rs \
		|| status=1; \
	exit $$status

demo: install  ## Publish and consume a large stream through the embedded local server
	$(VENV)/bin/pyensign-fast demo

serve: install  ## Run a local Ensign server on :5356
	$(VENV)/bin/pyensign-fast serve

$(BUILD_TOOLS):
	$(PYTHON) -m venv $(BUILD_VENV)
	$(BUILD_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		maturin==$(MATURIN_VERSION) ziglang==$(ZIGLANG_VERSION)
	touch $@

wheels: $(BUILD_TOOLS)  ## Build the manylinux2014 (glibc 2.17) x86_64 wheel into dist/ (zig, no container)
	rm -f dist/*.whl
	PATH="$(abspath $(BUILD_VENV))/bin:$$PATH" maturin build --profile wheel --zig \
		--compatibility manylinux2014 --auditwheel check --target $(WHEEL_TARGET) --out dist

sdist: $(BUILD_TOOLS)  ## Build the source distribution into dist/
	rm -f dist/*.tar.gz
	$(BUILD_VENV)/bin/maturin sdist --out dist

check-wheel:  ## Check dist/'s wheel (tag, size, glibc symbols); install it without cargo and smoke-test it
	$(PYTHON) scripts/check_wheel.py dist/*.whl $(addprefix --python ,$(WHEEL_PYTHONS))

test-wheel:  ## Run the pytest suite against dist/'s wheel installed in a fresh venv (not the editable build)
	$(PYTHON) scripts/check_wheel.py dist/*.whl --python $(TEST_WHEEL_PYTHON) --tests

check-sdist: sdist  ## Check the sdist's files; pip install it in a fresh venv (compiles) and smoke-test it
	$(PYTHON) scripts/check_sdist.py dist/*.tar.gz $(SDIST_CHECK)

clean:  ## Remove build output and the virtualenv
	rm -rf target $(VENV) dist build .pytest_cache
