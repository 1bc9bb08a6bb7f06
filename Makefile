# pyensign-fast: the usual targets. CI (.ci/run) and pre-commit call these same targets.
# Everything Python goes into $(VENV); Rust builds into target/.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CARGO ?= cargo

.PHONY: help venv install install-dev build test test-rust test-python lint fmt stubtest bench bench-matrix bench-micro demo serve clean

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
	$(PY) -m ruff check python tests benches
	$(PY) -m ruff format --check python tests benches
	$(MAKE) stubtest

stubtest:  ## Check the .pyi stubs against the compiled module
	$(PY) -m mypy.stubtest pyensign_fast --allowlist stubtest-allowlist.txt

fmt: $(PY)  ## Format Rust and Python
	$(CARGO) fmt --all
	$(PY) -m ruff format python tests benches

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

demo: install  ## Publish and consume a large stream through the embedded local server
	$(VENV)/bin/pyensign-fast demo

serve: install  ## Run a local Ensign server on :5356
	$(VENV)/bin/pyensign-fast serve

clean:  ## Remove build output and the virtualenv
	rm -rf target $(VENV) dist build .pytest_cache
