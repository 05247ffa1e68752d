"""Materialize the whole pipeline (ingest → dbt build → checks → publish) from replay snapshots
into temporary data dirs, once per session, through the same Dagster job `make run` uses.

The helpers live in `tests/pipeline_support.py` (the reliability suite uses them too); the runs
behind `incremental_dir` and `fresh_dir` are shared with it within one pytest session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pipeline_support import MANIFEST, REPLAY_ROOT, replay, run_pipeline, shared_run

__all__ = ["MANIFEST", "REPLAY_ROOT", "replay", "run_pipeline"]


@pytest.fixture(scope="session")
def incremental_dir(tmp_path_factory) -> Path:
    """2025-11-19, then 2026-01-31 in the same data dir: a normal incremental update."""
    data_dir = shared_run(tmp_path_factory, "2025-11-19", "2026-01-31")
    before = data_dir / "serving_2025-11-19.duckdb"
    if not before.exists():
        shutil.copy(shared_run(tmp_path_factory, "2025-11-19") / "serving.duckdb", before)
    return data_dir


@pytest.fixture(scope="session")
def first_dir(tmp_path_factory) -> Path:
    """2025-11-19 alone into an empty data dir (the first run behind `incremental_dir`)."""
    return shared_run(tmp_path_factory, "2025-11-19")


@pytest.fixture(scope="session")
def fresh_dir(tmp_path_factory) -> Path:
    """2026-01-31 alone into an empty data dir."""
    return shared_run(tmp_path_factory, "2026-01-31")
