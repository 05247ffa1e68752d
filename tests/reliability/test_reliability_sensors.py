"""Release-driven updates (issue #14): the `releases` sensor against the local replay server.

A live first load from the server serving the 2025-11-19 snapshot; the sensor then finds nothing
new; the server switches to 2026-01-31 (what the sources publish next): the sensor requests one run
of the raw assets with news and everything downstream; that run publishes marts equal to a fresh
2026-01-31 build; afterwards the sensor finds nothing new again.
"""

from __future__ import annotations

import importlib
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
