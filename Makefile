# Every target bootstraps .venv from pyproject.toml (Python 3.11) before it runs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONUNBUFFERED := 1
# dbt and dagster from .venv for every subprocess (dagster-dbt looks `dbt` up on PATH).
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test test-ui browser postgres dev bench lint prepare report clean

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

# The browser and postgres steps install Debian's Chromium and PostgreSQL 15 when they can (root +
# apt); without them the UI test and the team-setup (PostgreSQL) tests skip.
test: prepare browser postgres
	$(BIN)/ruff check ingest orchestration reporting bench tests
	$(BIN)/python -m pytest

# Only the real-browser test of the Dagster UI (Playwright driving Debian's Chromium).
test-ui: prepare browser
	$(BIN)/python -m pytest tests/ui -v

browser:
	@sh scripts/ensure_chromium.sh

postgres:
	@sh scripts/ensure_postgres.sh

# Regenerate $$LIQUIDITY_DATA_DIR/report/index.html from serving.duckdb, without re-ingesting.
report: $(STAMP)
	$(BIN)/python -m reporting

dev: prepare
	DAGSTER_HOME=$${DAGSTER_HOME:-$(CURDIR)/data/dagster_home} $(BIN)/python -m orchestration.cli dev

bench: prepare
	$(BIN)/python -m bench.run

lint: $(STAMP)
	$(BIN)/ruff check ingest orchestration reporting bench tests
	$(BIN)/ruff format --check ingest orchestration reporting bench tests

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
