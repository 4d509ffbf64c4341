# dockward: `make run` sets everything up and serves; `make test` runs the whole suite.
VENV      := .venv
BIN       := $(VENV)/bin
STATE_DIR ?= $(if $(filter 0,$(shell id -u)),/var/lib/dockward,$(HOME)/.local/state/dockward)
LISTEN    ?= 127.0.0.1:2376
UPSTREAM  ?= /var/run/docker.sock

.PHONY: install install-tests run test unit e2e bench bench-floor lint clean

install:
	@scripts/bootstrap.sh

install-tests:
	@scripts/bootstrap.sh --tests

run: install
	@scripts/ensure-docker.sh $(UPSTREAM)
	$(BIN)/dockward up --state-dir $(STATE_DIR) --listen $(LISTEN) --upstream $(UPSTREAM)

test: install-tests
	$(BIN)/python -m pytest -q

unit: install-tests
	$(BIN)/python -m pytest -q tests/unit

e2e: install-tests
	$(BIN)/python -m pytest -q tests/e2e

bench: install-tests
	$(BIN)/python -m bench.run

bench-floor: install-tests
	$(BIN)/python -m bench.floor

lint: install-tests
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .pytest-tmp .mypy_cache .ruff_cache
