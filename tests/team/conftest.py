"""The team setup: a throwaway PostgreSQL (bench/pg_server.py) holding a DuckLake catalog, and the
2025-11-19 then 2026-01-31 replays run into it with a BI reader process watching the published marts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.pg_server import PgServer, postgres_server
from orchestration.assets.dbt import mart_keys
from tests.pipeline_support import clean_environ, replay, run_pipeline

CUTS = ("2025-11-19", "2026-01-31")
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def pg() -> PgServer:
    try:
        with postgres_server() as server:
            yield server
    except RuntimeError as exc:
        pytest.skip(str(exc))


@dataclass
class LakeRuns:
    data_dir: Path
    setting: str  # LIQUIDITY_WAREHOUSE
    data_path: str  # LIQUIDITY_LAKE_DATA_PATH
    results: list  # one ExecuteInProcessResult per cut
    reads: list[dict]  # what the reader process saw, in order
    logs: str  # everything the runs printed

    @property
    def env(self) -> dict[str, str]:
        return {"LIQUIDITY_WAREHOUSE": self.setting, "LIQUIDITY_LAKE_DATA_PATH": self.data_path}


@pytest.fixture(scope="session")
def lake_runs(pg: PgServer, tmp_path_factory) -> LakeRuns:
    """Both replays into one DuckLake warehouse (PostgreSQL catalog, local Parquet), while a reader
    process reads the published marts the whole time."""
    for cut in CUTS:
        replay(cut)
    root = tmp_path_factory.mktemp("lake")
    catalog = pg.create_database("lake_catalog")
    setting = f"ducklake:postgres:{pg.conninfo(catalog)}"
    data_path = str(root / "lake_data")
    data_dir = root / "data"
    tables = ",".join(k.path[-1] for k in mart_keys())
    out, stop = root / "reads.jsonl", root / "stop"
    reader = subprocess.Popen(
        [sys.executable, str(HERE / "lake_reader.py"), str(out), str(stop), tables],
        env={**clean_environ(), "LIQUIDITY_WAREHOUSE": setting, "LIQUIDITY_LAKE_DATA_PATH": data_path},
        cwd=HERE.parents[1],
    )
    results = []
    capture = root / "logs.txt"
    try:
        for cut in CUTS:
            results.append(
                run_pipeline(
                    data_dir,
                    cut,
                    env={"LIQUIDITY_WAREHOUSE": setting, "LIQUIDITY_LAKE_DATA_PATH": data_path},
                )
            )
            assert results[-1].success, f"the {cut} run into the lake failed"
        time.sleep(1.0)  # a few reads of the final version
    finally:
        stop.touch()
        reader.wait(timeout=60)
    logs = []
    for result in results:
        for event in result.all_events:
            logs.append(str(event.message or ""))
            logs.append(repr(event))  # the whole event: metadata, failures, step output
    capture.write_text("\n".join(logs))
    reads = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return LakeRuns(data_dir, setting, data_path, results, reads, "\n".join(logs))
