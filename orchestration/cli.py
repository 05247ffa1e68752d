"""Command line: `python -m orchestration.cli run` (what `make run` calls), `... dev` and
`... backfill --source fred --series WALCL --start 2020-01-01 --end 2020-12-31`.

`run` materializes the pipeline in this process as two Dagster runs (orchestration/stages.py):
ingest with the raw checks, then only the dbt models whose inputs changed, their checks, publish and
report (`--rebuild`: one run that rebuilds everything). It prints a short summary, and exits non-zero when any step or blocking check failed (1), or when it
refused to start (2): a setting is invalid (a catalog line, LIQUIDITY_COINS, LIQUIDITY_START, the
CoinGecko plan, a missing LIQUIDITY_REPLAY_DIR, an unwritable LIQUIDITY_DATA_DIR or DAGSTER_HOME;
the message names it), or no source host can be reached (then it names LIQUIDITY_REPLAY_DIR).
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ingest import settings

HERE = Path(__file__).resolve().parent
# The console shows INFO and up (progress lines, warnings, failures); every DEBUG event is still
# stored in the run's event log for the UI.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def dagster_home() -> Path:
    home = settings.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(HERE / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def configuration_error() -> str | None:
    """What a user can set, checked before anything is opened or requested: every catalog line
    (series ids included), the settings (`settings.configuration_problems`: dates, writable data dir
    and DAGSTER_HOME, the replay folder, coin ids, the CoinGecko plan). None when all are valid."""
    from ingest import catalog

    problems = []
    try:
        catalog.load_catalog()
    except (ValueError, csv.Error) as exc:
        problems.append(str(exc))
    problems += settings.configuration_problems()
    from orchestration import pg_serving

    try:
        pg_serving.target()
    except ValueError as exc:
        problems.append(str(exc))
    return "; ".join(problems) or None


def source_endpoints(keys: settings.ApiKeys) -> list[tuple[str, int]]:
    """(host, port) of each source URL this run will request, read from the fetchers' URL constants,
    so a run pointed elsewhere (e.g. a local test server) preflights where it will really connect."""
    from ingest import coingecko, fed_ddp, fred, treasury_dts

    urls = [
        fred.API_ROOT if keys.fred else fred.FREDGRAPH_URL,
        fed_ddp.URL,
        treasury_dts.URL,
        coingecko.PRO_ROOT if keys.coingecko_plan == "pro" else coingecko.DEMO_ROOT,
        coingecko.EXPORT_URL,
    ]
    endpoints: list[tuple[str, int]] = []
    for url in urls:
        parts = urlsplit(url)
        endpoint = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        if endpoint not in endpoints:
            endpoints.append(endpoint)
    return endpoints


def _refuse_configuration() -> bool:
    problem = configuration_error()
    if problem:
        print(f"ERROR configuration: {problem}", file=sys.stderr)
    return problem is not None


def run(job_name: str = "materialize_everything", rebuild: bool = False, fetch_all: bool = False) -> int:
    os.environ["LIQUIDITY_DATA_DIR"] = str(settings.data_dir())
    if _refuse_configuration():  # before the heavy imports: a bad setting costs a fraction of a second
        return 2
    import dagster as dg

    from orchestration import run_recovery
    from orchestration.definitions import defs
    from orchestration.jobs import ROUTINE, SKIP_UNCHANGED
    from orchestration.summary import print_summary

    if settings.replay_dir() is None:
        from ingest.transport import OFFLINE_HINT, unreachable_hosts

        endpoints = source_endpoints(settings.api_keys())
        if unreachable_hosts(endpoints) == endpoints:
            names = ", ".join(host if port in (80, 443) else f"{host}:{port}" for host, port in endpoints)
            print(f"ERROR network unreachable: cannot connect to {names}. {OFFLINE_HINT}", file=sys.stderr)
            return 2
    _quiet_skipped_dbt_checks()
    home = dagster_home()
    with dg.DagsterInstance.get() as instance:
        # A run killed outright (SIGKILL) never reports its end: mark it failed, or it shows STARTED for ever.
        for run_id in run_recovery.release_dead_cli_runs(instance, home):
            print(f"run {run_id} had been killed: marked it failed", file=sys.stderr)
        job = defs.resolve_job_def(job_name)
        with run_recovery.liveness_lock(home) as tags:
            if rebuild:
                results = [
                    job.execute_in_process(
                        instance=instance, raise_on_error=False, tags=tags, run_config=CONSOLE_INFO
                    )
                ]
                skipped = None
            else:
                routine = SKIP_UNCHANGED if fetch_all else ROUTINE
                results, skipped = staged_runs(job, instance, {**tags, **routine})
        print_summary(*results, dbt_skipped=skipped)
    return 0 if all(result.success for result in results) else 1


def staged_runs(job, instance, tags: dict[str, str]):
    """A routine run as its two stages (orchestration/stages.py), both in this process: the job's raw
    assets, then what their loads changed with the publish and the report; no second run when
    nothing changed. Returns (the runs' results, why dbt was skipped or None)."""
    from orchestration import stages

    keys = job.asset_layer.selected_asset_keys
    first = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={**tags, stages.STAGE_TAG: stages.RAW_STAGE},
        run_config=CONSOLE_INFO,
        asset_selection=stages.raw_keys(keys),
    )
    if not first.success:
        return [first], None
    after, skipped = stages.second_stage(instance, keys)
    if skipped:
        return [first], skipped
    second = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={**tags, stages.AFTER_RUN_TAG: first.run_id},
        run_config=CONSOLE_INFO,
        asset_selection=after,
    )
    return [first, second], None


