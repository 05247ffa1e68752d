"""On a DuckLake warehouse, building the marts and publishing them is one run's at a time, for every
machine that uses the catalog (`Backend.build_lock`), and a run publishes only marts it built whole
itself (`Backend.mark_build` / `built_by`): two runs never rebuild the marts at once, and a publish
never copies another run's tables, which this run's checks did not judge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.pg_server import SUPERUSER_PASSWORD
from ingest import backend
from orchestration import publish_gate
from orchestration.assets.serving import Superseded, publish_in_warehouse

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

# Another OS process (another machine, as far as the lock can tell) takes the build lock, says so
# on stdout, and holds it until it is killed.
HOLDER = """
import sys, time
from ingest import backend
lake = backend.parse(sys.argv[1], data_path=sys.argv[2])
with lake.build_lock(timeout=30) if sys.argv[3] == "build" else lake.table_lock(sys.argv[3], timeout=30):
    print("held", flush=True)
    time.sleep(600)
"""


def sqlite_lake(tmp_path: Path) -> backend.Backend:
    return backend.parse(f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}", data_path=str(tmp_path / "data"))


def pg_lake(pg, tmp_path: Path) -> backend.Backend:
    conninfo = pg.conninfo(pg.create_database("lake_build_lock"))
    return backend.parse(f"ducklake:postgres:{conninfo}", data_path=str(tmp_path / "data"))


def _hold(lake: backend.Backend, lock: str = "build") -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, lake.attach_url, lake.data_path, lock],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_the_build_lock_excludes_another_process_and_dies_with_it(catalog, request, tmp_path):
    lake = sqlite_lake(tmp_path) if catalog == "sqlite" else pg_lake(request.getfixturevalue("pg"), tmp_path)
    holder = _hold(lake)
    try:
        started, heard = time.monotonic(), []
        with pytest.raises(TimeoutError) as busy:
            with lake.build_lock(timeout=1.5, on_wait=heard.append):
                pytest.fail("took the build lock while another process held it")
        assert time.monotonic() - started >= 1.5
        assert heard == [backend.WAITING]  # said once, however long it waits
        message = str(busy.value)
        assert "another run held the build lock" in message and "nothing was built or published" in message
        assert SUPERUSER_PASSWORD not in message
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # dies holding it: no unlock ever runs
        holder.wait()
    with lake.build_lock(timeout=10):  # the dead holder's lock is gone (session / file released)
        with lake.build_lock(timeout=0.1):  # and it nests within one process
            pass


@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_a_raw_table_lock_excludes_another_process_on_that_table_only(catalog, request, tmp_path):
    """An upsert holds its raw table's lock (`Backend.table_lock`): another process's upsert of that
    table waits for it, one of another table does not, and neither is held up by the build lock."""
    lake = sqlite_lake(tmp_path) if catalog == "sqlite" else pg_lake(request.getfixturevalue("pg"), tmp_path)
    holder = _hold(lake, "raw.fred_observations")
    try:
        with pytest.raises(TimeoutError) as busy:
            with lake.table_lock("raw.fred_observations", timeout=1.0):
                pytest.fail("took the table lock while another process held it")
        message = str(busy.value)
        assert (
            "write lock of raw.fred_observations" in message and "nothing of this load was written" in message
        )
        assert SUPERUSER_PASSWORD not in message
        with lake.table_lock("raw.fed_ddp_observations", timeout=0.1), lake.build_lock(timeout=0.1):
            pass  # other tables, and the marts, are not held up
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()
    with lake.table_lock("raw.fred_observations", timeout=10):  # released with its dead holder
        pass


def _marts(lake: backend.Backend, value: int) -> None:
    with lake.open() as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS marts")
        con.execute(
            "CREATE OR REPLACE TABLE marts.m AS "
            f"SELECT DATE '2026-01-01' + i::INTEGER AS date, i + {value} AS v FROM range(30) r(i)"
        )


def test_a_run_publishes_only_marts_it_built_whole(tmp_path):
    lake = sqlite_lake(tmp_path)
    rules = {"m": publish_gate.MartRule("m", "date", ("v",))}
    _marts(lake, 0)
    with lake.open(read_only=True) as con:
        assert lake.built_by(con) is None  # no build recorded yet
    lake.mark_build("run-a", "built")
    assert publish_in_warehouse(lake, ["m"], rules, allow_shrink=False, run_id="run-a").replaced
    # run-a builds again; before its publish, run-b rebuilds the marts (not finished yet)
    _marts(lake, 1)
    lake.mark_build("run-a", "built")
    lake.mark_build("run-b", "building")
    _marts(lake, 2)
    with lake.open() as con:
        before = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0]
    with pytest.raises(Superseded, match="last built by run run-b \\(building\\), not by this run"):
        publish_in_warehouse(lake, ["m"], rules, allow_shrink=False, run_id="run-a")
    with pytest.raises(Superseded):  # nor does run-b publish a build that did not finish
        publish_in_warehouse(lake, ["m"], rules, allow_shrink=False, run_id="run-b")
    with lake.open(read_only=True) as con:
        assert con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0] == before
        assert con.execute("SELECT min(v) FROM serving.m").fetchone()[0] == 0  # still run-a's first
    lake.mark_build("run-b", "built")
    with lake.open(read_only=True) as con:
        assert lake.built_by(con) == ("run-b", "built")
    assert publish_in_warehouse(lake, ["m"], rules, allow_shrink=False, run_id="run-b").replaced
    with lake.open(read_only=True) as con:
        assert con.execute("SELECT min(v) FROM serving.m").fetchone()[0] == 2
