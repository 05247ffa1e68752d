"""Where a pipeline run's time went, from Dagster's own event log: the run's duration, each
step's duration (start to success or failure), and the requests / bytes the raw assets reported.

`python -m bench.steps <dagster_home>` prints one JSON object for the newest run in that instance.
The difference between a measurement's wall time and `run_s` is process start-up (imports, code
location, instance) plus the summary printed at the end. A `make run` of two runs (raw loads, then
what they changed) counts as one: `run_s` spans the first's start to the second's end, and the gap
between them (the build plan) is in it.
"""

from __future__ import annotations

import json
import os
import sys

import dagster as dg

from orchestration.jobs import AFTER_RUN_TAG

END = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}


def newest_run(home: str) -> dict:
    os.environ["DAGSTER_HOME"] = home
    with dg.DagsterInstance.from_config(home) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}
        run = runs[0]
        # `make run` is two runs (orchestration/cli.py `staged_runs`): the newest names the first.
        first = run.tags.get(AFTER_RUN_TAG)
        both = [instance.get_run_by_id(first), run] if first else [run]
        started: dict[str, float] = {}
        steps: dict[str, float] = {}
        run_start = run_end = None
        fetched = {"requests": 0, "bytes_fetched": 0}
        for entry in (e for r in both for e in instance.all_logs(r.run_id)):
            kind = entry.dagster_event_type
            if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
                metadata = entry.asset_materialization.metadata
                for name in fetched:
                    if name in metadata:
                        fetched[name] += int(metadata[name].value)
            if kind == dg.DagsterEventType.RUN_START:
                run_start = run_start or entry.timestamp
            elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
                run_end = entry.timestamp
            elif kind == dg.DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
            elif kind in END and entry.step_key in started:
                steps[entry.step_key] = round(entry.timestamp - started[entry.step_key], 3)
        return {
            "run_id": both[0].run_id,
            "runs": [r.run_id for r in both],
            "status": "SUCCESS" if all(r.status.value == "SUCCESS" for r in both) else run.status.value,
            "run_s": round(run_end - run_start, 3) if run_start and run_end else None,
            "steps_s": dict(sorted(steps.items(), key=lambda kv: -kv[1])),
            # what the raw assets reported in their materialization metadata (sum over sources)
            "raw_assets_metadata": fetched,
        }


if __name__ == "__main__":
    print(json.dumps(newest_run(sys.argv[1])))
