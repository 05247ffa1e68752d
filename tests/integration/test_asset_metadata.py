"""What materializations show in the Dagster UI, and that load progress reaches the run log.

- raw: one raw asset loaded from a replay snapshot; its row count, date range, headline (WALCL) and
  preview, checked against the snapshot file and the warehouse; its progress lines in the run log;
  the `make run` summary's line for that source with the freshness check's verdict;
- dbt: `dbt build` of a few models on a copy of the replay-built warehouse; the materializations reach
  the event log while dbt is still running, each model's observation then carries dagster/row_count
  (marts also headline and preview), dbt tests still arrive as asset checks (a failed one with its
  failing rows), and a failing dbt test still fails the step.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import shutil
import threading
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtCliResource

from ingest import catalog, quality, settings, warehouse
from orchestration import checks
from orchestration.assets.dbt import dbt_models
from orchestration.assets.raw import raw_asset
from orchestration.project import DBT_PROJECT
from orchestration.resources import SourcesResource, WarehouseResource
from orchestration.summary import print_summary
from tests.integration.conftest import replay

pytestmark = pytest.mark.integration
CUT = "2026-01-31"


def value(md: dict, key: str):
    entry = md[key]
    return getattr(entry, "value", getattr(entry, "md_str", entry))


def materialization(result: dg.ExecuteInProcessResult, key: str) -> dict:
    events = [
        e.event_specific_data.materialization
        for e in result.all_events
        if e.is_step_materialization and e.asset_key == dg.AssetKey(key.split("/"))
    ]
    assert len(events) == 1, f"{key}: {len(events)} materializations"
    return dict(events[0].metadata)


def observation(result: dg.ExecuteInProcessResult, key: str) -> dict:
    events = [
        e.event_specific_data.asset_observation
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_OBSERVATION
        and e.asset_key == dg.AssetKey(key.split("/"))
    ]
    assert len(events) == 1, f"{key}: {len(events)} observations"
    return dict(events[0].metadata)


def one(db: Path, sql: str):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()
    finally:
        con.close()


def walcl_file_rows() -> list[tuple[str, float]]:
    """WALCL as written in the snapshot (plain csv module), from the history start on."""
    with (replay(CUT) / "fred" / "fredgraph" / "WALCL.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    start = settings.DEFAULT_START
    return [(r[0], float(r[1])) for r in rows if r and r[1] not in ("", ".") and r[0] >= start]


def test_raw_metadata_progress_log_and_summary(tmp_path, clean_env, capsys):
    clean_env.setenv("LIQUIDITY_DATA_DIR", str(tmp_path))
    clean_env.setenv("LIQUIDITY_REPLAY_DIR", str(replay(CUT)))  # the freshness check's "today"
    resources = {"warehouse": WarehouseResource(), "sources": SourcesResource(replay_dir=str(replay(CUT)))}
    key = dg.AssetKey(["raw", "fred_observations"])
    freshness = [c for c in checks.ALL_CHECKS if dg.AssetCheckKey(key, "freshness") in c.check_keys]
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(
            [raw_asset("fred_observations"), *freshness], resources=resources, instance=instance
        )
        messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert result.success
    md = materialization(result, "raw/fred_observations")
    wh = tmp_path / "warehouse.duckdb"
    count, first, last = one(
        wh, "SELECT count(*), min(observation_date), max(observation_date) FROM raw.fred_observations"
    )
    assert value(md, "dagster/row_count") == count > 0
    assert (value(md, "first_date"), value(md, "last_date")) == (first.isoformat(), last.isoformat())

    walcl = walcl_file_rows()
    scale = catalog.get("fred", "WALCL").scale
    assert value(md, "WALCL (usd_bn)") == pytest.approx(walcl[-1][1] * scale)
    assert walcl[-1][0] in value(md, "headline")
    preview = value(md, "preview").splitlines()
    assert preview[0].startswith("| series_id | observation_date | value |")
    assert len(preview) == 2 + 5 and f"| WALCL | {walcl[-1][0]} |" in preview[2]

    # Progress lines of ingest.load, routed to the run log (what the UI shows).
    expected = f"fred WALCL: {len(walcl):,} rows {walcl[0][0]}..{walcl[-1][0]} (full history)"
    assert expected in messages
    total = len(catalog.series_for("fred"))
    progress = [
        m
        for m in messages
        if re.fullmatch(rf"fred WALCL: .* fred: \d+/{total} series, [\d,]+ rows so far", m)
    ]
    assert progress, [m for m in messages if m.startswith("fred")][:5]

    # The `make run` summary: rows, this run's inserts, newest observation and the freshness verdict.
    capsys.readouterr()
    print_summary(result)
    lines = capsys.readouterr().out.splitlines()
    with warehouse.connect(wh, read_only=True) as con:
        finding = quality.freshness(con, "fred", dt.date.fromisoformat(CUT))
    state = "pass" if finding.passed and not finding.warning else "WARN" if finding.passed else "FAIL"
    fred = [line for line in lines if line.startswith("  fred ")]
    assert len(fred) == 1, lines
    assert f"{count:,} rows" in fred[0] and f"+{count:,} ~0" in fred[0] and f"last {last}" in fred[0]
    assert f" {state} {finding.summary}" in fred[0]
    # Passes are counted; a WARN or FAIL is listed with the check name as the line's last word.
    listed = [line for line in lines if line.endswith(" raw/fred_observations:freshness")]
    assert listed == ([] if state == "pass" else [f"  {state} raw/fred_observations:freshness"])
    assert (
        f"checks: {int(state == 'pass')} pass, {int(state == 'WARN')} WARN, {int(state == 'FAIL')} FAIL"
        in lines
    )
    assert f"report:    (not built); expected at {tmp_path / 'report' / 'index.html'}" in lines


@pytest.fixture
def warehouse_copy(fresh_dir, tmp_path, clean_env) -> Path:
    """A private copy of the replay-built warehouse: dbt rebuilds only the selected models in it."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(fresh_dir / "warehouse.duckdb", data_dir / "warehouse.duckdb")
    clean_env.setenv("LIQUIDITY_DATA_DIR", str(data_dir))
    return data_dir / "warehouse.duckdb"


