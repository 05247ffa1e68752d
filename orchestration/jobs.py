"""Jobs and schedules.

Nightly at 21:30 America/New_York, every day:
- H.4.1 (Thursday 4:30 pm ET) and H.8 (Friday 4:15 pm ET) are out, and FRED has posted them;
- SOFR and EFFR for the previous business day were published at 8:00 ET that morning;
- CoinGecko's daily close (00:00 UTC = 19:00 EST / 20:00 EDT) has landed.
A later hour would only delay the same data; an earlier one would miss the CoinGecko close.

Weekly at 17:30 America/New_York on Thursdays, after the H.4.1 release: Fed sources, dbt, checks, publish.

Each schedule starts the first stage of a routine run, the loads (orchestration/stages.py); the
run-status sensor `after_raw_loads` starts the second when it succeeds.
"""

from __future__ import annotations

import dagster as dg

TIMEZONE = "America/New_York"
# Runs with this tag set to "true" skip `dbt build` when nothing it reads changed since the last
# published build (orchestration/assets/dbt.py `unchanged_since`): `make run` and the schedules set it;
# a materialization launched by hand in the UI builds whatever it is asked to.
SKIP_UNCHANGED_TAG = "liquidity/skip_unchanged_dbt"
SKIP_UNCHANGED = {SKIP_UNCHANGED_TAG: "true"}
# Runs with this tag set to "true" do not ask a source for a series that already holds the newest
# observation its release calendar allows (ingest.loading.LoadContext.up_to_date): a rerun before the
# next release fetches nothing of it. `make run` (without --fetch-all or --rebuild) and the schedules
# set it; a release sensor's run (it has seen something new) and a materialization launched by
# hand fetch.
FETCH_WHEN_DUE_TAG = "liquidity/fetch_when_due"
# The tags of routine runs: `make run` and the schedules.
ROUTINE = {**SKIP_UNCHANGED, FETCH_WHEN_DUE_TAG: "true"}
# A routine run is two runs (orchestration/stages.py): the raw loads, tagged STAGE_TAG=RAW_STAGE, then
# the models they changed with the publish and the report, carrying the first one's id in AFTER_RUN_TAG.
STAGE_TAG = "liquidity/stage"
RAW_STAGE = "raw_loads"
AFTER_RUN_TAG = "liquidity/after_run"

everything = dg.AssetSelection.all()

materialize_everything = dg.define_asset_job(
    "materialize_everything",
    selection=everything,
    description="Ingest every source incrementally, dbt build, run checks, publish serving.duckdb.",
)

H41_SOURCES = dg.AssetSelection.assets(
    ["raw", "fred_observations"], ["raw", "fed_ddp_observations"], ["raw", "series_catalog"]
)
weekly_h41 = dg.define_asset_job(
    "weekly_h41",
    selection=H41_SOURCES.downstream(),
    description="After the Thursday H.4.1 release: Fed sources, then everything downstream of them.",
)

# The first stages of the scheduled runs (orchestration/stages.py): the loads and their checks. When
# such a run tagged STAGED succeeds, the `after_raw_loads` sensor starts the second stage in the job
# SECOND_STAGE names: only the models whose inputs changed, the publish and the report.
raw_loads = dg.define_asset_job(
    "raw_loads",
    selection=dg.AssetSelection.key_prefixes("raw"),
    description="Every source's loads and their checks; on the nightly schedule, the sensor "
    "after_raw_loads then builds what they changed and publishes (orchestration/stages.py).",
)
h41_raw_loads = dg.define_asset_job(
    "h41_raw_loads",
    selection=H41_SOURCES,
    description="The Fed sources' loads and their checks; on the Thursday schedule, the sensor "
    "after_raw_loads then builds what they changed and publishes (orchestration/stages.py).",
)
SECOND_STAGE = {raw_loads.name: materialize_everything, h41_raw_loads.name: weekly_h41}
STAGED = {**ROUTINE, STAGE_TAG: RAW_STAGE}

nightly_schedule = dg.ScheduleDefinition(
    name="nightly",
    job=raw_loads,
    cron_schedule="30 21 * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    tags=STAGED,
    description="Nightly: every source's loads, then (sensor after_raw_loads) what they changed "
    "(see orchestration/jobs.py for the timing reasoning).",
)

weekly_schedule = dg.ScheduleDefinition(
    name="weekly_h41_schedule",
    job=h41_raw_loads,
    cron_schedule="30 17 * * 4",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    tags=STAGED,
    description="Thursday 17:30 ET, one hour after the H.4.1 release at 16:30 ET: the Fed sources' "
    "loads, then (sensor after_raw_loads) what they changed.",
)
