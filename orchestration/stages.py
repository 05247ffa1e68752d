"""A routine run in two stages, so that it builds only what its loads changed.

1. The job's raw assets and their checks: every source's loads and freshness checks.
2. From what those loads changed: the dbt assets whose inputs changed and everything downstream of
   them (`orchestration.assets.dbt.build_plan`; dagster-dbt runs the selection as
   `dbt build --select`), with the publish and the report; no second run when nothing changed.

One run cannot leave models out: Dagster skips a step when an asset it depends on was not
materialized in the same run, so the publish would be skipped. `make run` runs both stages in its
process (orchestration/cli.py); the schedules request the first and the `after_raw_loads` run-status
sensor (orchestration/sensors.py) requests the second when the first succeeds. The second run
carries the first one's id in `AFTER_RUN_TAG`.
"""

from __future__ import annotations

from collections.abc import Iterable

import dagster as dg

from orchestration.assets.dbt import build_plan
from orchestration.assets.report import REPORT_KEY
from orchestration.assets.serving import SERVING_KEY
from orchestration.jobs import AFTER_RUN_TAG, RAW_STAGE, STAGE_TAG
from orchestration.resources import WarehouseResource

__all__ = ["AFTER_RUN_TAG", "RAW_STAGE", "STAGE_TAG", "raw_keys", "second_stage"]


def raw_keys(keys: Iterable[dg.AssetKey]) -> list[dg.AssetKey]:
    """The first stage: the raw assets among `keys` (a job's)."""
    return sorted((k for k in keys if k.path[0] == "raw"), key=str)


def second_stage(
    instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]
) -> tuple[list[dg.AssetKey], str | None]:
    """The second stage among `keys` (a job's), once the first has loaded: (its assets, None), or
    ([], why no model needs building and nothing needs publishing)."""
    build, skipped = build_plan(instance, WarehouseResource())
    if skipped:
        return [], skipped
    return sorted((k for k in keys if k in build or k in (SERVING_KEY, REPORT_KEY)), key=str), None