def build(*keys: str, instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    resources = {
        "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=settings.dbt_executable()),
        "warehouse": WarehouseResource(),
    }
    selection = [dg.AssetKey(k.split("/")) for k in keys]
    return dg.materialize(
        [dbt_models], selection=selection, resources=resources, raise_on_error=False, instance=instance
    )


def last_dbt_node_done() -> float:
    """When dbt finished its last node (run_results.json of the last invocation), as a Unix time."""
    results = json.loads((settings.dbt_target_dir() / "run_results.json").read_text())["results"]
    done = [t["completed_at"] for r in results for t in r["timing"] if t.get("completed_at")]
    return max(dt.datetime.fromisoformat(d.replace("Z", "+00:00")).timestamp() for d in done)


def checks_of(result: dg.ExecuteInProcessResult, key: str) -> list[dg.AssetCheckEvaluation]:
    return [e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == key]


def test_an_event_error_while_dbt_runs_stops_dbt_instead_of_hanging(warehouse_copy, monkeypatch):
    """An error raised while dbt's events are read (here: on the first one; in life, e.g. a test
    the loaded manifest does not know) stops reading dbt's output. dbt, still building, must be
    stopped: left alone it blocks on the full pipe (the whole build's events are megabytes) and
    the step never ends. The step fails with that error, promptly, and dbt has exited."""
    from orchestration.assets import dbt as dbt_asset

    started: list = []
    real_cli = DbtCliResource.cli

    def cli(self, *args, **kwargs):
        invocation = real_cli(self, *args, **kwargs)
        started.append(invocation)
        return invocation

    def unreadable(context, event):
        raise RuntimeError("an event this code cannot map")

    monkeypatch.setattr(DbtCliResource, "cli", cli)
    monkeypatch.setattr(dbt_asset, "_event_key", unreadable)
    outcome: list = []
    worker = threading.Thread(
        target=lambda: outcome.append(build(*(key.to_user_string() for key in dbt_models.keys))), daemon=True
    )
    worker.start()
    worker.join(timeout=600)
    assert not worker.is_alive(), "the dbt step hung after the event error"
    (result,) = outcome
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "an event this code cannot map" in failure.step_failure_data.error.to_string()
    assert started and started[0].process.poll() is not None


def test_dbt_metadata_checks_and_a_failing_test(warehouse_copy):
    """One `dbt build` of two independent models: reserve_adequacy (clean) and stg_coingecko__global,
    whose input gets a negative market cap so its value_between test fails."""
    con = duckdb.connect(str(warehouse_copy))
    try:
        con.execute(
            "UPDATE raw.coingecko_global SET total_market_cap_usd = -1 WHERE observation_date = "
            "(SELECT max(observation_date) FROM raw.coingecko_global)"
        )
    finally:
        con.close()
    with dg.DagsterInstance.ephemeral() as instance:
        result = build("marts/reserve_adequacy", "staging/stg_coingecko__global", instance=instance)
        stored = [e for e in instance.all_logs(result.run_id) if e.dagster_event]
    # Live: dbt's first materialization was in the event log (what the UI shows) before dbt had
    # finished its last node; buffering until dbt exits would store it after.
    first = min(e.timestamp for e in stored if e.dagster_event.is_step_materialization)
    assert first < last_dbt_node_done()

    # A failing dbt test fails the step (so nothing downstream is published) and is reported.
    assert not result.success
    failed = [e.check_name for e in checks_of(result, "staging/stg_coingecko__global") if not e.passed]
    assert any(name.startswith("value_between") for name in failed), failed
    # The view was built before its test failed: once dbt exits, its observation has its row count.
    materialization(result, "staging/stg_coingecko__global")
    view = observation(result, "staging/stg_coingecko__global")
    assert (
        value(view, "dagster/row_count")
        == one(warehouse_copy, "SELECT count(*) FROM staging.stg_coingecko__global")[0]
    )
    assert "preview" not in view  # staging: row count and date range only

    # The mart: row count, headline (newest non-NULL reserves/GDP) and preview; its tests passed.
    materialization(result, "marts/reserve_adequacy")
    mart = observation(result, "marts/reserve_adequacy")
    count, quarter, ratio = one(
        warehouse_copy,
        "SELECT (SELECT count(*) FROM marts.reserve_adequacy), quarter_start, reserves_to_gdp_pct "
        "FROM marts.reserve_adequacy WHERE reserves_to_gdp_pct IS NOT NULL ORDER BY quarter_start DESC LIMIT 1",
    )
    assert value(mart, "dagster/row_count") == count > 0
    assert value(mart, "reserves_to_gdp_pct") == pytest.approx(ratio)
    assert quarter.isoformat() in value(mart, "headline")
    assert value(mart, "preview").startswith("| quarter_start | is_complete_quarter |")
    evaluations = checks_of(result, "marts/reserve_adequacy")
    assert evaluations and all(e.passed for e in evaluations)
