"""Separate OS processes on one DuckLake warehouse (PostgreSQL catalog, local Parquet), each started as
a user starts it (`python -m orchestration.cli run` / `... backfill`):

- a backfill and a scheduled run write at the same time, and both succeed (no lock: a refused commit
  is DuckLake's conflict, retried by `Backend.retry_conflicts`);
- two scheduled runs started together build one after the other and publish one checked build;
- a run killed with SIGKILL while dbt writes the lake leaves the last published version readable,
  and the next run completes and publishes what a fresh build publishes;
- the Dagster instance of deploy/dagster-postgres.yaml keeps the run and its events in PostgreSQL.

Every test starts from the 2025-11-19 replay published into a lake by one CLI run (`published`, whose
Dagster instance is the PostgreSQL one); tests that write get their own copy of that lake (a PostgreSQL
`TEMPLATE` copy of the catalog and a copy of the data folders), so one such run serves them all. The
embedded file's single writer (its file lock) is tested in tests/unit/test_ingest_warehouse.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from bench.mart_hashes import table_hashes
from bench.pg_server import SUPERUSER, SUPERUSER_PASSWORD, PgServer
from ingest import backend, warehouse
from orchestration.assets.dbt import mart_keys
from orchestration.assets.serving import PUBLISH_MESSAGE
from orchestration.jobs import AFTER_RUN_TAG
from tests.pipeline_support import clean_environ, replay, shared_run

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEPLOY_YAML = ROOT / "deploy" / "dagster-postgres.yaml"
FIRST, SECOND = "2025-11-19", "2026-01-31"
BACKFILL = ("fred", "WALCL", "2020-01-01", "2020-12-31")
RUN_TIMEOUT = 900
CONFLICT_LINE = "DuckLake commit conflict"


@dataclass
class Lake:
    root: Path
    catalog_db: str
    setting: str  # LIQUIDITY_WAREHOUSE
    data_path: str  # LIQUIDITY_LAKE_DATA_PATH

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def backend(self) -> backend.Backend:
        return backend.parse(self.setting, data_path=self.data_path)

    def env(self, cut: str, dagster_home: Path, **extra: str) -> dict[str, str]:
        """What a user exports for a CLI process on this lake (nothing inherited from the test's env)."""
        return {
            **clean_environ(),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "LIQUIDITY_DATA_DIR": str(self.data_dir),
            "LIQUIDITY_WAREHOUSE": self.setting,
            "LIQUIDITY_LAKE_DATA_PATH": self.data_path,
            "LIQUIDITY_REPLAY_DIR": str(replay(cut)),
            "DAGSTER_HOME": str(dagster_home),
            **extra,
        }


def lake_in(pg: PgServer, root: Path, db: str) -> Lake:
    """The lake whose catalog is PostgreSQL database `db` and whose files and data dir are in `root`."""
    return Lake(root, db, f"ducklake:postgres:{pg.conninfo(db)}", str(root / "lake_data"))


class Watched:
    """A CLI process whose output lines are collected, each with the monotonic time it arrived."""

    def __init__(self, args: list[str], env: dict[str, str], *, new_session: bool = False):
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=new_session,
        )
        self.lines: list[tuple[float, str]] = []
        self.ended: float | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line))
        self.proc.wait()
        self.ended = time.monotonic()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = RUN_TIMEOUT) -> float:
        """When the `count`-th line matching `pattern` arrived (fails if the process ends first)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [t for t, line in list(self.lines) if regex.search(line)]
            if len(hits) >= count:
                return hits[count - 1]
            if self.ended is not None:
                pytest.fail(f"ended (exit {self.proc.returncode}) before {pattern!r}:\n{self.output[-3000:]}")
            time.sleep(0.05)
        pytest.fail(f"no {pattern!r} within {timeout} s")

    def finish(self, timeout: float = RUN_TIMEOUT) -> int:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=30)
        return self.proc.returncode

    @property
    def output(self) -> str:
        return "".join(line for _, line in self.lines)


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


@dataclass
class Published:
    lake: Lake
    run: subprocess.CompletedProcess
    dagster_db: str
    dagster_home: Path


@pytest.fixture(scope="module")
def published(pg: PgServer, tmp_path_factory) -> Published:
    """The 2025-11-19 replay published into a lake by `python -m orchestration.cli run`, with the
    Dagster instance on PostgreSQL (DAGSTER_HOME/dagster.yaml = deploy/dagster-postgres.yaml)."""
    replay(FIRST)
    replay(SECOND)
    lake = lake_in(pg, tmp_path_factory.mktemp("published"), pg.create_database("lake_published"))
    dagster_db = pg.create_database("dagster_instance")
    home = lake.root / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY_YAML, home / "dagster.yaml")
    pg_env = {
        "DAGSTER_PG_HOST": pg.host,
        "DAGSTER_PG_PORT": str(pg.port),
        "DAGSTER_PG_DB": dagster_db,
        "DAGSTER_PG_USER": SUPERUSER,
        "DAGSTER_PG_PASSWORD": SUPERUSER_PASSWORD,
    }
    run = cli(["run"], lake.env(FIRST, home, **pg_env))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return Published(lake, run, dagster_db, home)


def copy_of(pg: PgServer, base: Lake, name: str, root: Path) -> Lake:
    """A private copy of `base`: its catalog database copied by PostgreSQL (TEMPLATE), its Parquet
    files and data dir copied, and the copy's catalog pointed at the copied files (DuckLake keeps
    file paths relative to the catalog's data_path)."""
    pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base.catalog_db}"')
    lake = lake_in(pg, root, name)
    shutil.copytree(base.data_path, lake.data_path)
    shutil.copytree(base.data_dir, lake.data_dir, ignore=shutil.ignore_patterns("dagster_home"))
    with psycopg.connect(pg.conninfo(name), autocommit=True) as con:
        updated = con.execute(
            "UPDATE ducklake_metadata SET value = %s WHERE key = 'data_path'",
            [lake.data_path.rstrip("/") + "/"],
        ).rowcount
    assert updated == 1
    return lake


