"""What issue 16 adds to a build: the dbt nodes of the lead-over-time, event-window and thresholds
marts (their share of `dbt build`), and the interactive report (time and page weight).

`python -m bench.issue16 <data_dir>`: `data_dir` holds a warehouse and serving file from a replay
run (`bench.run` passes its cold-build dir). It runs `dbt build` of the added nodes alone with their
tests, reads each node's execution time from dbt's run_results.json, then builds the report from
the serving file into a scratch dir, timing it cold (the Vega bundle cache removed) and warm.
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import settings

# the nodes issue 16 added, with everything their tests need
SELECT = [
    "policy_events",
    "int_net_liquidity_at_midnight",
    "int_crypto_market_caps_long",
    "int_lead_scan_bootstrap",
    "liquidity_lead_over_time",
    "policy_event_windows",
    "liquidity_thresholds",
]


def dbt_nodes(data_dir: Path, target: Path) -> dict:
    with settings.exported({"LIQUIDITY_DATA_DIR": str(data_dir)}):
        env = {**os.environ, **settings.dbt_env()}  # what the pipeline hands its own dbt commands
    cmd = [
        settings.dbt_executable(),
        *settings.DBT_BUILD_ARGS,
        "--select",
        *SELECT,
        "--target-path",
        str(target),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=settings.DBT_PROJECT_DIR, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    results = json.loads((target / "run_results.json").read_text())["results"]
    models = {
        r["unique_id"].split(".")[-1]: round(r["execution_time"], 3)
        for r in results
        if r["unique_id"].startswith(("model.", "seed."))
    }
    tests = sum(r["execution_time"] for r in results if r["unique_id"].startswith(("test.", "unit_test.")))
    return {
        "dbt_build_wall_s": round(wall, 2),
        "node_s": models,
        "models_s": round(sum(models.values()), 2),
        "tests_s": round(tests, 2),
        "tests": sum(1 for r in results if r["unique_id"].startswith("test.")),
    }


def report(data_dir: Path, scratch: Path) -> dict:
    from reporting import build, html

    os.environ["LIQUIDITY_DATA_DIR"] = str(scratch)
    out = {}
    for label in ("cold", "warm"):
        if label == "cold":
            shutil.rmtree(scratch / ".cache", ignore_errors=True)
            html.vega_bundle.cache_clear()
        start = time.perf_counter()
        result = build.build_report(data_dir / "serving.duckdb", scratch / "report")
        out[f"report_{label}_s"] = round(time.perf_counter() - start, 2)
    out["page_bytes"] = result.page_bytes
    out["preview_png_bytes"] = len(result.preview_png)
    return out


def main(argv: list[str]) -> int:
    data_dir = Path(argv[0]).resolve()
    with tempfile.TemporaryDirectory(prefix="bench-issue16-") as tmp:
        scratch = Path(tmp)
        result = {**dbt_nodes(data_dir, scratch / "target"), **report(data_dir, scratch)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
