"""The code location: `dagster dev -w workspace.yaml` loads `defs` from here.

Loading opens no database and runs no dbt parse outside `dagster dev` (the manifest comes from
`make prepare`).
"""

from __future__ import annotations

import dagster as dg

from ingest import settings
from orchestration import checks
from orchestration.alerts import alert_on_run_failure
from orchestration.assets.dbt import dbt_models
from orchestration.assets.raw import RAW_ASSETS
from orchestration.assets.report import liquidity_report
from orchestration.assets.serving import serving_duckdb
from orchestration.backfill import backfill_series
from orchestration.jobs import (
    h41_raw_loads,
    materialize_everything,
    nightly_schedule,
    raw_loads,
    weekly_h41,
    weekly_schedule,
)
from orchestration.project import DBT_PROJECT
from orchestration.resources import PipelineDbtResource, build_resources
from orchestration.sensors import after_raw_loads, releases

defs = dg.Definitions(
    assets=[*RAW_ASSETS, dbt_models, serving_duckdb, liquidity_report],
    asset_checks=checks.ALL_CHECKS,
    jobs=[materialize_everything, weekly_h41, raw_loads, h41_raw_loads, backfill_series],
    schedules=[nightly_schedule, weekly_schedule],
    sensors=[alert_on_run_failure, releases, after_raw_loads],
    resources={
        **build_resources(),
        "dbt": PipelineDbtResource(project_dir=DBT_PROJECT, dbt_executable=settings.dbt_executable()),
    },
    executor=dg.in_process_executor,
)
