"""The two performance shortcuts in orchestration/: the kept-open SQLite event log and the dbt
resource without its per-command `dbt --version` and eager adapter. Both must behave exactly like
the Dagster / dagster-dbt classes they replace, only faster (see bench/README.md)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from ingest import calendar, load, settings, warehouse
from ingest.loaders import coingecko as coingecko_loader
from ingest.transport import make_transport
from orchestration.event_storage import KeepOpenSqliteEventLogStorage
from orchestration.resources import PipelineDbtResource

PROJECT_YAML = settings.PROJECT_ROOT / "orchestration" / "dagster.yaml"


@dg.asset
def upstream() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 3})


@dg.asset(deps=[upstream])
def downstream() -> None:
    return None


@dg.asset_check(asset=upstream, blocking=True)
def upstream_ok() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True, metadata={"seen": 1})


JOB = dg.define_asset_job("tiny", selection=dg.AssetSelection.all())
DEFS = dg.Definitions(assets=[upstream, downstream], asset_checks=[upstream_ok], jobs=[JOB])


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, project_storage: bool) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    config = yaml.safe_load(PROJECT_YAML.read_text())
    if not project_storage:
        config.pop("event_log_storage")
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    # The storage finds its folder from the instance, not from $DAGSTER_HOME.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "somewhere-else"))
    return home


def _run(home: Path) -> str:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = DEFS.resolve_job_def("tiny").execute_in_process(instance=instance)
        assert result.success
        return result.run_id


def test_project_instance_uses_kept_open_storage(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch, project_storage=True)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.event_log_storage, KeepOpenSqliteEventLogStorage)
    _run(home)
    assert (home / "history" / "runs" / "index.db").exists()
    assert not (tmp_path / "somewhere-else").exists()


def test_events_readable_by_dagsters_default_storage_and_back(tmp_path, monkeypatch):
    """Same files and schema: a run stored by the kept-open storage reads back through Dagster's
    default SQLite storage (and vice versa), materializations, metadata and check results alike."""
    home = _home(tmp_path, monkeypatch, project_storage=True)
    fast_run = _run(home)
    _home(tmp_path, monkeypatch, project_storage=False)
    default_run = _run(home)
    for project_storage in (False, True):
        _home(tmp_path, monkeypatch, project_storage=project_storage)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            storage = instance.event_log_storage
            assert isinstance(storage, KeepOpenSqliteEventLogStorage) is project_storage
            for run_id in (fast_run, default_run):
                records = instance.get_records_for_run(run_id).records
                types = {
                    r.event_log_entry.dagster_event_type
                    for r in records
                    if r.event_log_entry.is_dagster_event
                }
                assert dg.DagsterEventType.ASSET_MATERIALIZATION in types
                assert dg.DagsterEventType.ASSET_CHECK_EVALUATION in types
                assert dg.DagsterEventType.RUN_SUCCESS in types
            latest = instance.get_latest_materialization_event(dg.AssetKey("upstream"))
            assert latest is not None and latest.run_id == default_run
            assert latest.asset_materialization.metadata["rows"].value == 3
            check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
                [dg.AssetCheckKey(dg.AssetKey("upstream"), "upstream_ok")]
            )
            assert len(check) == 1


def test_connections_are_wal_normal_and_closed_on_dispose(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch, project_storage=True)
    _run(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        with storage.index_connection() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert storage._engines  # kept open between uses
    assert not storage._engines  # closed when the instance is disposed
    # Nothing left half-written: another process opening the index sees a consistent database.
    index = home / "history" / "runs" / "index.db"
    with sqlite3.connect(index) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_wipe_closes_run_shards_before_deleting_them(tmp_path, monkeypatch):
    home = _home(tmp_path, monkeypatch, project_storage=True)
    run_id = _run(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.wipe()
        assert not (home / "history" / "runs" / f"{run_id}.db").exists()
        assert instance.get_records_for_run(run_id).records == []
        run_id_after = DEFS.resolve_job_def("tiny").execute_in_process(instance=instance).run_id
        assert instance.get_records_for_run(run_id_after).records


# --- dbt resource ---------------------------------------------------------------------------------

DBT = Path(sys.executable).with_name("dbt")
needs_dbt = pytest.mark.skipif(not DBT.exists(), reason="no dbt beside this interpreter")


def _resource() -> PipelineDbtResource:
    return PipelineDbtResource(project_dir=str(settings.DBT_PROJECT_DIR), dbt_executable=str(DBT))


@needs_dbt
def test_dbt_version_read_without_a_subprocess_matches_dbt_version():
    out = subprocess.run([str(DBT), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"installed: {_resource()._cli_version}" in out


def test_other_dbt_executable_still_asks_it(tmp_path):
    fake = tmp_path / "dbt"
    fake.write_text("#!/bin/sh\necho 'Core:\n  - installed: 9.8.7'\n")
    fake.chmod(0o755)
    resource = PipelineDbtResource(project_dir=str(settings.DBT_PROJECT_DIR), dbt_executable=str(fake))
    assert str(resource._cli_version) == "9.8.7"


@needs_dbt
def test_adapter_is_built_only_when_used(tmp_path, monkeypatch):
    monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(tmp_path))
    for name, value in settings.dbt_env().items():  # what the dbt asset exports before dbt runs
        monkeypatch.setenv(name, value)
    calls = []
    resource = _resource()
    original = type(resource).__mro__[1]._initialize_dbt_core_adapter

    def counting(self, args):
        calls.append(list(args))
        return original(self, args)

    monkeypatch.setattr(type(resource).__mro__[1], "_initialize_dbt_core_adapter", counting)
    adapter = resource._initialize_dbt_core_adapter(["build"])
    assert calls == []  # nothing built yet
    assert adapter.__class__.__name__ == "DuckDBAdapter"  # what dagster-dbt checks before fetching metadata
    assert calls == [["build"]]
    assert adapter.type() == "duckdb"
    assert calls == [["build"]]  # built once


# --- upsert fast path ------------------------------------------------------------------------------


def _fred_frame(values: dict[str, float], fetched_at: dt.datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": "WALCL",
            "observation_date": [dt.date.fromisoformat(d) for d in values],
            "value": list(values.values()),
            "known_on": [dt.date.fromisoformat(d) + dt.timedelta(days=1) for d in values],
            "known_at": [calendar.known_at("h41", dt.date.fromisoformat(d)) for d in values],
            "fetched_at": fetched_at,
            "source_url": "https://fred.stlouisfed.org/graph/fredgraph.csv?id=WALCL",
            "payload_sha256": "a" * 64,
        }
    )


def _table(con) -> list[tuple]:
    return con.execute(
        "SELECT observation_date, value, previous_value, updated_at, fetched_at FROM raw.fred_observations ORDER BY 1"
    ).fetchall()


T0, T1 = dt.datetime(2026, 1, 30, 12), dt.datetime(2026, 1, 31, 12)
FIRST = {"2026-01-14": 1.0, "2026-01-21": 2.0}
SECOND = {"2026-01-21": 2.5, "2026-01-28": 3.0}  # one revision, one new week


def test_expect_new_inserts_in_one_statement(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        result = warehouse.upsert(con, warehouse.FRED, _fred_frame(FIRST, T0), expect_new=True)
        assert result == warehouse.UpsertResult(2, 2, 0)
        assert _table(con) == [
            (dt.date(2026, 1, 14), 1.0, None, T0, T0),
            (dt.date(2026, 1, 21), 2.0, None, T0, T0),
        ]


def test_a_wrong_expect_new_hint_changes_nothing_but_speed(tmp_path):
    """Keys already loaded: the insert is refused by the primary key, rolled back, and the merge
    gives exactly what it gives without the hint (counts, revision, previous_value, no duplicates)."""
    outcomes = {}
    for hint in (False, True):
        with warehouse.connect(tmp_path / f"w{hint}.duckdb") as con:
            warehouse.upsert(con, warehouse.FRED, _fred_frame(FIRST, T0))
            result = warehouse.upsert(con, warehouse.FRED, _fred_frame(SECOND, T1), expect_new=hint)
            outcomes[hint] = (result, _table(con))
    assert outcomes[True] == outcomes[False]
    result, table = outcomes[True]
    assert result == warehouse.UpsertResult(2, 1, 1)
    assert table == [
        (dt.date(2026, 1, 14), 1.0, None, T0, T0),
        (dt.date(2026, 1, 21), 2.5, 2.0, T1, T0),
        (dt.date(2026, 1, 28), 3.0, None, T1, T1),
    ]


def test_loaders_pass_the_hint_only_on_a_first_load(tmp_path, monkeypatch, replay_root):
    """The real loaders on a replay snapshot: the first load of each series says expect_new, the
    second load of the same series does not (and inserts nothing: same payload)."""
    seen: list[tuple[str, bool]] = []
    real_per = warehouse.upsert_per  # every upsert goes through it

    def spy_per(con, spec, frame, column, *, expect_new=False):
        seen.append((spec.name, expect_new))
        return real_per(con, spec, frame, column, expect_new=expect_new)

    monkeypatch.setattr(warehouse, "upsert_per", spy_per)
    monkeypatch.setenv("LIQUIDITY_COINS", "bitcoin")
    transport = make_transport(replay_root / "2026-01-31", None)
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        ctx = load.context(con, transport, "first")
        load.run("fred_observations", ctx, ["WALCL"])
        load.run("coingecko_market_chart", ctx)
        first = list(seen)
        seen.clear()
        again = (
            load.run("fred_observations", ctx, ["WALCL"]).inserted
            + load.run("coingecko_market_chart", ctx).inserted
        )
    assert first == [("raw.fred_observations", True), ("raw.coingecko_market_chart", True)]
    assert seen == [("raw.fred_observations", False), ("raw.coingecko_market_chart", False)]
    assert again == 0


# --- coins upserted in batches ---------------------------------------------------------------------


def _load_coins(
    path: Path, replay: Path, coins: str, monkeypatch
) -> tuple[list[tuple], list[tuple], list[tuple]]:
    monkeypatch.setenv("LIQUIDITY_COINS", coins)
    with warehouse.connect(path) as con:
        outcomes = []
        for cut in ("2025-11-19", "2026-01-31"):  # a first load, then an incremental one
            ctx = load.context(con, make_transport(replay / cut, None), cut)
            res = load.run("coingecko_market_chart", ctx)
            outcomes += [
                (cut, s.series, s.status, s.rows, s.inserted, s.updated, s.last_date) for s in res.series
            ]
        table = con.execute(
            "SELECT * EXCLUDE (fetched_at, updated_at) FROM raw.coingecko_market_chart ORDER BY ALL"
        ).fetchall()
        log = con.execute(
            "SELECT run_id, series, status, rows_in_payload, inserted, updated, bytes FROM raw.load_log "
            "ORDER BY loaded_at, series"
        ).fetchall()
    return outcomes, table, log


def test_coin_batches_load_exactly_what_one_coin_at_a_time_loads(tmp_path, monkeypatch, replay_root):
    monkeypatch.setattr(coingecko_loader, "COIN_BATCH_ROWS", 1)  # a transaction per coin
    monkeypatch.setattr(coingecko_loader, "CHECKPOINT_ROWS", 1)  # and a checkpoint after each
    checkpoints = []
    real_checkpoint = warehouse.checkpoint
    monkeypatch.setattr(warehouse, "checkpoint", lambda con: (checkpoints.append(1), real_checkpoint(con)))
    one_by_one = _load_coins(tmp_path / "a.duckdb", replay_root, "bitcoin,ethereum", monkeypatch)
    assert len(checkpoints) == 4  # 2 coins x 2 loads
    monkeypatch.setattr(coingecko_loader, "COIN_BATCH_ROWS", 10**9)  # every coin in one batch
    batched = _load_coins(tmp_path / "b.duckdb", replay_root, "bitcoin,ethereum", monkeypatch)
    assert batched == one_by_one
    outcomes = batched[0]
    assert [o[1] for o in outcomes] == ["bitcoin", "ethereum"] * 2
    assert all(o[2] == "ok" for o in outcomes) and outcomes[0][4] > 0


def test_a_failing_batch_upsert_retries_coin_by_coin(tmp_path, monkeypatch, replay_root):
    expected = _load_coins(tmp_path / "a.duckdb", replay_root, "bitcoin,ethereum", monkeypatch)

    real_per = warehouse.upsert_per

    def refuses_batches(con, spec, frame, column, *, expect_new=False):
        if frame[column].nunique() > 1:
            raise ValueError("batch refused")
        return real_per(con, spec, frame, column, expect_new=expect_new)

    monkeypatch.setattr(coingecko_loader, "COIN_BATCH_ROWS", 10**9)
    monkeypatch.setattr(warehouse, "upsert_per", refuses_batches)
    assert _load_coins(tmp_path / "b.duckdb", replay_root, "bitcoin,ethereum", monkeypatch) == expected


def test_a_bad_coin_fails_alone_and_in_its_place(tmp_path, monkeypatch, replay_root):
    monkeypatch.setenv("LIQUIDITY_COINS", "bitcoin,../evil,ethereum")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        res = load.run(
            "coingecko_market_chart", load.context(con, make_transport(replay_root / "2026-01-31", None))
        )
        coins = {
            c for (c,) in con.execute("SELECT DISTINCT coin_id FROM raw.coingecko_market_chart").fetchall()
        }
        logged = con.execute("SELECT series, status FROM raw.load_log ORDER BY loaded_at").fetchall()
    assert [(s.series, s.status) for s in res.series] == [
        ("bitcoin", "ok"),
        ("../evil", "failed"),
        ("ethereum", "ok"),
    ]
    assert "rejected coin id" in res.series[1].message
    assert coins == {"bitcoin", "ethereum"}
    assert logged == [("bitcoin", "ok"), ("../evil", "failed"), ("ethereum", "ok")]
