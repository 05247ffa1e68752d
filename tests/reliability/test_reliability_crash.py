"""Crash safety: `make run`'s entry point (`python -m orchestration.cli run`, replay 2026-01-31, on a
data dir that already holds a complete 2025-11-19 run) killed with SIGKILL, to its whole process
group, during ingest, during `dbt build` and during publish; then rerun.

Each phase is detected from outside, the way an operator would see it, polling every ~2 ms: the
run's Dagster event log (`$DAGSTER_HOME/history/runs/<run_id>.db`, SQLite, read-only: which steps
started and finished), the files in the data dir (`warehouse.duckdb.wal`: a writer has
uncheckpointed writes; `.serving.duckdb.<pid>.tmp`: publish is building the new serving file), the
process tree (psutil: the `dbt build` child) and dbt's own log (`$DBT_LOG_PATH/dbt.log`, JSON lines:
which models it has built). No hook in production code, and nothing that depends on what the CLI
prints. After the kill the test checks,
again from outside, that the phase it meant to hit is the one it hit (e.g. the temporary serving
file is still on disk, so the rename had not happened).

After each kill: serving.duckdb opens read-only and its marts are, table for table, either the
complete 2025-11-19 version or the reference 2026-01-31 version (never torn, never mixed); the
warehouse opens (its WAL replays) and its single-writer lock is free; a rerun exits 0; then the
raw layer has no duplicate key and equals, key for key and value for value, a reference run of the
same snapshots that was never killed (excluding `fetched_at` and `updated_at`, which record when
this machine fetched a row, and the `raw.load_log` table, a log of every run including the killed
one); the marts, in the warehouse and in serving.duckdb, equal the reference marts; no temporary
serving file is left behind.

Cost: the 2025-11-19 base run and the reference run are shared with the integration suite
(`tests/pipeline_support.shared_run`); each scenario copies the base data dir, so it costs the
killed part of a run plus one full rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import psutil
import pytest
from reliability_support import table_hashes

from ingest import warehouse
from ingest.settings import PROJECT_ROOT
from tests.pipeline_support import clean_environ, copy_data_dir, replay, shared_run

BASE, CUT = "2025-11-19", "2026-01-31"
# Columns that record when this machine fetched or last changed a row: they differ between any two runs.
RUN_SPECIFIC = ("fetched_at", "updated_at")
POLL_S = 0.002
KILLED_RUN_TIMEOUT_S = 300
RERUN_TIMEOUT_S = 600
EVENT_LOG_EVERY = 10  # polls between reads of the Dagster event log (~20 ms)
ATTEMPTS = 3


class WatchedRun:
    """`python -m orchestration.cli run` in a new session (own process group), watched from outside."""

    def __init__(self, data_dir: Path, logs: Path, name: str):
        self.data_dir = data_dir
        self.err_path = logs / f"{name}.stderr"
        env = {
            **clean_environ(),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "LIQUIDITY_DATA_DIR": str(data_dir),
            "LIQUIDITY_REPLAY_DIR": str(replay(CUT)),
        }
        self._dbs_before = set(self._run_dbs())
        # dbt appends to the dbt.log of the data dir's dbt target folder (reused by every run): only
        # what this run writes after these sizes counts
        self._dbt_log_sizes = {p.resolve(): p.stat().st_size for p in data_dir.glob("**/dbt.log")}
        with open(logs / f"{name}.stdout", "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orchestration.cli", "run"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.t0 = time.monotonic()
        self._err = open(self.err_path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in close()
        self.log = ""
        self._polls = 0
        self._events: dict[Path, sqlite3.Connection] = {}
        self._last_event: dict[Path, int] = {}
        self.started: set[str] = set()
        self.finished: set[str] = set()
        self.dbt_marts: list[str] = []  # marts `dbt build` reported built, in its own log
        self._dbt_log = None
        self._dbt_partial = ""
        self.run_id: str | None = None
        self.wal = 0  # bytes in warehouse.duckdb.wal (0 also when there is none)
        self.serving_tmp: list[str] = []
        self.serving_tmp_bytes: dict[str, int] = {}  # the new serving file's files (db, WAL): bytes
        self.dbt: psutil.Process | None = None
        self.first_tmp_bytes: dict[str, int] = {}

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def poll(self) -> None:
        self.log += self._err.read()
        if self._polls % EVENT_LOG_EVERY == 0:
            self._read_step_events()
        self._polls += 1
        names = os.listdir(self.data_dir)
        try:
            self.wal = (
                os.stat(self.data_dir / "warehouse.duckdb.wal").st_size
                if "warehouse.duckdb.wal" in names
                else 0
            )
        except FileNotFoundError:
            self.wal = 0
        self.serving_tmp = sorted(n for n in names if n.startswith(".serving.duckdb.") and n.endswith(".tmp"))
        self.serving_tmp_bytes = {}
        for name in names:
            if name.startswith(".serving.duckdb."):
                try:
                    self.serving_tmp_bytes[name] = os.stat(self.data_dir / name).st_size
                except FileNotFoundError:
                    pass

    def _run_dbs(self) -> list[Path]:
        runs = self.data_dir / "dagster_home" / "history" / "runs"
        return [p for p in runs.glob("*.db") if p.stem != "index"]

    def _read_step_events(self) -> None:
        """New step events of this `make run` from its Dagster event logs: the run databases that
        appeared after it started (the raw loads' run, then the run of the models, publish and
        report: orchestration/cli.py `staged_runs`). `run_id` is the first, whose loads the load log
        names."""
        for db in sorted(set(self._run_dbs()) - self._dbs_before - set(self._events), key=_created):
            self.run_id = self.run_id or db.stem
            self._events[db] = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
            self._last_event[db] = 0
        for db, con in self._events.items():
            try:
                rows = con.execute(
                    "SELECT id, dagster_event_type, step_key FROM event_logs WHERE id > ? AND "
                    "dagster_event_type IN ('STEP_START', 'STEP_SUCCESS', 'STEP_FAILURE') ORDER BY id",
                    [self._last_event[db]],
                ).fetchall()
            except sqlite3.OperationalError:  # the table is not created yet, or a writer holds a lock
                continue
            for event_id, kind, step in rows:
                (self.started if kind == "STEP_START" else self.finished).add(step)
                self._last_event[db] = event_id

    def dbt_build(self) -> psutil.Process | None:
        """The running `dbt build` process among the run's descendants (searched once dbt started)."""
        if self.dbt is None and "dbt_models" in self.started:
            try:
                for child in psutil.Process(self.proc.pid).children(recursive=True):
                    cmd = child.cmdline()
                    if "build" in cmd and any(Path(part).name == "dbt" for part in cmd[:2]):
                        self.dbt = child
                        break
            except psutil.Error:
                return None
        try:
            if self.dbt is not None and self.dbt.status() != psutil.STATUS_ZOMBIE:
                return self.dbt
        except psutil.Error:
            pass
        return None

    def dbt_marts_built(self) -> list[str]:
        """Marts the running `dbt build` has finished, read as it writes them from its own log
        (`$DBT_LOG_PATH/dbt.log`, JSON lines; Dagster relays these events only when dbt ends)."""
        if self._dbt_log is None:
            dbt = self.dbt_build()
            try:  # DBT_LOG_PATH may be relative to dbt's working directory (the dbt project)
                path = Path(dbt.cwd(), dbt.environ()["DBT_LOG_PATH"], "dbt.log") if dbt is not None else None
            except (psutil.Error, KeyError):
                path = None
            if path is None or not path.exists():
                return self.dbt_marts
            self._dbt_log = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed in close()
            self._dbt_log.seek(self._dbt_log_sizes.get(path.resolve(), 0))
        lines = (self._dbt_partial + self._dbt_log.read()).split("\n")
        self._dbt_partial = lines.pop()
        for line in lines:
            if '"LogModelResult"' in line:
                node = json.loads(line)["data"]["node_info"]
                if node["node_relation"]["schema"] == "marts" and node["node_status"] == "success":
                    self.dbt_marts.append(node["node_name"])
        return self.dbt_marts

    def kill_when(self, trigger: Callable[[WatchedRun], dict | None]) -> dict | None:
        """Poll until `trigger` returns evidence, then SIGKILL the whole process group at once.
        None: the run ended first (the observer was not scheduled during a short phase)."""
        while self.elapsed < KILLED_RUN_TIMEOUT_S:
            self.poll()
            evidence = trigger(self)
            if evidence is not None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                evidence["at_s"] = round(self.elapsed, 2)
                self.finish(timeout=30)
                self.poll()  # whatever the process had written before it died
                self._read_step_events()
                return evidence
            if self.proc.poll() is not None:
                return None
            time.sleep(POLL_S)
        self.finish(timeout=5, kill=True)
        pytest.fail(f"the killed run did not reach the phase in {KILLED_RUN_TIMEOUT_S} s:\n{self.tail()}")

    def wait(self) -> int:
        """Wait for the run to end (a hung rerun fails the test instead of hanging it)."""
        while self.proc.poll() is None:
            self.poll()
            if self.elapsed > RERUN_TIMEOUT_S:
                self.finish(timeout=5, kill=True)
                pytest.fail(f"the rerun did not end within {RERUN_TIMEOUT_S} s:\n{self.tail()}")
            time.sleep(0.5)
        self.finish(timeout=5)
        self.poll()
        return self.proc.returncode

    def finish(self, timeout: float, kill: bool = False) -> None:
        if kill and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=timeout)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(line[:300] for line in self.log.splitlines()[-lines:])

    def close(self) -> None:
        self._err.close()
        for con in self._events.values():
            con.close()
        if self._dbt_log is not None:
            self._dbt_log.close()


