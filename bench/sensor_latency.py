"""The release path, measured: what one probe of the `releases` sensor costs, and how long it takes
from "the sources published something" to "serving.duckdb has it".

`python -m bench.sensor_latency <work_dir> <first snapshot> <second snapshot>`:
1. a live first load (`make run`'s entry point) from `tests/reliability/replay_server.py` serving the
   first snapshot;
2. one sensor tick with nothing new: its requests and bytes;
3. the server switches to the second snapshot (the release); then one sensor tick and the run it
   requests, executed as the daemon would launch it; the seconds from the switch until that run
   has published serving.duckdb, and the tick's requests and bytes.
Prints one JSON object. The daemon's poll interval (`orchestration/sensors.py` POLL_SECONDS) comes on
top in production: a release waits at most that long for the next tick.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path

import dagster as dg

from bench.live_bytes import point_sources_at
from bench.replay_server import ReplayServer
from ingest import load
from ingest.transport import make_transport

KEYS = {"FRED_API_KEY": "bench-fred-key", "COINGECKO_API_KEY": "bench-cg-key", "COINGECKO_PLAN": "pro"}


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    work, first, second = Path(argv[0]), Path(argv[1]), Path(argv[2])
    for name in list(os.environ):
        if name.startswith(("LIQUIDITY_", "FRED_", "COINGECKO_", "DAGSTER_")):
            del os.environ[name]
    os.environ.update({**KEYS, "LIQUIDITY_DATA_DIR": str(work / "data"), "DAGSTER_HOME": str(work / "home")})
    with ReplayServer(first, max_hits_per_route=20) as server:
        point_sources_at(server.base_url)
        load.replay_today = lambda: dt.date.fromisoformat(server.snapshot.name)  # the server's clock
        from orchestration import cli, sensors
        from orchestration.definitions import defs

        assert cli.main(["run"]) == 0, "first load failed"
        serving = work / "data" / "serving.duckdb"
        with dg.DagsterInstance.get() as instance:
            quiet = sensors.poll_all(instance, make_transport(None, None))
            server.switch(second)
            switched = time.perf_counter()
            request = sensors.releases(dg.build_sensor_context(instance=instance))
            tick_s = time.perf_counter() - switched
            news = sensors.poll_all(instance, make_transport(None, None))
            assert isinstance(request, dg.RunRequest), request
            before = serving.stat().st_mtime_ns
            started = time.perf_counter()
            result = defs.resolve_job_def("materialize_everything").execute_in_process(
                instance=instance,
                asset_selection=request.asset_selection,
                tags=request.tags,
                raise_on_error=False,
            )
            run_s = time.perf_counter() - started
    published = result.success and serving.stat().st_mtime_ns != before
    print(
        json.dumps(
            {
                "quiet_poll": {"requests": quiet[2], "bytes": quiet[3]},
                "release_poll": {"requests": news[2], "bytes": news[3]},
                "tick_s": round(tick_s, 3),
                "run_s": round(run_s, 3),
                "switch_to_published_s": round(tick_s + run_s, 3),
                "published": published,
                "run_key": request.run_key,
                "poll_interval_s": sensors.POLL_SECONDS,
            }
        )
    )
    return 0 if published else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
