"""`LIQUIDITY_WAREHOUSE` is the one warehouse setting: ingest, dbt, the checks and the publish all
follow it (before, the Dagster resource's own `database` redirected ingest and publish while dbt
followed profiles.yml, and a run split its warehouse in two)."""

from __future__ import annotations

import duckdb

from ingest import settings
from orchestration.assets.dbt import mart_keys
from tests.pipeline_support import run_pipeline

CUT = "2026-01-31"


def test_every_step_uses_the_warehouse_the_setting_names(tmp_path, clean_env):
    data_dir, elsewhere = tmp_path / "data", tmp_path / "elsewhere" / "lake.duckdb"
    result = run_pipeline(data_dir, CUT, env={"LIQUIDITY_WAREHOUSE": str(elsewhere)})
    assert result.success
    assert not (data_dir / "warehouse.duckdb").exists(), "something wrote the default warehouse file"
    with duckdb.connect(str(elsewhere), read_only=True) as con:
        schemas = {
            (schema, table)
            for schema, table in con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
        assert ("raw", "fred_observations") in schemas
        marts = {key.path[-1] for key in mart_keys()}
        assert marts <= {table for schema, table in schemas if schema == "marts"}
        last = con.execute("SELECT max(date) FROM marts.liquidity_daily").fetchone()[0]
    with duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True) as con:
        assert con.execute("SELECT max(date) FROM liquidity_daily").fetchone()[0] == last
    # the dbt artifacts of the run live under the data dir, one folder however many runs
    assert (data_dir / "dbt_target" / "run_results.json").exists()


def test_dbt_env_names_the_same_file_as_ingest(clean_env, tmp_path):
    clean_env.setenv("LIQUIDITY_DATA_DIR", str(tmp_path))
    assert settings.dbt_env() == {
        "LIQUIDITY_DBT_TARGET": "embedded",
        "LIQUIDITY_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
        "LIQUIDITY_START": settings.DEFAULT_START,
    }
    clean_env.setenv("LIQUIDITY_WAREHOUSE", "rel/w.duckdb")
    clean_env.setenv("LIQUIDITY_START", "2021-01-01")
    env = settings.dbt_env()
    assert env["LIQUIDITY_WAREHOUSE"] == str(settings.warehouse_path()) and env[
        "LIQUIDITY_WAREHOUSE"
    ].startswith("/")
    assert env["LIQUIDITY_START"] == "2021-01-01"


def test_settings_are_read_when_a_run_starts_not_when_the_code_loads(clean_env, tmp_path):
    """A long-lived `dagster dev` keeps its loaded definitions: a setting changed after the load must
    reach the next run."""
    from orchestration.definitions import defs

    sources = defs.resources["sources"]
    assert sources.replay() is None and sources.api_keys().fred is None
    clean_env.setenv("LIQUIDITY_REPLAY_DIR", str(tmp_path))
    clean_env.setenv("FRED_API_KEY", "changed-after-load")
    clean_env.setenv("LIQUIDITY_WAREHOUSE", str(tmp_path / "w.duckdb"))
    assert sources.replay() == tmp_path.resolve()
    assert sources.api_keys().fred == "changed-after-load"
    assert defs.resources["warehouse"].path == tmp_path / "w.duckdb"
