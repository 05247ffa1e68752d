"""Command line: `python -m orchestration.cli run` (what `make run` calls) and `... dev`.

`run` materializes every asset once (ingest → dbt build → checks → publish) in this process,
prints a short summary, and exits non-zero when any step or blocking check failed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from ingest import settings

HERE = Path(__file__).resolve().parent


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.data_dir() / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(HERE / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def run(job_name: str = "materialize_everything") -> int:
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.summary import print_summary

    os.environ["LIQUIDITY_DATA_DIR"] = str(settings.data_dir())
    if settings.replay_dir() is None:
        from ingest.transport import OFFLINE_HINT, unreachable_hosts

        hosts = ["fred.stlouisfed.org", "www.federalreserve.gov", "api.coingecko.com"]
        if unreachable_hosts(hosts) == hosts:
            print(f"ERROR network unreachable: cannot connect to {', '.join(hosts)}. {OFFLINE_HINT}", file=sys.stderr)
            return 2
    dagster_home()
    with dg.DagsterInstance.get() as instance:
        job = defs.resolve_job_def(job_name)
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        print_summary(result)
    return 0 if result.success else 1


def dev() -> int:
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
    sub.add_parser("dev", help="Dagster webserver + daemon on 127.0.0.1:3000")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.job)
    return dev()


if __name__ == "__main__":
    sys.exit(main())
