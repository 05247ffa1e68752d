"""Release sensors: new data reaches BI minutes after a release, not at the next fixed hour.

One sensor, `releases`, with one probe per source. Every `POLL_SECONDS` it reads each source's
watermarks from its raw asset's latest materialization (the `loads` metadata: the newest observation
per series; never the warehouse file, which a running load holds), asks the source for anything
after them (`ingest.release_poll`: one small request per release) and, when something is new,
requests one run of the raw assets with news and what is downstream of them: only the dbt models
that read them (dagster-dbt runs `dbt build --select` for that selection), the publish and the
report. The run key names the new observations, so a
release starts one run, once.

The nightly schedule stays as the safety net. Its runs, and the Thursday schedule's, are the first
stage of a routine run (the loads, orchestration/stages.py): `after_raw_loads`, a run-status
sensor, starts the second stage when one succeeds. In replay mode (`LIQUIDITY_REPLAY_DIR`) the probes read
the snapshot files, so a sensor fires when the folder is swapped for a later snapshot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import dagster as dg

from ingest import load, registry, release_poll, settings
from ingest.errors import SourceError
from ingest.transport import make_transport
from orchestration.assets.dbt import downstream_of
from orchestration.assets.report import REPORT_KEY
from orchestration.assets.serving import SERVING_KEY
from orchestration.jobs import (
    AFTER_RUN_TAG,
    RAW_STAGE,
    SECOND_STAGE,
    SKIP_UNCHANGED,
    STAGE_TAG,
    h41_raw_loads,
    materialize_everything,
    raw_loads,
    weekly_h41,
)

POLL_SECONDS = 300

Poll = Callable[[object, dict[str, dt.date], dt.date], release_poll.PollResult]


def watermarks(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, dt.date] | None:
    """Newest observation per series from the raw asset's latest materialization; None if never loaded."""
    event = instance.get_latest_materialization_event(key)
    if event is None:
        return None
    loads = getattr(event.asset_materialization.metadata.get("loads"), "data", None) or {}
    return {series: dt.date.fromisoformat(info["last"]) for series, info in loads.items() if info.get("last")}


def today() -> dt.date:
    return load.replay_today() or dt.datetime.now(dt.UTC).date()


def selection(raw: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """The raw assets with news and what they can change: the dbt models downstream of them (so the
    run's `dbt build --select` leaves the others as they are), the serving file and the report."""
    return [*raw, *downstream_of(raw), SERVING_KEY, REPORT_KEY]


# Raw asset -> its probe (ingest.release_poll), for every raw table of the registry that has one.
POLLS: dict[str, Poll] = {t.name: getattr(release_poll, t.poll) for t in registry.RAW_TABLES if t.poll}


def poll_all(
    instance: dg.DagsterInstance, transport
) -> tuple[dict[str, dict[str, dt.date]], list[str], int, int]:
    """Probe every source once: (new observations per raw asset, skip notes, requests, bytes)."""
    news: dict[str, dict[str, dt.date]] = {}
    notes: list[str] = []
    requests = nbytes = 0
    for asset, poll in POLLS.items():
        marks = watermarks(instance, dg.AssetKey(["raw", asset]))
        if not marks:
            notes.append(f"raw/{asset} never loaded (its first load is make run's or the schedule's)")
            continue
        try:
            result = poll(transport, marks, today())
        except (SourceError, ValueError) as exc:
            notes.append(f"raw/{asset} probe failed, will try again: {exc}")
            continue
        requests, nbytes = requests + result.requests, nbytes + result.bytes
        if result.new:
            news[asset] = result.new
        else:
            notes.append(
                f"raw/{asset}: nothing after {', '.join(f'{s} {d}' for s, d in sorted(marks.items()))}"
            )
    return news, notes, requests, nbytes


@dg.sensor(
    name="releases",
    job=materialize_everything,
    minimum_interval_seconds=POLL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Polls every source for observations after its watermark (one small request per release) "
    "and starts one run of the raw assets with news and the models, publish and report downstream of them "
    "(orchestration/sensors.py).",
)
def releases(context: dg.SensorEvaluationContext):
    try:
        transport = make_transport(settings.replay_dir(), None)  # probes are not data: no landing copy
    except FileNotFoundError as exc:
        return dg.SkipReason(str(exc))
    news, notes, requests, nbytes = poll_all(context.instance, transport)
    context.log.info("probes: %d requests, %d bytes; %s", requests, nbytes, "; ".join(notes) or "news")
    if not news:
        return dg.SkipReason("; ".join(notes))
    found = "; ".join(
        f"{asset}: " + ", ".join(f"{s} {d}" for s, d in sorted(new.items()))
        for asset, new in sorted(news.items())
    )
    return dg.RunRequest(
        run_key=found,
        asset_selection=selection([dg.AssetKey(["raw", asset]) for asset in sorted(news)]),
        tags={**SKIP_UNCHANGED, "liquidity/release": found[:200]},
    )


@dg.run_status_sensor(
    name="after_raw_loads",
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[raw_loads, h41_raw_loads],
    request_jobs=[materialize_everything, weekly_h41],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="When a scheduled run of the loads succeeds, starts the second stage: only the dbt "
    "models whose inputs changed, what is downstream of them, the publish and the report; nothing "
    "when no model's inputs changed (orchestration/stages.py).",
)
def after_raw_loads(context: dg.RunStatusSensorContext):
    from orchestration import stages

    run = context.dagster_run
    if run.tags.get(STAGE_TAG) != RAW_STAGE:
        return dg.SkipReason(f"run {run.run_id[:8]} is not a scheduled first stage (no tag {STAGE_TAG})")
    job = SECOND_STAGE[run.job_name]
    if context.repository_def is not None:
        keys = context.repository_def.get_job(job.name).asset_layer.selected_asset_keys
    else:  # a context built outside the daemon
        from orchestration.definitions import defs

        keys = defs.resolve_job_def(job.name).asset_layer.selected_asset_keys
    after, skipped = stages.second_stage(context.instance, keys)
    if skipped:
        return dg.SkipReason(f"after run {run.run_id[:8]}: dbt build skipped: {skipped}")
    return dg.RunRequest(
        run_key=run.run_id,
        job_name=job.name,
        asset_selection=after,
        tags={**SKIP_UNCHANGED, AFTER_RUN_TAG: run.run_id},
    )