def served(lake: Lake) -> dict[str, str]:
    return table_hashes(lake.setting, ("serving",), data_path=lake.data_path)


def publishes(lake: Lake) -> list[int]:
    where = lake.backend
    with where.open(read_only=True) as con:
        return [v for v, _ in where.published_versions(con, PUBLISH_MESSAGE)]


def fresh_build(tmp_path_factory) -> dict[str, str]:
    """The marts of an embedded build of both replays (the reference every lake build must equal)."""
    return table_hashes(str(shared_run(tmp_path_factory, FIRST, SECOND) / "warehouse.duckdb"), ("marts",))


def test_a_backfill_and_a_scheduled_run_write_the_lake_side_by_side(pg, published, tmp_path):
    lake = copy_of(pg, published.lake, "lake_side_by_side", tmp_path)
    source, series, start, end = BACKFILL
    # The backfill must really write: its window is taken out of raw first (the run's incremental
    # load asks only for the last weeks, so it does not put these rows back).
    window = "series_id = ? AND observation_date BETWEEN ? AND ?"
    with lake.backend.open() as con:
        removed = con.execute(
            f"SELECT count(*) FROM raw.fred_observations WHERE {window}", [series, start, end]
        )
        removed = removed.fetchone()[0]
        con.execute(f"DELETE FROM raw.fred_observations WHERE {window}", [series, start, end])
    assert removed > 40  # a year of a weekly series
    versions_before = publishes(lake)

    run = Watched(["run"], lake.env(SECOND, tmp_path / "run_home"))
    # As soon as the run writes raw tables, the backfill starts in its own process (own DAGSTER_HOME:
    # the backfill CLI does not use a Dagster instance).
    run.wait_for(r"raw__\w+ - ")
    fill = Watched(
        ["backfill", "--source", source, "--series", series, "--start", start, "--end", end],
        lake.env(SECOND, tmp_path / "backfill_home"),
    )
    assert fill.finish() == 0, fill.output[-3000:]
    assert run.finish() == 0, run.output[-5000:]
    published_at = run.wait_for(r"published to lake\.serving at DuckLake snapshot")

    # They overlapped: the backfill started after the run and was done before the run published.
    assert run.started < fill.started < fill.ended < published_at < run.ended
    assert f"{source} {series} {start}..{end}: ok rows={removed} inserted={removed} updated=0" in fill.output
    with lake.backend.open(read_only=True) as con:
        assert (
            con.execute(
                f"SELECT count(*) FROM raw.fred_observations WHERE {window}", [series, start, end]
            ).fetchone()[0]
            == removed
        )
        # The backfill's own load_log row (the first run inserted WALCL's whole history, the
        # scheduled run only its last weeks).
        logged = con.execute(
            "SELECT count(*) FROM raw.load_log WHERE series = ? AND status = 'ok' AND inserted = ?",
            [series, removed],
        ).fetchone()[0]
        last_daily = con.execute("SELECT max(date) FROM serving.liquidity_daily").fetchone()[0]
    assert logged == 1
    # The run published a new version, of the later snapshot.
    after = publishes(lake)
    assert len(after) == len(versions_before) + 1, (versions_before, after)
    assert str(last_daily) >= "2026-01-2"
    conflicts = run.output.count(CONFLICT_LINE) + fill.output.count(CONFLICT_LINE)
    print(
        f"side by side: the backfill put back {removed} rows; {conflicts} DuckLake commit conflicts retried"
    )