def _created(db: Path) -> float:
    try:
        return db.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def group_survivors(pgid: int, timeout: float = 10.0) -> list[str]:
    """Processes still in the killed process group once the kernel had time to reap them."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(" ".join(proc.info["cmdline"] or [])[:120])
            except (ProcessLookupError, psutil.Error):
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def raw_differences(got: Path, reference: Path) -> dict[str, dict[str, int]]:
    """Per raw table: rows in the reference, duplicate keys here, reference rows missing here
    (lost) and rows here the reference lacks (extra), comparing every column but RUN_SPECIFIC."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{got}' AS got (READ_ONLY)")
        con.execute(f"ATTACH '{reference}' AS ref (READ_ONLY)")
        out = {}
        for spec in warehouse.TABLES.values():
            table = spec.name.split(".", 1)[1]
            cols = f"* EXCLUDE ({', '.join(RUN_SPECIFIC)})"
            keys = ", ".join(spec.key)
            out[spec.name] = {
                "rows": con.execute(f"SELECT count(*) FROM ref.raw.{table}").fetchone()[0],
                "dup": con.execute(
                    f"SELECT count(*) - count(DISTINCT ({keys})) FROM got.raw.{table}"
                ).fetchone()[0],
                "lost": con.execute(
                    f"SELECT count(*) FROM (SELECT {cols} FROM ref.raw.{table} "
                    f"EXCEPT ALL SELECT {cols} FROM got.raw.{table})"
                ).fetchone()[0],
                "extra": con.execute(
                    f"SELECT count(*) FROM (SELECT {cols} FROM got.raw.{table} "
                    f"EXCEPT ALL SELECT {cols} FROM ref.raw.{table})"
                ).fetchone()[0],
            }
        out["raw.series_catalog"] = {
            "rows": con.execute("SELECT count(*) FROM ref.raw.series_catalog").fetchone()[0],
            "dup": 0,
            "lost": con.execute(
                "SELECT count(*) FROM (FROM ref.raw.series_catalog EXCEPT ALL FROM got.raw.series_catalog)"
            ).fetchone()[0],
            "extra": con.execute(
                "SELECT count(*) FROM (FROM got.raw.series_catalog EXCEPT ALL FROM ref.raw.series_catalog)"
            ).fetchone()[0],
        }
        return out
    finally:
        con.close()


