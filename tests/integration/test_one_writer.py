"""One writer to warehouse.duckdb: a second writer waits for the file lock (or times out cleanly)
instead of failing on DuckDB's own "Could not set lock on file"; every asset that writes the
warehouse, a Dagster materialization included, queues on that lock (there is no Dagster pool); the
instance config retries only runs whose process died."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import filelock
import pytest

from ingest import warehouse
from ingest.settings import PROJECT_ROOT
from orchestration.resources import WarehouseResource

# Holds a writer session (lock + open read-write DuckDB connection) until told to stop on stdin.
HOLDER = textwrap.dedent(
    """
    import sys
    from ingest import warehouse

    with warehouse.connect(sys.argv[1]) as con:
        con.execute("CREATE TABLE IF NOT EXISTS main.writes (who VARCHAR)")
        con.execute("INSERT INTO main.writes VALUES ('holder')")
        print("ready", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    """
)


def _readline(proc: subprocess.Popen, timeout: float = 30) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise AssertionError(f"holder process said nothing within {timeout}s")
    return proc.stdout.readline().strip()


@pytest.fixture
def holder(tmp_path: Path):
    """A separate process writing the warehouse and holding it open."""
    path = tmp_path / "warehouse.duckdb"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert _readline(proc) == "ready"
        yield proc, path
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_second_writer_times_out_on_the_file_lock_not_on_duckdbs_lock(holder, monkeypatch):
    proc, path = holder
    monkeypatch.setenv("LIQUIDITY_WAREHOUSE", str(path))
    # What the lock protects against: opening the file directly fails at once on DuckDB's own lock.
    with pytest.raises(duckdb.IOException, match="(?i)lock"):
        duckdb.connect(str(path))

    started = time.monotonic()
    with pytest.raises(filelock.Timeout):
        with warehouse.connect(path, lock_timeout=0.5):
            pass
    assert time.monotonic() - started >= 0.45, "the second writer did not wait for the lock"

    # The Dagster resource goes through the same lock.
    with pytest.raises(filelock.Timeout):
        with WarehouseResource(lock_timeout_seconds=0.3).get_connection():
            pass
    assert proc.poll() is None, "the holder must be unaffected"


def test_second_writer_waits_then_proceeds_once_released(holder):
    proc, path = holder
    outcome: dict = {}

    def second_writer() -> None:
        started = time.monotonic()
        try:
            with warehouse.connect(path, lock_timeout=30) as con:
                outcome["waited"] = time.monotonic() - started
                con.execute("INSERT INTO main.writes VALUES ('second')")
                outcome["rows"] = con.execute("SELECT who FROM main.writes ORDER BY who").fetchall()
        except Exception as exc:  # reported below, in the test thread
            outcome["error"] = repr(exc)

    worker = threading.Thread(target=second_writer)
    worker.start()
    time.sleep(0.5)
    assert worker.is_alive() and not outcome, "the second writer got in while the first held the file"
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert _readline(proc) == "released"
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert outcome["waited"] >= 0.45
    assert outcome["rows"] == [("holder",), ("second",)], "both writes landed, in order"
    assert proc.wait(timeout=10) == 0


def test_a_dagster_materialization_queues_on_the_file_lock_then_succeeds(holder, monkeypatch):
    """The file lock is the one single-writer mechanism (no Dagster pool): a materialization started
    while another process writes the warehouse waits for it, then runs, instead of failing."""
    proc, path = holder
    monkeypatch.setenv("LIQUIDITY_WAREHOUSE", str(path))
    from orchestration.assets.raw import series_catalog as catalog_asset

    outcome: dict = {}

    def materialize() -> None:
        started = time.monotonic()
        result = dg.materialize(
            [catalog_asset], resources={"warehouse": WarehouseResource()}, raise_on_error=False
        )
        outcome.update(success=result.success, waited=time.monotonic() - started)

    worker = threading.Thread(target=materialize)
    worker.start()
    time.sleep(2.0)
    assert worker.is_alive() and not outcome, "the materialization got in while another process held the file"
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert _readline(proc) == "released"
    worker.join(timeout=60)
    assert outcome == {"success": True, "waited": outcome["waited"]} and outcome["waited"] >= 2.0
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.series_catalog").fetchone()[0] > 0
        assert con.execute("SELECT who FROM main.writes").fetchall() == [("holder",)]


def test_instance_config_retries_only_crashed_runs(tmp_path: Path):
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_retries_enabled
        assert instance.run_retries_max_retries >= 1
        # Only a run whose process died is retried; a failed step is not retried as a whole run on
        # top of the transport's retries (a permanent error would cost minutes for nothing).
        assert not instance.run_retries_retry_on_asset_or_op_failure
