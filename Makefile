# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv with the pinned dependencies of requirements.lock on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The demo and tests use the development archive beside the repo when it is there;
# without it the demo downloads the official CIFAR-100 archive.
DEV_ARCHIVE := $(wildcard ../shared/data/cifar-100-python-bike-moto-dev.tar.gz)
SOURCE ?= $(DEV_ARCHIVE)
PYTEST_ARGS ?=
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# pip warns about every missing entry of a local mirror index; that noise hides real errors.
QUIET_PIP := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: install demo test test-slow lint format bench browser lock clean audit

$(BIN)/scones: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . $(QUIET_PIP)
	touch $@

install: $(BIN)/scones

demo: install
	$(BIN)/scones demo $(if $(SOURCE),--source $(SOURCE))

# Chromium for the console's browser tests comes from Debian (Playwright's own download
# cannot run offline); skipped quietly where it is already installed.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: install browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: install browser
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Known vulnerabilities in the pinned dependencies (docs/security.md). pip-audit is not pinned
# in requirements.lock (14 packages of its own); it needs PyPI's JSON API or OSV on the network,
# and --strict fails when a package could not be checked rather than calling it clean.
audit: install
	$(BIN)/python -m pip install --quiet pip-audit $(QUIET_PIP)
	$(BIN)/pip-audit --requirement requirements.lock --no-deps --disable-pip --strict

lock:
	$(PYTHON) -m venv /tmp/scones-lock && /tmp/scones-lock/bin/pip install -q torch==2.13.0 -e '.[dev]' \
	  && /tmp/scones-lock/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