# --- what each kill waits for --------------------------------------------------------------------


def during_ingest(run: WatchedRun, marts: list[str]) -> dict | None:
    """The FRED load (ten series, one transaction each) is running and has committed to the
    warehouse: a non-empty WAL (nothing is checkpointed before the step closes its connection)."""
    step = "raw__fred_observations"
    if step in run.started and step not in run.finished and "dbt_models" not in run.started and run.wal > 0:
        return {"step": step, "wal_bytes": run.wal}
    return None


def during_dbt(run: WatchedRun, marts: list[str]) -> dict | None:
    """`dbt build` is running and has rebuilt at least one mart, but not all of them."""
    if "dbt_models" not in run.started or "dbt_models" in run.finished:
        return None
    built = run.dbt_marts_built()
    dbt = run.dbt_build()
    if dbt is not None and 0 < len(set(built)) < len(marts):
        return {"dbt_pid": dbt.pid, "marts_built": sorted(set(built))}
    return None


def during_publish(run: WatchedRun, marts: list[str]) -> dict | None:
    """The new serving file is being written beside serving.duckdb: its WAL holds rows, or the file
    has grown past the one block DuckDB writes when it creates it."""
    if "serving__serving_duckdb" not in run.started or not run.serving_tmp:
        return None
    tmp = run.serving_tmp[0]
    sizes = run.serving_tmp_bytes
    if sizes.get(tmp + ".wal", 0) > 0 or sizes.get(tmp, 0) > run.first_tmp_bytes.setdefault(
        tmp, sizes.get(tmp, 0)
    ):
        return {"tmp": tmp, "bytes": dict(sizes)}
    return None


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def marts() -> list[str]:
    """The marts the pipeline publishes (the serving asset's own list)."""
    from orchestration.assets.dbt import mart_keys

    return [key.path[-1] for key in mart_keys()]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> Path:
    """A data dir holding a complete 2025-11-19 run (shared, read only: scenarios copy it)."""
    return shared_run(tmp_path_factory, BASE)


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> Path:
    """2025-11-19 then 2026-01-31, never killed."""
    return shared_run(tmp_path_factory, BASE, CUT)


