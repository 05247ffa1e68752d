"""Full pipeline runs for the integration and reliability suites (imported, not a conftest, because
neither suite sees the other's fixtures).

- `run_pipeline(data_dir, cut)`: one `materialize_everything` run of a replay snapshot, in process,
  through the same Dagster job `make run` uses (an ephemeral Dagster instance).
- `shared_run(tmp_path_factory, *cuts)`: the data dir after running `cuts` in order, built once per
  pytest session and reused by every suite that asks for the same cuts (a run costs ~35 s). A
  longer sequence starts from a copy of its prefix, so ("2025-11-19",) and ("2025-11-19",
  "2026-01-31") cost two runs, not three. Callers only read these dirs: copy one
  (`copy_data_dir`) before running anything into it.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest

from ingest import settings
from ingest.settings import PROJECT_ROOT

REPLAY_ROOT = (PROJECT_ROOT.parent / "shared" / "data" / "replay").resolve()
MANIFEST = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"
# Settings a developer may have exported; session-wide runs must not depend on them.
ENV_PREFIXES = ("LIQUIDITY_", "FRED_", "COINGECKO_", "DAGSTER_")


def replay(cut: str) -> Path:
    path = REPLAY_ROOT / cut
    if not path.is_dir():
        pytest.skip(f"replay snapshot {path} is absent (../shared/data is not beside the project)")
    return path


def run_pipeline(
    data_dir: Path,
    cut: str,
    monkeypatch: pytest.MonkeyPatch | None = None,
    *,
    replay_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """One `materialize_everything` run of snapshot `cut` into `data_dir`; `replay_dir` replaces the
    recorded snapshot (a modified copy built by a test, named after its cut date), `env` adds settings."""
    if not MANIFEST.exists():
        pytest.fail("dbt manifest missing: run `make prepare` (make test does it)")
    env = {
        "LIQUIDITY_DATA_DIR": str(data_dir),
        "LIQUIDITY_REPLAY_DIR": str(replay_dir or replay(cut)),
        **(env or {}),
    }
    with settings.exported(env):
        from orchestration.definitions import defs

        job = defs.resolve_job_def("materialize_everything")
        with dg.DagsterInstance.ephemeral() as instance:
            return job.execute_in_process(instance=instance, raise_on_error=False)


def clean_environ() -> dict[str, str]:
    """os.environ without any pipeline or Dagster setting (for subprocesses)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}


@contextmanager
def _without_pipeline_env():
    saved = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


def run_isolated(data_dir: Path, cut: str, **options) -> dg.ExecuteInProcessResult:
    """`run_pipeline` without any pipeline setting a developer may have exported."""
    with _without_pipeline_env():
        return run_pipeline(data_dir, cut, **options)


def copy_data_dir(source: Path, target: Path) -> Path:
    """A private copy of a data dir (warehouse, serving file, landing archive)."""
    shutil.copytree(source, target)
    return target


_SHARED: dict[tuple[str, ...], Path] = {}


def shared_run(tmp_path_factory: pytest.TempPathFactory, *cuts: str) -> Path:
    """The data dir after successful runs of `cuts` in order; built once per session (see above)."""
    if cuts in _SHARED:
        return _SHARED[cuts]
    for cut in cuts:
        replay(cut)  # skip before any work when a snapshot is absent
    data_dir = tmp_path_factory.mktemp("run_" + "_then_".join(cuts))
    if len(cuts) > 1:
        data_dir.rmdir()
        copy_data_dir(shared_run(tmp_path_factory, *cuts[:-1]), data_dir)
    with _without_pipeline_env():
        result = run_pipeline(data_dir, cuts[-1])
    assert result.success, f"the {cuts[-1]} replay run (after {cuts[:-1]}) failed"
    _SHARED[cuts] = data_dir
    return data_dir