def read_published_once(lake: Lake, root: Path) -> dict:
    """One read of every published mart by a BI reader process (tests/team/lake_reader.py)."""
    out, stop = root / "reads.jsonl", root / "stop"
    tables = ",".join(k.path[-1] for k in mart_keys())
    reader = subprocess.Popen(
        [sys.executable, str(HERE / "lake_reader.py"), str(out), str(stop), tables],
        env={
            **clean_environ(),
            "LIQUIDITY_WAREHOUSE": lake.setting,
            "LIQUIDITY_LAKE_DATA_PATH": lake.data_path,
        },
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and out.read_text().strip()) and time.monotonic() < deadline:
            assert reader.poll() is None, "the reader process died"
            time.sleep(0.1)
    finally:
        stop.touch()
        reader.wait(timeout=60)
    first = json.loads(out.read_text().splitlines()[0])
    out.unlink()
    stop.unlink()
    return first


def _group_is_gone(pgid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_run_killed_while_dbt_writes_the_lake_leaves_the_published_version_and_the_next_run_completes(
    pg, published, tmp_path, tmp_path_factory, monkeypatch
):
    lake = copy_of(pg, published.lake, "lake_killed", tmp_path)
    before = read_published_once(lake, tmp_path)
    assert "error" not in before and len(before["tables"]) == len(mart_keys())
    versions = publishes(lake)
    home = tmp_path / "dagster_home"  # the killed run and the next share it, as `make run` does

    run = Watched(["run"], lake.env(SECOND, home), new_session=True)
    # dbt (a child process) has committed three marts tables into the lake and is writing the next.
    run.wait_for(r"OK created sql table model", count=3)
    os.killpg(run.proc.pid, signal.SIGKILL)
    assert run.finish(timeout=60) == -signal.SIGKILL
    assert _group_is_gone(run.proc.pid), "a process of the killed run (dbt?) is still alive"
    assert "published to lake.serving" not in run.output

    # A BI reader still reads the last published version, whole.
    assert read_published_once(lake, tmp_path) == before
    assert publishes(lake) == versions

    nxt = cli(["run"], lake.env(SECOND, home))
    assert nxt.returncode == 0, nxt.stdout[-3000:] + nxt.stderr[-3000:]
    # orchestration/run_recovery.py found the dead run and marked it failed.
    assert "had been killed: marked it failed" in nxt.stderr
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        runs = [r.dagster_run for r in instance.get_run_records()]
    # Each `make run` is two runs (orchestration/cli.py `staged_runs`): the killed one's raw loads
    # finished; its dbt run is the one marked failed. The next one's two runs succeeded.
    failed = [r for r in runs if r.status.value == "FAILURE"]
    assert len(runs) == 4 and len(failed) == 1, [(r.run_id, r.status.value) for r in runs]
    assert AFTER_RUN_TAG in failed[0].tags and all(
        r.status.value == "SUCCESS" for r in runs if r not in failed
    )

    # It published once more, and what it published equals a fresh build of the same snapshots.
    assert len(publishes(lake)) == len(versions) + 1
    want = fresh_build(tmp_path_factory)
    assert table_hashes(lake.setting, ("marts",), data_path=lake.data_path) == want
    assert {k.replace("serving.", "marts."): v for k, v in served(lake).items()} == want


def test_the_dagster_instance_on_postgresql_stores_the_run_and_its_events(pg, published):
    """deploy/dagster-postgres.yaml as DAGSTER_HOME/dagster.yaml: run, event log and schedule storage
    in PostgreSQL, the connection from DAGSTER_PG_* (no password in the file or in any output)."""
    assert "run " in published.run.stdout and ": SUCCESS" in published.run.stdout
    with psycopg.connect(pg.conninfo(published.dagster_db)) as con:
        runs = con.execute("SELECT run_id, pipeline_name, status FROM runs").fetchall()
        # `make run`: the raw loads, then the models, publish and report (orchestration/cli.py).
        assert [(job, status) for _, job, status in runs] == [("materialize_everything", "SUCCESS")] * 2
        kinds = dict(
            con.execute(
                "SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = ANY(%s) GROUP BY 1",
                [[run_id for run_id, _, _ in runs]],
            ).fetchall()
        )
        tables = {r[0] for r in con.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    events = dg.DagsterEventType
    assert kinds.get(events.RUN_SUCCESS.value) == 2  # stored as PIPELINE_SUCCESS
    assert kinds.get(events.ASSET_MATERIALIZATION.value, 0) >= 30  # raw, dbt models, serving, report
    assert kinds.get(events.ASSET_CHECK_EVALUATION.value, 0) > 100  # dbt tests and Python checks
    assert {"runs", "event_logs", "jobs", "job_ticks"} <= tables  # run, event-log and schedule storage
    # Nothing went to the SQLite storage a default DAGSTER_HOME would hold.
    assert not (published.dagster_home / "history").exists()
    assert not list(published.dagster_home.rglob("*.db"))
    # The password (DAGSTER_PG_PASSWORD, and the catalog conninfo's) reaches no output and no file.
    assert SUPERUSER_PASSWORD not in published.run.stdout + published.run.stderr
    leaked = [
        p
        for p in published.lake.root.rglob("*")
        if p.is_file() and p.stat().st_size < 50_000_000 and SUPERUSER_PASSWORD.encode() in p.read_bytes()
    ]
    assert not leaked, leaked


def _span(run: Watched, start: str, end: str) -> tuple[float, float]:
    return run.wait_for(start, timeout=1), run.wait_for(end, timeout=1)


def test_two_scheduled_runs_started_together_build_one_after_the_other_and_publish_one_checked_build(
    pg, published, tmp_path, tmp_path_factory
):
    """Two machines (own data dir, own Dagster instance) run the scheduled job on one lake at the
    same moment. Their dbt builds never overlap (`Backend.build_lock`), and what is published is one
    build that its own run checked: a run whose marts another run rebuilt before its publish
    publishes nothing and says so (`Superseded`). Both load the same new release into the same raw
    tables at once: each key lands once (`Backend.table_lock`), so neither fails a raw check."""
    lake = copy_of(pg, published.lake, "lake_two_runs", tmp_path)
    other_data = tmp_path / "machine_b"
    shutil.copytree(lake.data_dir, other_data)
    versions = publishes(lake)
    runs = [
        Watched(["run"], lake.env(SECOND, tmp_path / "home_a")),
        Watched(["run"], lake.env(SECOND, tmp_path / "home_b", LIQUIDITY_DATA_DIR=str(other_data))),
    ]
    codes = [run.finish() for run in runs]
    outputs = [run.output for run in runs]
    superseded = "not by this run: nothing was published"
    for code, output in zip(codes, outputs, strict=True):
        assert code == 0 or superseded in output, output[-5000:]
    assert 0 in codes, outputs[0][-3000:] + outputs[1][-3000:]
    assert any("waiting for the lake's build lock" in output for output in outputs)
    builds = sorted(_span(run, r"Running dbt command", r"Finished dbt command") for run in runs)
    assert builds[0][1] <= builds[1][0], f"the dbt builds overlapped: {builds}"
    with lake.backend.open(read_only=True) as con:
        for table, spec in warehouse.TABLES.items():
            keys = ", ".join(spec.key)
            twice = con.execute(f"SELECT count(*) - count(DISTINCT ({keys})) FROM {table}").fetchone()[0]
            assert twice == 0, f"{table}: {twice} keys were loaded twice by the two runs"
    # One new version, equal to a fresh build of the same snapshots (the second publish, if any,
    # found the same marts already published and committed nothing).
    assert len(publishes(lake)) == len(versions) + 1
    want = fresh_build(tmp_path_factory)
    assert {k.replace("serving.", "marts."): v for k, v in served(lake).items()} == want
    print(
        f"two runs: exit codes {codes}; dbt builds {[round(b - a, 1) for a, b in builds]} s, one after the other"
    )
