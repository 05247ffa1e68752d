# Every target bootstraps .venv from pyproject.toml (Python 3.11) before it runs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONUNBUFFERED := 1
# dbt and dagster from .venv for every subprocess (dagster-dbt looks `dbt` up on PATH).
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test dev bench lint prepare report clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# dbt manifest for the Dagster dbt assets (dbt parse; no network, no hub packages).
prepare: $(STAMP)
	$(BIN)/python -m orchestration.prepare

run: prepare
	$(BIN)/python -m orchestration.cli run

test: prepare
	$(BIN)/ruff check ingest orchestration tests
	$(BIN)/python -m pytest

dev: prepare
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/data/dagster_home} $(BIN)/python -m orchestration.cli dev

bench:
	@echo "make bench: the benchmark suite is not built yet (issue #5)" >&2; exit 1

lint: $(STAMP)
	$(BIN)/ruff check ingest orchestration tests
	$(BIN)/ruff format --check ingest orchestration tests

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
