"""Materialize the whole pipeline (ingest → dbt build → checks → publish) from replay snapshots
into temporary data dirs, once per session, through the same Dagster job `make run` uses."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from ingest.settings import PROJECT_ROOT

REPLAY_ROOT = (PROJECT_ROOT.parent / "shared" / "data" / "replay").resolve()
MANIFEST = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"


def replay(cut: str) -> Path:
    path = REPLAY_ROOT / cut
    if not path.is_dir():
        pytest.skip(f"replay snapshot {path} is absent (../shared/data is not beside the project)")
    return path


def run_pipeline(
    data_dir: Path, cut: str, monkeypatch: pytest.MonkeyPatch | None = None
) -> dg.ExecuteInProcessResult:
    """One `materialize_everything` run of snapshot `cut` into `data_dir`."""
    if not MANIFEST.exists():
        pytest.fail("dbt manifest missing: run `make prepare` (make test does it)")
    env = {"LIQUIDITY_DATA_DIR": str(data_dir), "LIQUIDITY_REPLAY_DIR": str(replay(cut))}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from orchestration.definitions import defs

        job = defs.resolve_job_def("materialize_everything")
        with dg.DagsterInstance.ephemeral() as instance:
            return job.execute_in_process(instance=instance, raise_on_error=False)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def incremental_dir(tmp_path_factory) -> Path:
    """2025-11-19, then 2026-01-31 in the same data dir: a normal incremental update."""
    data_dir = tmp_path_factory.mktemp("incremental")
    first = run_pipeline(data_dir, "2025-11-19")
    assert first.success, "the 2025-11-19 replay run failed"
    (data_dir / "serving_2025-11-19.duckdb").write_bytes((data_dir / "serving.duckdb").read_bytes())
    second = run_pipeline(data_dir, "2026-01-31")
    assert second.success, "the incremental 2026-01-31 replay run failed"
    return data_dir


@pytest.fixture(scope="session")
def fresh_dir(tmp_path_factory) -> Path:
    """2026-01-31 alone into an empty data dir."""
    data_dir = tmp_path_factory.mktemp("fresh")
    result = run_pipeline(data_dir, "2026-01-31")
    assert result.success, "the fresh 2026-01-31 replay run failed"
    return data_dir