@pytest.fixture(scope="module")
def versions(base_dir, reference_dir, marts) -> dict[str, dict]:
    old = table_hashes(base_dir / "serving.duckdb")
    new = table_hashes(reference_dir / "serving.duckdb")
    assert old != new, "the two snapshots must publish different marts, or old/new cannot be told apart"
    assert sorted(name.split(".")[-1] for name in new) == sorted(marts)
    return {"old": old, "new": new}


@pytest.fixture(scope="module")
def base_marts(base_dir) -> dict:
    """The 2025-11-19 warehouse marts' hashes: what a mart not yet rebuilt by dbt still holds."""
    return table_hashes(base_dir / "warehouse.duckdb", schema="marts")


# --- the scenarios -------------------------------------------------------------------------------

PHASES = {"ingest": during_ingest, "dbt": during_dbt, "publish": during_publish}


@pytest.mark.parametrize("phase", list(PHASES))
def test_killed_run_leaves_a_whole_serving_file_and_a_rerun_recovers(
    phase, marts, base_dir, reference_dir, versions, base_marts, tmp_path, scenario
):
    # A phase of ~0.1 s (publish) can pass while the observer is not scheduled on a busy machine:
    # then the run completes unharmed and the scenario is tried again on a fresh copy.
    for attempt in range(1, ATTEMPTS + 1):
        data_dir = copy_data_dir(base_dir, tmp_path / f"data{attempt}")
        serving, wh = data_dir / "serving.duckdb", data_dir / "warehouse.duckdb"
        serving_before = sha256_file(serving)
        killed = WatchedRun(data_dir, tmp_path, f"killed{attempt}")
        try:
            hit = killed.kill_when(lambda run: PHASES[phase](run, marts))
        finally:
            killed.close()
        if hit is not None:
            break
        assert killed.proc.returncode == 0, killed.tail()
    else:
        pytest.fail(f"the {phase} phase was not observed in {ATTEMPTS} runs")
    assert killed.proc.returncode == -signal.SIGKILL
    assert group_survivors(killed.proc.pid) == [], "a process of the killed run survived the SIGKILL"
    observed = [f"hit {phase} at {hit['at_s']:.1f} s" + (f" (attempt {attempt})" if attempt > 1 else "")]

    # The phase hit is the phase meant: what the dead run left behind says where it stopped.
    leftover_tmp = sorted(p.name for p in data_dir.glob(".serving.duckdb.*.tmp"))
    if phase == "ingest":
        assert "raw__fred_observations" not in killed.finished
        assert "dbt_models" not in killed.started and not leftover_tmp
        assert (data_dir / "warehouse.duckdb.wal").stat().st_size > 0, "killed with no uncheckpointed write"
        assert killed.run_id, "the killed run's id was not in its log"
        fred = "SELECT max(updated_at), count(DISTINCT series_id) FROM raw.fred_observations"
        last_base_write, series = query(base_dir / "warehouse.duckdb", fred)[0]
        # Read-only: DuckDB replays the WAL in memory, so this is what the killed run had committed.
        written = query(
            wh,
            "SELECT count(*), count(DISTINCT series_id) FROM raw.fred_observations WHERE updated_at > ?",
            [last_base_write],
        )[0]
        logged = query(
            wh, "SELECT source, count(*) FROM raw.load_log WHERE run_id = ? GROUP BY 1", [killed.run_id]
        )
        # Mid-load: FRED work of this run committed (rows, or a logged no-change series), step unfinished.
        assert written[0] > 0 or dict(logged).get("fred", 0) > 0
        observed.append(
            f"(FRED step running, WAL {(data_dir / 'warehouse.duckdb.wal').stat().st_size} B; committed "
            f"before the kill: {written[0]} FRED rows in {written[1]} of {series} series, load_log "
            f"{dict(sorted(logged))})"
        )
    elif phase == "dbt":
        assert "dbt_models" not in killed.finished and not leftover_tmp
        assert (
            not psutil.pid_exists(hit["dbt_pid"])
            or psutil.Process(hit["dbt_pid"]).status() == psutil.STATUS_ZOMBIE
        )
        marts_now = table_hashes(wh, schema="marts")
        rebuilt = sorted(t.split(".")[-1] for t, h in marts_now.items() if h != base_marts[t])
        observed.append(
            f"(dbt build pid {hit['dbt_pid']} running; {len(hit['marts_built'])} of {len(marts)} marts "
            f"rebuilt: {', '.join(hit['marts_built'])}; warehouse marts changed since 2025-11-19: "
            f"{', '.join(rebuilt) or 'none'})"
        )
    else:
        assert hit["tmp"] in leftover_tmp, "the temporary serving file was gone: the rename had happened"
        observed.append(f"(new serving file half written: {hit['bytes']}; left on disk, never renamed)")

    # serving.duckdb: a complete version, old or new, never torn or mixed.
    now = table_hashes(serving)  # opens read-only
    version = next((name for name, hashes in versions.items() if hashes == now), None)
    assert version is not None, f"serving.duckdb after the kill is neither version: {now}"
    if phase in ("ingest", "dbt"):
        assert sha256_file(serving) == serving_before, "serving.duckdb changed before publish"
    observed.append(f"serving={version}")

    # The warehouse opens (its WAL replays) and the single-writer lock is free.
    counts = query(wh, "SELECT count(*) FROM raw.fred_observations")
    assert counts[0][0] > 0
    with warehouse.writer_lock(wh, timeout=5):
        pass

    rerun = WatchedRun(data_dir, tmp_path, "rerun")
    try:
        code = rerun.wait()
    finally:
        rerun.close()
    assert code == 0, rerun.tail()
    assert "had been killed: marked it failed" in rerun.log
    observed.append(f"rerun exit {code} in {rerun.elapsed:.0f} s (marked the dead run failed)")

    diffs = raw_differences(wh, reference_dir / "warehouse.duckdb")
    bad = {t: d for t, d in diffs.items() if d["dup"] or d["lost"] or d["extra"]}
    assert not bad, f"raw layer differs from the reference run: {bad}"
    assert table_hashes(serving) == versions["new"]
    assert table_hashes(wh, schema="marts") == table_hashes(
        reference_dir / "warehouse.duckdb", schema="marts"
    )
    assert not list(data_dir.glob(".serving.duckdb.*.tmp*")), "a temporary serving file was left behind"
    rows = sum(d["rows"] for d in diffs.values())
    observed.append(f"raw: dup=0 lost=0 extra=0 over {rows} reference rows; marts = reference; no tmp left")

    scenario(
        f"killed during {phase}: serving old or new, never torn; warehouse opens, lock free; "
        "rerun exit 0; raw no dup/lost; marts = reference",
        "; ".join(observed),
        name=f"crash: SIGKILL during {phase}",
    )


