# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates .venv on first use: the pinned runtime set (requirements.lock), the pinned test
# and lint tools (requirements-dev.lock), then scones itself, editable.
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
# torch comes first, alone, from the PyTorch CPU index: on Linux, PyPI's torch is the CUDA build
# (several GB with its nvidia-* wheels) and the CPU build, $(TORCH)+cpu (which ==$(TORCH) matches),
# is only there. Only torch: pip asks every index for every package, and an unreachable extra
# index costs retries for each. Where that index cannot be reached, the install stops and says so;
# TORCH_INDEX=https://pypi.org/simple takes PyPI's build instead (CUDA on Linux).
TORCH := $(shell sed -n 's/^torch==//p' requirements.lock)
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
NO_TORCH := torch $(TORCH) is not reachable at $(TORCH_INDEX) for this Python: check that pip can reach it \
  (a proxy: HTTPS_PROXY), or run make with TORCH_INDEX=https://pypi.org/simple for PyPI's CUDA build (several GB)

.PHONY: install demo test test-slow smoke smoke-install smoke-test lint format bench browser lock clean audit

$(BIN)/scones: requirements.lock requirements-dev.lock requirements-sdk.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --retries 1 --no-deps --index-url $(TORCH_INDEX) torch==$(TORCH) $(QUIET_PIP) \
	  || { echo "$(NO_TORCH)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock $(QUIET_PIP)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-sdk.lock $(QUIET_PIP)  # why: see the file
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . $(QUIET_PIP)
	touch $@

install: $(BIN)/scones

demo: install
	$(BIN)/scones demo $(if $(SOURCE),--source $(SOURCE))

# Chromium for the console's browser tests, when tests/browser.py finds neither Chromium nor Chrome
# (nor SCONES_CHROMIUM): Debian's `chromium`, Ubuntu's `chromium-browser` (a snap), else the one
# Playwright downloads (with the system libraries it needs).
browser: install
	@$(BIN)/python -m tests.browser >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  PACKAGE=$$(grep -qi '^ID=ubuntu' /etc/os-release 2>/dev/null && echo chromium-browser || echo chromium); \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$PACKAGE >/dev/null \
	    && $(BIN)/python -m tests.browser >/dev/null; } \
	  || $(BIN)/python -m playwright install --with-deps chromium; }

# pytest's exit code 5 (a PYTEST_ARGS filter that selects nothing) is not a failure.
test: install browser
	$(BIN)/python -m pytest -q $(PYTEST_ARGS) || [ $$? = 5 ]

test-slow: install browser
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS) || [ $$? = 5 ]

# Another Python (CI: 3.12 and 3.13) without torch, whose CPU build is only on the PyTorch index:
# everything but training, tested on a subset that never imports torch.
#   make smoke PYTHON=python3.12 VENV=.venv-3.12
SMOKE_TESTS ?= tests/test_config.py tests/test_keys.py tests/test_state.py tests/test_storage.py \
  tests/test_browser_finder.py tests/test_postgres_server.py tests/endpoint tests/functions tests/workflow \
  tests/cli/test_main.py tests/data
smoke-install:
	$(PYTHON) -m venv $(VENV)
	sed '/^torch==/d; /^-r /d' requirements.lock requirements-dev.lock > $(VENV)/no-torch.txt
	$(BIN)/python -m pip install --quiet -r $(VENV)/no-torch.txt $(QUIET_PIP)

smoke: smoke-install smoke-test

# scones itself goes in here, not in smoke-install: CI runs smoke-install beside `make install`,
# and two editable installs at once would both write src/scones.egg-info.
smoke-test:
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . $(QUIET_PIP)
	$(BIN)/python -c "import sys, scones.cli, scones.endpoint.server; assert 'torch' not in sys.modules"
	$(BIN)/python -m pytest -q -p no:cacheprovider $(SMOKE_TESTS) $(PYTEST_ARGS) || [ $$? = 5 ]

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Known vulnerabilities in the pinned dependencies (docs/security.md). pip-audit is not pinned
# in the locks (14 packages of its own); it needs PyPI's JSON API or OSV on the network,
# and --strict fails when a package could not be checked rather than calling it clean.
audit: install
	$(BIN)/python -m pip install --quiet pip-audit $(QUIET_PIP)
	$(BIN)/pip-audit --requirement requirements-dev.lock --no-deps --disable-pip --strict

# The runtime set is what `pip install .` pulls; the dev lock adds what `.[dev]` adds on top.
lock:
	rm -rf /tmp/scones-lock && $(PYTHON) -m venv /tmp/scones-lock
	/tmp/scones-lock/bin/pip install -q --no-deps --index-url $(TORCH_INDEX) torch==$(TORCH) $(QUIET_PIP)
	/tmp/scones-lock/bin/pip install -q . $(QUIET_PIP)
	{ sed -n '1,/^setuptools==/p' requirements.lock | sed '$$d'; \
	  /tmp/scones-lock/bin/pip freeze --all --exclude scones --exclude pip | grep '^setuptools=='; \
	  /tmp/scones-lock/bin/pip freeze --exclude scones | sed 's/+cpu$$//'; } > requirements.lock.new
	/tmp/scones-lock/bin/pip install -q '.[dev]' $(QUIET_PIP)
	{ sed -n '1,/^-r /p' requirements-dev.lock; /tmp/scones-lock/bin/pip freeze --exclude scones \
	  | grep -vxFf <(sed 's/+cpu$$//' requirements.lock.new) | grep -v '+cpu$$'; } > requirements-dev.lock
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
