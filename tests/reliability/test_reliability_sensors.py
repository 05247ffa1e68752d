"""Release-driven updates (issue #14): the `releases` sensor against the local replay server.

A live first load from the server serving the 2025-11-19 snapshot; the sensor then finds nothing
new; the server switches to 2026-01-31 (what the sources publish next): the sensor requests one run
of the raw assets with news and everything downstream; that run publishes marts equal to a fresh
2026-01-31 build; afterwards the sensor finds nothing new again.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest
from reliability_support import KEYED, capture_everything, point_sources_at, run_cli, table_hashes

from bench.replay_server import ReplayServer

FIRST, SECOND = "2025-11-19", "2026-01-31"


def evaluate(home: Path):
    """One tick of the sensor, as the daemon would run it, on this Dagster instance."""
    import orchestration.sensors as sensors

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return sensors.releases(dg.build_sensor_context(instance=instance))


def execute(home: Path, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """The requested run, as the daemon would launch it (definitions rebuilt for this environment)."""
    import orchestration.definitions

    module = importlib.reload(orchestration.definitions)
    job = module.defs.resolve_job_def("materialize_everything")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return job.execute_in_process(
            instance=instance,
            asset_selection=request.asset_selection,
            tags=request.tags,
            raise_on_error=False,
        )


def test_a_new_release_starts_one_run_that_publishes_what_a_fresh_build_would(
    replay_root: Path, tmp_path: Path, monkeypatch, scenario
):
    fresh = tmp_path / "fresh"
    with pytest.MonkeyPatch.context() as mp, capture_everything():
        assert run_cli(mp, fresh / "data", fresh / "home", replay=replay_root / SECOND).code == 0

    data_dir, home = tmp_path / "data", tmp_path / "dagster_home"
    with ReplayServer(replay_root / FIRST) as server:
        with pytest.MonkeyPatch.context() as mp, capture_everything() as captured:
            first = run_cli(mp, data_dir, home, base_url=server.base_url, env=KEYED)
        assert first.code == 0, captured["output"][-3000:]

        # The daemon's environment: the same settings, the sources at the local server.
        for name, value in {**KEYED, "LIQUIDITY_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(home)}.items():
            monkeypatch.setenv(name, value)
        point_sources_at(monkeypatch, server.base_url)

        server.reset()
        quiet = evaluate(home)
        assert isinstance(quiet, dg.SkipReason), quiet
        assert "nothing after" in quiet.skip_message
        requests_quiet = len(server.hits)

        server.switch(replay_root / SECOND)
        server.reset()
        request = evaluate(home)
        assert isinstance(request, dg.RunRequest), request
        raw = sorted(k.path[1] for k in request.asset_selection if k.path[0] == "raw")
        # the DDP files are equal in both cuts: everything else has news
        assert raw == ["coingecko_market_chart", "fred_observations", "treasury_dts_cash_balance"], raw
        assert "fred_observations: " in request.run_key and "2026-01-" in request.run_key
        requests_news = len(server.hits)

        result = execute(home, request)
        assert result.success
        published = table_hashes(data_dir / "serving.duckdb")
        assert published == table_hashes(fresh / "data" / "serving.duckdb")

        again = evaluate(home)
        assert isinstance(again, dg.SkipReason), again
    scenario(
        "2025-11-19 served, then 2026-01-31: one run starts and publishes what a fresh 2026-01-31 build "
        "does; no run without a switch",
        f"no switch: skip after {requests_quiet} probe requests; switch: one RunRequest "
        f"({', '.join(raw)} + downstream) after {requests_news} probe requests; its {len(published)} "
        f"published marts equal the fresh build's; next tick: skip",
        name="sensor: release-driven run",
    )


DTS_NEXT = "2025-11-21"  # the Treasury has published the statements of 2025-11-19 and -20, nobody else


def dts_only_snapshot(replay_root: Path, tmp_path: Path) -> Path:
    """What the sources showed on 2025-11-21 if only the Treasury had published since the 2025-11-19
    snapshot: its FRED, DDP and CoinGecko files, and the DTS rows of the 2026-01-31 snapshot up to
    record date 2025-11-20 (real rows, as the API would have answered; files copied, since replay
    mode refuses a path that resolves outside its folder)."""
    mixed = tmp_path / "mixed" / DTS_NEXT  # the folder's name is replay mode's "today"
    for part in ("fred", "fed_ddp", "coingecko"):
        shutil.copytree(replay_root / FIRST / part, mixed / part)
    body = json.loads((replay_root / SECOND / "treasury/dts/operating_cash_balance.json").read_text())
    rows = [r for r in body["data"] if r["record_date"] <= "2025-11-20"]
    body["data"], body["meta"] = rows, {"count": len(rows), "total-count": len(rows), "total-pages": 1}
    (mixed / "treasury/dts").mkdir(parents=True)
    (mixed / "treasury/dts/operating_cash_balance.json").write_text(json.dumps(body))
    return mixed


def test_a_release_of_one_source_rebuilds_only_the_models_downstream_of_it(
    replay_root: Path, tmp_path: Path, monkeypatch, scenario
):
    """Only the DTS has news: the sensor selects raw/treasury_dts_cash_balance and the dbt models that
    read it, so `dbt build --select` leaves the others (FRED, DDP, CoinGecko staging, the seeds, ...)
    as they are; the published marts equal a fresh full build of the same files; and the nightly run
    afterwards finds nothing to rebuild."""
    mixed = dts_only_snapshot(replay_root, tmp_path)
    fresh = tmp_path / "fresh"
    with pytest.MonkeyPatch.context() as mp, capture_everything():
        assert run_cli(mp, fresh / "data", fresh / "home", replay=mixed).code == 0

    data_dir, home = tmp_path / "data", tmp_path / "dagster_home"
    with pytest.MonkeyPatch.context() as mp, capture_everything() as captured:
        assert run_cli(mp, data_dir, home, replay=replay_root / FIRST).code == 0, captured["output"][-3000:]

    for name, value in {
        "LIQUIDITY_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(home),
        "LIQUIDITY_REPLAY_DIR": str(mixed),
    }.items():
        monkeypatch.setenv(name, value)
    request = evaluate(home)
    assert isinstance(request, dg.RunRequest), request
    selected = set(request.asset_selection)
    assert sorted(k.path[1] for k in selected if k.path[0] == "raw") == ["treasury_dts_cash_balance"]
    from orchestration.assets.dbt import dbt_models, raw_ancestors

    dts = dg.AssetKey(["raw", "treasury_dts_cash_balance"])
    wanted = {k for k, ancestors in raw_ancestors().items() if dts in ancestors}
    assert {k for k in selected if k in dbt_models.keys} == wanted
    left = set(dbt_models.keys) - wanted
    for name in (
        "staging/stg_fred__observations",
        "staging/stg_coingecko__market_chart",
        "seeds/policy_events",
    ):
        assert dg.AssetKey.from_user_string(name) in left
    assert {"staging/stg_treasury_dts__cash_balance", "marts/liquidity_daily"} <= {
        k.to_user_string() for k in wanted
    }

    result = execute(home, request)
    assert result.success
    rebuilt = {e.asset_key for e in result.all_events if e.is_step_materialization}
    assert {k for k in rebuilt if k in dbt_models.keys} == wanted  # and nothing else of dbt's
    assert dg.AssetKey(["serving", "serving_duckdb"]) in rebuilt
    published = table_hashes(data_dir / "serving.duckdb")
    assert published == table_hashes(fresh / "data" / "serving.duckdb")

    # The nightly safety net afterwards: every mart's inputs are the ones it was last built from.
    serving = (data_dir / "serving.duckdb").stat()
    with pytest.MonkeyPatch.context() as mp, capture_everything() as captured:
        assert run_cli(mp, data_dir, home, replay=mixed).code == 0
    assert "dbt build skipped: no raw table and no dbt project file changed" in captured["output"]
    after = (data_dir / "serving.duckdb").stat()
    assert (after.st_ino, after.st_mtime_ns) == (serving.st_ino, serving.st_mtime_ns)
    scenario(
        "only the DTS has news: the run rebuilds the dbt models downstream of it, publishes what a full "
        "build publishes; the nightly run after it skips dbt",
        f"{len(wanted)} of {len(dbt_models.keys)} dbt assets rebuilt ({len(left)} left as they were, e.g. "
        f"stg_fred__observations); {len(published)} published marts equal a fresh full build's; nightly: "
        "'dbt build skipped', serving.duckdb untouched",
        name="sensor: one source's release rebuilds only its downstream",
    )
