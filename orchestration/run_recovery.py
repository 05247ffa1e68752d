"""Recover from a `python -m orchestration.cli run` that was killed outright (SIGKILL, the OOM
killer, a power cut), so the UI and the run history do not show it running for ever.

A killed process never reports its end: `$DAGSTER_HOME` keeps its run STARTED for ever (the UI shows
it running, and the warehouse's file lock, released by the kernel, is not what keeps it there).

Each CLI run therefore holds a file lock for its whole life (`$DAGSTER_HOME/cli_runs/<token>.lock`,
the token in the run's tags). The kernel releases such a lock when the process dies, however it
dies. Before starting, `run` takes the lock of every unfinished CLI run it finds: if it can, that
run's process is gone, so the run is marked failed. A run whose process is alive keeps its lock
and is left alone; runs launched by `dagster dev` carry no token and are
never touched (Dagster's own run monitoring owns those).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import filelock

LIVENESS_TAG = "liquidity/cli_liveness_lock"
UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
_TOKEN = re.compile(r"[0-9a-f]{32}")


def _lock_file(home: Path, token: str) -> Path:
    return home / "cli_runs" / f"{token}.lock"


@contextlib.contextmanager
def liveness_lock(home: Path) -> Iterator[dict[str, str]]:
    """Hold this process's liveness lock; yields the tags that name it (pass them to the run)."""
    token = uuid.uuid4().hex
    path = _lock_file(home, token)
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path)):
        yield {LIVENESS_TAG: token}
    path.unlink(missing_ok=True)


def release_dead_cli_runs(instance: dg.DagsterInstance, home: Path) -> list[str]:
    """Mark failed every unfinished CLI run whose process is gone."""
    released = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        token = run.tags.get(LIVENESS_TAG, "")
        if not _TOKEN.fullmatch(token):
            continue  # not started by the CLI: not ours to judge
        path = _lock_file(home, token)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            continue  # its process is alive
        try:
            instance.report_run_failed(
                run,
                message="the process running this run died without ending it (killed); "
                "marked failed by the next run",
            )
            released.append(run.run_id)
        finally:
            lock.release()
            path.unlink(missing_ok=True)
    return released
