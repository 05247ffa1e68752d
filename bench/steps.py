"""Where a pipeline run's time went, from Dagster's own event log: the run's duration, each
step's duration (start to success or failure), and the requests / bytes the raw assets reported.

`python -m bench.steps <dagster_home>` prints one JSON object for the newest run in that instance.
The difference between a measurement's wall time and `run_s` is process start-up (imports, code
location, instance) plus the summary printed at the end.
"""

from __future__ import annotations

import json
import os
import sys

import dagster as dg

END = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}


def newest_run(home: str) -> dict:
    os.environ["DAGSTER_HOME"] = home
    with dg.DagsterInstance.from_config(home) as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}
        run = runs[0]
        started: dict[str, float] = {}
        steps: dict[str, float] = {}
        run_start = run_end = None
        fetched = {"requests": 0, "bytes_fetched": 0}
        for entry in instance.all_logs(run.run_id):
            kind = entry.dagster_event_type
            if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
                metadata = entry.asset_materialization.metadata
                for name in fetched:
                    if name in metadata:
                        fetched[name] += int(metadata[name].value)
            if kind == dg.DagsterEventType.RUN_START:
                run_start = entry.timestamp
            elif kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
                run_end = entry.timestamp
            elif kind == dg.DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
            elif kind in END and entry.step_key in started:
                steps[entry.step_key] = round(entry.timestamp - started[entry.step_key], 3)
        return {
            "run_id": run.run_id,
            "status": run.status.value,
            "run_s": round(run_end - run_start, 3) if run_start and run_end else None,
            "steps_s": dict(sorted(steps.items(), key=lambda kv: -kv[1])),
            # what the raw assets reported in their materialization metadata (sum over sources)
            "raw_assets_metadata": fetched,
        }


if __name__ == "__main__":
    print(json.dumps(newest_run(sys.argv[1])))