class _SkippedDbtChecks(logging.Filter):
    """Drops Dagster's "Blocking asset check ... emitted no result in step 'dbt_models'" console
    warnings: one per blocking dbt test when the build was skipped (nothing changed) or failed, in
    both cases already said once by the summary, and nothing downstream publishes either way."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "emitted no result in step 'dbt_models'" not in record.getMessage()


def _quiet_skipped_dbt_checks() -> None:
    logger = logging.getLogger("dagster._core.execution.plan.active")
    if not any(isinstance(f, _SkippedDbtChecks) for f in logger.filters):
        logger.addFilter(_SkippedDbtChecks())


def backfill(source: str, series: str, start: str, end: str) -> int:
    """Re-ingest [start, end] of one series into the warehouse (no dbt, no publish), like the
    `backfill_series` job; waits for the single-writer lock if a run is writing."""
    from ingest import load
    from ingest.errors import InvalidIdentifier, NetworkUnreachable

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    os.environ["LIQUIDITY_DATA_DIR"] = str(settings.data_dir())
    if _refuse_configuration():
        return 2
    try:
        load.check_backfill(source, series, start, end)
        outcome = load.backfill(source, series, start, end)
    except (InvalidIdentifier, ValueError, NetworkUnreachable) as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    print(
        f"{source} {series} {start}..{end}: {outcome.status} rows={outcome.rows} "
        f"inserted={outcome.inserted} updated={outcome.updated} {outcome.message}"
    )
    return 0 if outcome.status == "ok" else 1


def dev() -> int:
    if _refuse_configuration():
        return 2
    home = dagster_home()
    os.environ["LIQUIDITY_DATA_DIR"] = str(settings.data_dir())
    dagster = Path(sys.executable).with_name("dagster")
    args = [
        str(dagster),
        "dev",
        "-w",
        str(settings.PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        "3000",
    ]
    print(f"DAGSTER_HOME={home}")
    os.execv(args[0], args)  # noqa: S606 - replace this process with `dagster dev`
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestration.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="materialize every asset once")
    run_p.add_argument("--job", default="materialize_everything")
    run_p.add_argument(
        "--fetch-all",
        action="store_true",
        help="ask every source for every series, also those already holding the newest observation "
        "their release calendar allows (e.g. to pick up a correction published between releases)",
    )
    run_p.add_argument(
        "--rebuild",
        action="store_true",
        help="--fetch-all, and run dbt build even when no raw table or dbt file changed",
    )
    sub.add_parser("dev", help="Dagster webserver + daemon on 127.0.0.1:3000")
    bf = sub.add_parser("backfill", help="re-ingest a date range of one series (raw layer only)")
    bf.add_argument("--source", required=True, choices=["fred", "fed_ddp", "coingecko", "treasury_dts"])
    bf.add_argument(
        "--series",
        required=True,
        help="catalog series id, coin id for coingecko, operating_cash_balance for treasury_dts",
    )
    bf.add_argument("--start", required=True, help="first date YYYY-MM-DD (inclusive)")
    bf.add_argument("--end", required=True, help="last date YYYY-MM-DD (inclusive)")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.job, rebuild=args.rebuild, fetch_all=args.fetch_all)
    if args.command == "backfill":
        return backfill(args.source, args.series, args.start, args.end)
    return dev()


if __name__ == "__main__":
    sys.exit(main())
