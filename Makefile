# dockward: `make run` sets everything up, puts `dockward` on PATH and serves; `make test` runs
# the whole suite; `make fuzz` runs the Go differential tests and the fuzz harnesses with 100,000
# examples each.
VENV      := .venv
BIN       := $(VENV)/bin
# STATE_DIR: default $DOCKWARD_STATE_DIR, else /var/lib/dockward as root (see docs/ca.md)
STATE_DIR ?=
# LISTEN and UPSTREAM override STATE_DIR/dockward.toml when given (default 127.0.0.1:2376 and
# /var/run/docker.sock)
LISTEN    ?=
UPSTREAM  ?=

.PHONY: install install-tests run test unit e2e fuzz bench bench-floor soak lint clean

install:
	@scripts/bootstrap.sh

install-tests:
	@scripts/bootstrap.sh --tests

run: install
	@scripts/link-cli.sh
	@scripts/ensure-docker.sh $(or $(UPSTREAM),/var/run/docker.sock)
	$(BIN)/dockward up $(if $(STATE_DIR),--state-dir $(STATE_DIR)) $(if $(LISTEN),--listen $(LISTEN)) \
		$(if $(UPSTREAM),--upstream $(UPSTREAM))

test: install-tests
	$(BIN)/python -m pytest -q

unit: install-tests
	$(BIN)/python -m pytest -q tests/unit

e2e: install-tests
	$(BIN)/python -m pytest -q tests/e2e

# dockward's readers against Go's own (tests/differential, tests/go) and the crash harnesses of
# the parsers and the policy path (tests/fuzz): hypothesis profile "fuzz"
fuzz: install-tests
	DOCKWARD_GODIFF_PROFILE=fuzz $(BIN)/python -m pytest -q -o timeout=0 \
		--hypothesis-show-statistics tests/differential tests/fuzz

bench: install-tests
	$(BIN)/python -m bench.run

bench-floor: install-tests
	$(BIN)/python -m bench.floor

# many clients, mixed work, one gateway, for a long time (not part of `make test`)
SOAK_CLIENTS ?= 50
SOAK_SECONDS ?= 600
soak: install-tests
	$(BIN)/python -m bench.soak --clients $(SOAK_CLIENTS) --duration $(SOAK_SECONDS)

lint: install-tests
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .pytest-tmp .mypy_cache .ruff_cache build/go
