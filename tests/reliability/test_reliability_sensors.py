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


def after_first_build_with_dts_news(replay_root: Path, tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """(the DTS-only snapshot, a fresh full build of it, a data dir and Dagster home built from the
    2025-11-19 snapshot by `make run`): what the tests of a one-source release start from."""
    mixed = dts_only_snapshot(replay_root, tmp_path)
    fresh = tmp_path / "fresh"
    with pytest.MonkeyPatch.context() as mp, capture_everything():
        assert run_cli(mp, fresh / "data", fresh / "home", replay=mixed).code == 0
    data_dir, home = tmp_path / "data", tmp_path / "dagster_home"
    with pytest.MonkeyPatch.context() as mp, capture_everything() as captured:
        assert run_cli(mp, data_dir, home, replay=replay_root / FIRST).code == 0, captured["output"][-3000:]
    return mixed, fresh, data_dir, home


def daemon_environment(monkeypatch, data_dir: Path, home: Path, replay: Path) -> None:
    """The daemon's environment: the same data dir and Dagster home, the sources at `replay`."""
    for name, value in {
        "LIQUIDITY_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(home),
        "LIQUIDITY_REPLAY_DIR": str(replay),
    }.items():
        monkeypatch.setenv(name, value)


def test_a_release_of_one_source_rebuilds_only_the_models_downstream_of_it(
    replay_root: Path, tmp_path: Path, monkeypatch, scenario
):
    """Only the DTS has news: the sensor selects raw/treasury_dts_cash_balance and the dbt models that
    read it, so `dbt build --select` leaves the others (FRED, DDP, CoinGecko staging, the seeds, ...)
    as they are; the published marts equal a fresh full build of the same files; and the nightly run
    afterwards finds nothing to rebuild."""
    mixed, fresh, data_dir, home = after_first_build_with_dts_news(replay_root, tmp_path)

    daemon_environment(monkeypatch, data_dir, home, mixed)
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


def test_make_run_after_a_release_of_one_source_builds_only_the_models_downstream_of_it(
    replay_root: Path, tmp_path: Path, scenario
):
    """`make run` without the sensor, when only the DTS has news: its raw loads are one run, and the
    second run selects only the dbt models whose inputs changed (those downstream of
    raw/treasury_dts_cash_balance), the publish and the report (orchestration/cli.py
    `staged_runs`); the published marts equal a fresh full build of the same files."""
    from orchestration.assets.dbt import dbt_models, raw_ancestors
    from orchestration.jobs import AFTER_RUN_TAG

    mixed, fresh, data_dir, home = after_first_build_with_dts_news(replay_root, tmp_path)
    with pytest.MonkeyPatch.context() as mp, capture_everything() as captured:
        assert run_cli(mp, data_dir, home, replay=mixed).code == 0, captured["output"][-3000:]
    summary = captured["output"].split("=== run summary ===")[-1]

    dts = dg.AssetKey(["raw", "treasury_dts_cash_balance"])
    wanted = {k for k, ancestors in raw_ancestors().items() if dts in ancestors}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        second = instance.get_runs(limit=1)[0]
        first = instance.get_run_by_id(second.tags[AFTER_RUN_TAG])
        built = {
            e.asset_materialization.asset_key
            for run in (first, second)
            for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        }
    assert {k.path[0] for k in built if k not in dbt_models.keys} == {"raw", "serving", "report"}
    assert {k for k in built if k in dbt_models.keys} == wanted
    assert len(wanted) < len(dbt_models.keys)
    assert f"run {first.run_id}: SUCCESS (raw loads)" in summary
    assert f"run {second.run_id}: SUCCESS ({len(wanted)} dbt assets built, publish, report)" in summary
    assert table_hashes(data_dir / "serving.duckdb") == table_hashes(fresh / "data" / "serving.duckdb")
    scenario(
        "make run when only the DTS has news: raw loads, then only the models downstream of the DTS",
        f"two runs; {len(wanted)} of {len(dbt_models.keys)} dbt assets built; the published marts "
        "equal a fresh full build's",
        name="make run: builds only what changed",
    )


def test_the_nightly_schedule_loads_then_its_sensor_builds_only_what_changed(
    replay_root: Path, tmp_path: Path, monkeypatch, scenario
):
    """The daemon's path: the nightly schedule starts `raw_loads` (tagged as a first stage); when it
    succeeds, the run-status sensor `after_raw_loads` requests one run of the models whose inputs
    changed (here those downstream of the DTS, the only source with news), the publish and the
    report; its published marts equal a fresh full build's. A second night with nothing new: the
    sensor requests nothing and says why."""
    import orchestration.definitions
    from orchestration.assets.dbt import dbt_models, raw_ancestors
    from orchestration.jobs import AFTER_RUN_TAG, nightly_schedule

    mixed, fresh, data_dir, home = after_first_build_with_dts_news(replay_root, tmp_path)

    daemon_environment(monkeypatch, data_dir, home, mixed)
    defs = importlib.reload(orchestration.definitions).defs
    import orchestration.sensors as sensors

    def night() -> tuple[dg.ExecuteInProcessResult, object]:
        """One scheduled run of the loads, then one evaluation of the sensor on its success."""
        with dg.DagsterInstance.from_config(str(home)) as instance:
            loads = defs.resolve_job_def(nightly_schedule.job_name).execute_in_process(
                instance=instance, tags=nightly_schedule.tags, raise_on_error=False
            )
            run = instance.get_run_by_id(loads.run_id)
            event = instance.all_logs(loads.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)[0].dagster_event
            context = dg.build_run_status_sensor_context(
                sensor_name="after_raw_loads",
                dagster_event=event,
                dagster_instance=instance,
                dagster_run=run,
                repository_def=defs.get_repository_def(),
            )
            return loads, sensors.after_raw_loads(context)

    loads, request = night()
    assert loads.success
    assert {e.asset_key.path[0] for e in loads.all_events if e.is_step_materialization} == {"raw"}
    assert isinstance(request, dg.RunRequest), request
    dts = dg.AssetKey(["raw", "treasury_dts_cash_balance"])
    wanted = {k for k, ancestors in raw_ancestors().items() if dts in ancestors}
    selected = set(request.asset_selection)
    assert {k for k in selected if k in dbt_models.keys} == wanted
    assert {k.path[0] for k in selected if k not in dbt_models.keys} == {"serving", "report"}
    assert request.tags[AFTER_RUN_TAG] == loads.run_id and request.run_key == loads.run_id

    result = execute(home, request)
    assert result.success
    built = {e.asset_key for e in result.all_events if e.is_step_materialization}
    assert {k for k in built if k in dbt_models.keys} == wanted
    assert table_hashes(data_dir / "serving.duckdb") == table_hashes(fresh / "data" / "serving.duckdb")
    serving = (data_dir / "serving.duckdb").stat()

    loads, quiet = night()
    assert loads.success
    assert isinstance(quiet, dg.SkipReason), quiet
    assert "dbt build skipped: no raw table and no dbt project file changed" in quiet.skip_message
    after = (data_dir / "serving.duckdb").stat()
    assert (after.st_ino, after.st_mtime_ns) == (serving.st_ino, serving.st_mtime_ns)
    scenario(
        "nightly schedule: loads, then the sensor after_raw_loads builds only what changed",
        f"night 1 (DTS news): {len(wanted)} of {len(dbt_models.keys)} dbt assets built, published marts "
        "equal a fresh build's; night 2 (nothing new): no second run, serving.duckdb untouched",
        name="schedule: loads, then what changed",
    )