def test_next_run_marks_a_dead_cli_run_failed_and_only_that(tmp_path, monkeypatch, scenario):
    """The recovery behind the reruns above, both ways, without a pipeline run: a CLI run whose
    process holds its liveness lock is left alone; once the lock is free (the process died), the next
    run marks it failed. Runs without the CLI's tag (launched by `dagster dev`) are never touched."""
    import shutil

    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun

    from orchestration import run_recovery

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    def started_run(tags: dict[str, str]) -> str:
        run = instance.add_run(
            DagsterRun(job_name="materialize_everything", tags=tags, status=dg.DagsterRunStatus.STARTED)
        )
        return run.run_id

    with dg.DagsterInstance.from_config(str(home)) as instance:
        ui_run = started_run({})
        with run_recovery.liveness_lock(home) as tags:
            cli_run = started_run(tags)
            assert run_recovery.release_dead_cli_runs(instance, home) == []  # its process is alive
        # The lock is released as it would be by the kernel when the process dies.
        assert run_recovery.release_dead_cli_runs(instance, home) == [cli_run]
        assert instance.get_run_by_id(cli_run).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(ui_run).status == dg.DagsterRunStatus.STARTED
        assert run_recovery.release_dead_cli_runs(instance, home) == []  # idempotent
    scenario(
        "next run after a SIGKILLed CLI run: dead run marked failed; live runs and non-CLI runs untouched",
        "live CLI run kept; dead CLI run FAILURE; dagster-dev run kept STARTED",
        name="crash: a killed run left STARTED",
    )
