"""`make bench`: measure the pipeline's cost on the replay snapshots, print a table, write
`bench/results.json`. See bench/README.md for what each number means.

Every measurement runs in a fresh subprocess (`bench.measure`): wall seconds, CPU seconds of the
whole process tree, peak memory. Nothing here is a test: timings depend on the machine and on what
else runs on it (the load average before each measurement is recorded next to it).

    .venv/bin/python -m bench.run                       # everything (881 s on 2 cores on 2026-12-01)
    .venv/bin/python -m bench.run --only cold,bi        # some sections: cold incremental overhead bi scale private lake
    .venv/bin/python -m bench.run --sizes 100,300       # smaller scale run
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import duckdb
import psutil

from bench import measure, pg_server, stock, synthetic
from ingest import settings

ROOT = settings.PROJECT_ROOT
BIN = Path(sys.executable).parent
PYTHON = str(BIN / "python") if (BIN / "python").exists() else sys.executable
DBT = settings.dbt_executable()
REPLAY = (ROOT.parent / "shared" / "data" / "replay").resolve()
FIRST_CUT, SECOND_CUT = "2025-11-19", "2026-01-31"
RESULTS = ROOT / "bench" / "results.json"
SECTIONS = ("cold", "incremental", "size", "overhead", "bi", "scale", "private", "lake")
SIZE_RERUNS = 10
DEFAULT_SIZES = (100, 300, 1000)

TARGETS = {
    "cold_build_s": 30.0,
    "noop_ratio": 0.25,
    "incremental_bytes_ratio": 0.02,
    "noop_bytes_ratio": 0.01,
    "bi_p95_ms": 20.0,
    "scale_1000_s": 60.0,
    "scale_1000_rss_mb": 2048.0,
    "scale_growth_exponent": 1.0,
    "warehouse_growth_ratio": 1.10,
}


# --- environment and facts ------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any pipeline setting (keys, data dir, replay, coins...), with
    the project's .venv first on PATH (dagster-dbt runs `dbt` from PATH)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LIQUIDITY_", "FRED_", "COINGECKO_", "DAGSTER_", "DBT_"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def with_dbt_env(env: dict[str, str]) -> dict[str, str]:
    """`env` plus what the pipeline exports to its own dbt commands (settings.dbt_env, resolved in
    `env`), for the benchmark's direct `dbt` calls."""
    with mock.patch.dict(os.environ, env, clear=True):
        return {**env, **settings.dbt_env()}


def dbt_target(data_dir: Path) -> Path:
    """The dbt target folder the pipeline uses for this data dir (settings.dbt_target_dir)."""
    with mock.patch.dict(os.environ, {"LIQUIDITY_DATA_DIR": str(data_dir)}):
        return settings.dbt_target_dir()


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def machine_facts() -> dict:
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            p: _version(p)
            for p in ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "pandas", "pyarrow")
        },
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- helpers ---------------------------------------------------------------------------------------


class Bench:
    def __init__(self, workdir: Path, timeout: float):
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.results: dict = {}

    def run(self, label: str, command: list[str], env: dict[str, str], cwd: Path = ROOT) -> dict:
        load = [round(x, 2) for x in os.getloadavg()]
        slug = "".join(c if c.isalnum() else "_" for c in label)[:60]
        m = measure.run(label, command, env=env, cwd=cwd, timeout=self.timeout, log=self.logs / f"{slug}.log")
        out = m.as_dict() | {"loadavg_1m_before": load[0], "log": str(self.logs / f"{slug}.log")}
        status = "ok" if m.returncode == 0 else f"EXIT {m.returncode}"
        print(
            f"  {label:58s} {m.wall_s:7.1f} s wall {m.cpu_s:7.1f} s cpu "
            f"{m.peak_tree_rss_mb:7.0f} MB  (load {load[0]:.1f}) {status}",
            flush=True,
        )
        if m.returncode != 0:
            print(m.output_tail, file=sys.stderr)
            raise RuntimeError(f"{label} failed (exit {m.returncode}); log: {out['log']}")
        return out


def landing_files(data_dir: Path) -> dict[str, int]:
    """Every response the transport landed (one `.meta.json` per request) and its body size."""
    out = {}
    for meta in (data_dir / "landing").rglob("*.meta.json"):
        try:
            out[str(meta)] = int(json.loads(meta.read_text())["bytes"])
        except (OSError, ValueError, KeyError):
            continue
    return out


def last_run_load_log(data_dir: Path) -> dict:
    """raw.load_log of the newest run: series fetched, bytes recorded, rows inserted/updated."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT run_id, count(*), sum(bytes), sum(inserted), sum(updated) FROM raw.load_log "
            "GROUP BY run_id ORDER BY max(loaded_at) DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return {}
    return {"run_id": row[0], "series": row[1], "bytes": row[2], "inserted": row[3], "updated": row[4]}


def pipeline_run(bench: Bench, label: str, data_dir: Path, cut: str, entry: tuple[str, ...] = ()) -> dict:
    """`python -m orchestration.cli run` (what `make run` runs after `make prepare`) on one snapshot;
    `entry` replaces the module and its leading arguments (e.g. bench.stock's variants)."""
    before = landing_files(data_dir)
    env = clean_env(LIQUIDITY_DATA_DIR=str(data_dir), LIQUIDITY_REPLAY_DIR=str(REPLAY / cut))
    out = bench.run(label, [PYTHON, "-m", *(entry or ("orchestration.cli",)), "run"], env)
    after = landing_files(data_dir)
    new = {k: v for k, v in after.items() if k not in before}
    out["replay_requests"] = len(new)
    out["replay_bytes_read"] = sum(new.values())
    out["load_log"] = last_run_load_log(data_dir)
    out["warehouse_bytes"] = (data_dir / "warehouse.duckdb").stat().st_size
    out["dagster"] = run_steps(data_dir / "dagster_home")
    reported = out["dagster"].get("raw_assets_metadata") or {}
    # Three records of the same fetches: the landing archive (every response), the raw assets'
    # Dagster metadata, raw.load_log (bytes per series). They should agree.
    out["counts_agree"] = (
        reported.get("requests") == out["replay_requests"]
        and reported.get("bytes_fetched") == out["replay_bytes_read"]
        and out["load_log"].get("bytes") == out["replay_bytes_read"]
    )
    if out["dagster"].get("run_s"):
        out["startup_and_summary_s"] = round(out["wall_s"] - out["dagster"]["run_s"], 3)
        top = list(out["dagster"]["steps_s"].items())[:3]
        print(
            f"    run {out['dagster']['run_s']:.1f} s (start-up + summary {out['startup_and_summary_s']:.1f} s); "
            + ", ".join(f"{k} {v:.1f} s" for k, v in top)
        )
    return out


def run_steps(home: Path) -> dict:
    """The newest run's duration and step durations, from Dagster's event log (bench.steps)."""
    proc = subprocess.run(
        [PYTHON, "-m", "bench.steps", str(home)], env=clean_env(), cwd=ROOT, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return {"error": proc.stderr[-500:]}
    return json.loads(proc.stdout)


def dbt_parse(
    bench: Bench, label: str, target: Path, data_dir: Path, partial: bool, extra: dict[str, str] | None = None
) -> dict:
    env = with_dbt_env(clean_env(LIQUIDITY_DATA_DIR=str(data_dir), **(extra or {})))
    flag = [] if partial else ["--no-partial-parse"]
    command = [DBT, "parse", *flag, "--quiet", "--target-path", str(target), "--log-path", str(target)]
    return bench.run(label, command, env, cwd=settings.DBT_PROJECT_DIR)


def _median(runs: list[dict], key: str = "wall_s") -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def exponent(t1: float, t2: float, n1: int, n2: int) -> float:
    return round(math.log(t2 / t1) / math.log(n2 / n1), 3)


# --- sections --------------------------------------------------------------------------------------


def section_pipeline(bench: Bench, sections: set[str]) -> None:
    data_dir = bench.workdir / "pipeline"
    target = dbt_target(data_dir)
    print("1. cold build, 2. incremental and no-op (orchestration.cli run, replay snapshots)")
    # What `make run` does first with the same LIQUIDITY_DATA_DIR: dbt parse (its partial-parse state
    # is what the dbt build of the run starts from).
    dbt_parse(bench, "prepare: dbt parse for this data dir", target, data_dir, partial=False)
    cold = pipeline_run(bench, f"cold build {FIRST_CUT} (empty data dir)", data_dir, FIRST_CUT)
    bench.results["cold_build"] = cold
    added = bench.results["issue16"] = module_json(bench, "bench.issue16", str(data_dir))  # bench/issue16.py
    print(
        f"  issue 16 nodes: {added['models_s']:.1f} s models + {added['tests_s']:.1f} s tests "
        f"(bootstrap {added['node_s']['int_lead_scan_bootstrap']:.1f} s); report {added['report_cold_s']:.1f} s, "
        f"page {added['page_bytes'] / 1e6:.2f} MB"
    )
    if "incremental" not in sections:
        return
    incremental = pipeline_run(bench, f"incremental {FIRST_CUT} -> {SECOND_CUT}", data_dir, SECOND_CUT)
    noop = pipeline_run(bench, f"no-op rerun {SECOND_CUT}", data_dir, SECOND_CUT)
    for run in (incremental, noop):
        run["ratio_to_cold_wall"] = round(run["wall_s"] / cold["wall_s"], 3)
        run["replay_bytes_ratio_to_cold"] = round(run["replay_bytes_read"] / cold["replay_bytes_read"], 3)
    bench.results["incremental"] = incremental
    bench.results["noop"] = noop
    if "size" in sections:
        section_size(bench, data_dir)
    # Live mode: the same loaders against a local server with each source's query semantics.
    live_dir = bench.workdir / "live"
    snapshots = [str(REPLAY / c) for c in (FIRST_CUT, SECOND_CUT, SECOND_CUT)]
    first, incr, again = module_json(bench, "bench.live_bytes", str(live_dir), *snapshots)
    # The targets are "against a first load of the same snapshot": the incremental and the
    # no-op load 2026-01-31, so their ratio is also taken to a first load of 2026-01-31 (own data dir).
    (same,) = module_json(
        bench, "bench.live_bytes", str(bench.workdir / "live_first"), str(REPLAY / SECOND_CUT)
    )
    for phase in (incr, again):
        phase["bytes_ratio_to_first_load"] = round(phase["bytes"] / first["bytes"], 4)
        phase["bytes_ratio_to_same_snapshot_first_load"] = round(phase["bytes"] / same["bytes"], 4)
    bench.results["live_bytes"] = {
        "first_load": first,
        "first_load_same_snapshot": same,
        "incremental": incr,
        "noop": again,
    }
    print(
        f"  live-mode bytes: first load {first['bytes']:,} B in {first['requests']} requests "
        f"({SECOND_CUT}: {same['bytes']:,} B), incremental {incr['bytes']:,} B "
        f"({incr['bytes_ratio_to_same_snapshot_first_load']:.1%}), "
        f"no-op {again['bytes']:,} B ({again['bytes_ratio_to_same_snapshot_first_load']:.1%})"
    )
    section_sensor(bench)


def module_json(bench: Bench, module: str, *args: str):
    """`python -m <module> <args>` in a clean environment; its stderr goes to the logs, its last
    stdout line is JSON."""
    proc = subprocess.run(
        [PYTHON, "-m", module, *args],
        env=clean_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=bench.timeout,
    )
    (bench.logs / f"{module.split('.')[-1]}.log").write_text(proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


PRIVATE_VARIANTS = {
    # name: (entry module and arguments, DAGSTER_HOME dagster.yaml text or None for the shipped one)
    "as shipped": (("bench.stock", "none"), None),
    "stock event log (no orchestration/event_storage.py)": (("bench.stock", "none"), "stock"),
    "stock DbtCliResource (no PipelineDbtResource overrides)": (("bench.stock", "dbt-resource"), None),
}
PRIVATE_ROUNDS = 2


def section_private(bench: Bench) -> None:
    """What each private-API piece is worth: cold build and no-op rerun of the first snapshot with
    the pipeline as shipped and with each piece replaced by stock Dagster, interleaved over
    PRIVATE_ROUNDS rounds (medians), so the ratios come from one run on one machine."""
    print("6. private-API pieces: cold build and no-op rerun with and without each")
    runs: dict[str, dict[str, list[dict]]] = {name: {"cold": [], "noop": []} for name in PRIVATE_VARIANTS}
    for round_no in range(1, PRIVATE_ROUNDS + 1):
        for i, (name, (entry, instance_yaml)) in enumerate(PRIVATE_VARIANTS.items()):
            data_dir = bench.workdir / f"private-{round_no}-{i}"
            home = data_dir / "dagster_home"
            home.mkdir(parents=True)
            if instance_yaml == "stock":
                (home / "dagster.yaml").write_text(stock.stock_instance_yaml())
            for kind in ("cold", "noop"):
                label = f"{name}: {kind} #{round_no}"
                runs[name][kind].append(pipeline_run(bench, label, data_dir, FIRST_CUT, entry))
    shipped = runs["as shipped"]
    out = {}
    for name, kinds in runs.items():
        entry = {f"{kind}_wall_s": _median(kinds[kind]) for kind in kinds}
        for kind in kinds:
            entry[f"{kind}_ratio_to_shipped"] = round(entry[f"{kind}_wall_s"] / _median(shipped[kind]), 3)
        entry["runs"] = {kind: [r["wall_s"] for r in kinds[kind]] for kind in kinds}
        out[name] = entry
    bench.results["private_api"] = {"rounds": PRIVATE_ROUNDS, "snapshot": FIRST_CUT, "variants": out}


def section_lake(bench: Bench) -> None:
    """The team setup's warehouse against the default, in this one bench run: a cold build of the
    first snapshot and the incremental run to the second, on the embedded file and on DuckLake
    (catalog in a throwaway PostgreSQL on 127.0.0.1, bench/pg_server.py; Parquet in a local
    folder), interleaved (embedded cold, lake cold, embedded incremental, lake incremental) so both
    see the same machine; the ratios are lake / embedded wall seconds. Skipped, saying why, when no
    PostgreSQL server can be started here."""
    print("7. DuckLake (PostgreSQL catalog, local Parquet) against the embedded file")
    with contextlib.ExitStack() as stack:
        try:
            pg = stack.enter_context(pg_server.postgres_server())
        except RuntimeError as exc:
            bench.results["lake"] = {"skipped": str(exc)}
            print(f"  skipped: {exc}")
            return
        lake_env = {
            # The conninfo carries the throwaway server's password: it goes to the environment only
            # (the pipeline redacts it), never into results.json.
            "LIQUIDITY_WAREHOUSE": f"ducklake:postgres:{pg.conninfo(pg.create_database('bench_lake'))}",
            "LIQUIDITY_LAKE_DATA_PATH": str(bench.workdir / "lake-section" / "lake_data"),
        }
        backends = {"embedded": {}, "lake": lake_env}
        out: dict = {name: {} for name in backends}
        for kind, cut in (("cold", FIRST_CUT), ("incremental", SECOND_CUT)):
            for name, extra in backends.items():
                data_dir = bench.workdir / "lake-section" / name
                env = clean_env(LIQUIDITY_DATA_DIR=str(data_dir), **extra)
                if kind == "cold":  # what `make prepare` does for this data dir and warehouse setting
                    dbt_parse(
                        bench, f"prepare: dbt parse ({name})", dbt_target(data_dir), data_dir, False, extra
                    )
                label = f"{name}: {kind} {cut}" if kind == "cold" else f"{name}: {kind} {FIRST_CUT} -> {cut}"
                run = bench.run(label, [PYTHON, "-m", "orchestration.cli", "run"], {**env, **_replay(cut)})
                run["dagster"] = run_steps(data_dir / "dagster_home")
                out[name][kind] = run
    bench.results["lake"] = {
        "snapshots": [FIRST_CUT, SECOND_CUT],
        "lake_catalog": "PostgreSQL 15, throwaway server on 127.0.0.1 (bench/pg_server.py)",
        "lake_data_path": "local folder (Parquet)",
        **out,
        **{
            f"{kind}_ratio_lake_to_embedded": round(
                out["lake"][kind]["wall_s"] / out["embedded"][kind]["wall_s"], 3
            )
            for kind in ("cold", "incremental")
        },
    }


def _replay(cut: str) -> dict[str, str]:
    return {"LIQUIDITY_REPLAY_DIR": str(REPLAY / cut)}


def section_sensor(bench: Bench) -> None:
    """The release path (bench/sensor_latency.py): a probe's cost, and release -> serving.duckdb."""
    out = module_json(
        bench,
        "bench.sensor_latency",
        str(bench.workdir / "sensor"),
        *(str(REPLAY / c) for c in (FIRST_CUT, SECOND_CUT)),
    )
    bench.results["sensor"] = out
    print(
        f"  sensor: quiet probe {out['quiet_poll']['requests']} requests / {out['quiet_poll']['bytes']:,} B; "
        f"release -> published {out['switch_to_published_s']:.1f} s (+ up to {out['poll_interval_s']} s poll interval)"
    )


def section_size(bench: Bench, data_dir: Path) -> None:
    """Warehouse file size over SIZE_RERUNS reruns on the unchanged snapshot that rebuild every dbt
    model (`--rebuild`: what every rerun did before the unchanged-input skip, and what a
    materialization launched in the UI still does), against its size after the first run that loaded
    the snapshot (the incremental one). Before the compaction one such rerun left the file ~1.8x larger."""
    warehouse = data_dir / "warehouse.duckdb"
    first = bench.results["incremental"]["warehouse_bytes"]
    env = clean_env(LIQUIDITY_DATA_DIR=str(data_dir), LIQUIDITY_REPLAY_DIR=str(REPLAY / SECOND_CUT))
    sizes = []
    for i in range(1, SIZE_RERUNS + 1):
        command = [PYTHON, "-m", "orchestration.cli", "run", "--rebuild"]
        bench.run(f"rerun {i}/{SIZE_RERUNS} with --rebuild (warehouse size)", command, env)
        sizes.append(warehouse.stat().st_size)
    bench.results["warehouse_size"] = {
        "after_first_bytes": first,
        "after_each_rebuild_rerun_bytes": sizes,
        "max_ratio_to_first": round(max(sizes) / first, 3),
        "reruns": SIZE_RERUNS,
    }
    print(
        f"    warehouse {first:,} B after the first run; after {SIZE_RERUNS} rebuilding reruns at most {max(sizes):,} B"
    )


def section_overhead(bench: Bench) -> None:
    print("3. fixed overhead")
    env = clean_env(LIQUIDITY_DATA_DIR=str(bench.workdir / "overhead"))
    defs = [
        bench.run(
            f"import orchestration.definitions #{i}", [PYTHON, "-c", "import orchestration.definitions"], env
        )
        for i in (1, 2, 3)
    ]
    target = bench.workdir / "parse_target"
    data_dir = bench.workdir / "overhead"
    full = [dbt_parse(bench, f"dbt parse --no-partial-parse #{i}", target, data_dir, False) for i in (1, 2)]
    partial = [dbt_parse(bench, f"dbt parse (partial parsing) #{i}", target, data_dir, True) for i in (1, 2)]
    version = bench.run(
        "dbt --version (what dagster-dbt runs per dbt step; PipelineDbtResource skips it)",
        [DBT, "--version"],
        env,
    )
    floor = dbt_build_floor(bench)
    bench.results["overhead"] = {
        "dbt_build_floor": floor,
        "definitions_load_s": _median(defs),
        "definitions_load_cpu_s": _median(defs, "cpu_s"),
        "dbt_parse_full_s": _median(full),
        "dbt_parse_partial_s": _median(partial),
        "dbt_version_s": version["wall_s"],
        "runs": {
            "definitions": defs,
            "dbt_parse_full": full,
            "dbt_parse_partial": partial,
            "dbt_version": version,
        },
    }


def dbt_build_floor(bench: Bench) -> dict:
    """The pipeline's `dbt build` (every node) on an empty raw layer against the same build on the
    2025-11-19 raw layer: what a run costs in dbt when every node is rebuilt, however few rows
    changed (the floor of a run whose news reaches every model)."""
    out = {}
    for label, cut in (("empty raw layer", None), (f"raw layer {FIRST_CUT}", FIRST_CUT)):
        data_dir = bench.workdir / f"floor-{cut or 'empty'}"
        target = data_dir / "dbt_target"
        extra = {"LIQUIDITY_DATA_DIR": str(data_dir)}
        if cut:
            extra["LIQUIDITY_REPLAY_DIR"] = str(REPLAY / cut)
        env = with_dbt_env(clean_env(**extra))
        if cut:
            subprocess.run([PYTHON, "-m", "ingest.load"], env=env, cwd=ROOT, check=True, capture_output=True)
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            code = (
                "from ingest import warehouse\nwith warehouse.connect() as con: warehouse.write_catalog(con)"
            )
            subprocess.run([PYTHON, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True)
        dbt_args = ["--quiet", "--target-path", str(target), "--log-path", str(target)]
        subprocess.run(
            [DBT, "parse", *dbt_args], env=env, cwd=settings.DBT_PROJECT_DIR, check=True, capture_output=True
        )
        runs = [
            bench.run(
                f"dbt build, {label} #{i}",
                [DBT, *settings.DBT_BUILD_ARGS, *dbt_args],
                env,
                cwd=settings.DBT_PROJECT_DIR,
            )
            for i in (1, 2)
        ]
        results = json.loads((target / "run_results.json").read_text())["results"]
        out[cut or "empty"] = {"wall_s": _median(runs), "nodes": len(results), "runs": runs}
    out["empty_to_loaded_ratio"] = round(out["empty"]["wall_s"] / out[FIRST_CUT]["wall_s"], 3)
    return out


def section_bi(bench: Bench, runs: int) -> None:
    print(f"4. BI query latency ({runs} runs per query, read-only connection)")
    serving = bench.workdir / "pipeline" / "serving.duckdb"
    if not serving.exists():
        raise RuntimeError("no serving.duckdb: the BI section needs the cold build (--only cold,bi)")
    proc = subprocess.run(
        [PYTHON, "-m", "bench.bi", str(serving), str(runs)],
        env=clean_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=bench.timeout,
        check=True,
    )
    result = json.loads(proc.stdout)
    result["serving_file"] = str(serving)
    bench.results["bi"] = result
    for name, q in result["queries"].items():
        print(f"  {name:58s} p50 {q['p50_ms']:6.2f} ms  p95 {q['p95_ms']:6.2f} ms  rows {q['rows']}")


def section_scale(bench: Bench, sizes: list[int]) -> None:
    print(
        f"5. scale: synthetic coins x {synthetic.YEARS} years daily (+ bitcoin, ethereum), load + dbt build"
    )
    t0 = time.perf_counter()
    replay = synthetic.build_replay_dir(bench.workdir / "synthetic", max(sizes), REPLAY / SECOND_CUT)
    print(f"  generated {max(sizes)} synthetic coins in {time.perf_counter() - t0:.1f} s: {replay}")
    out: dict = {"replay_dir": str(replay), "years": synthetic.YEARS, "sizes": {}}
    for n in sizes:
        data_dir = bench.workdir / f"scale-{n}"
        target = data_dir / "dbt_target"
        coins = ",".join([*synthetic.REAL_COINS, *synthetic.coin_ids(n)])
        env = with_dbt_env(
            clean_env(
                LIQUIDITY_DATA_DIR=str(data_dir), LIQUIDITY_REPLAY_DIR=str(replay), LIQUIDITY_COINS=coins
            )
        )
        loaded = bench.run(f"scale {n}: load (python -m ingest.load)", [PYTHON, "-m", "ingest.load"], env)
        # Not measured: the parse `make prepare` does, so the build below does only the build's work.
        subprocess.run(
            [DBT, "parse", "--quiet", "--target-path", str(target), "--log-path", str(target)],
            env=env,
            cwd=settings.DBT_PROJECT_DIR,
            check=True,
            capture_output=True,
        )
        built = bench.run(
            f"scale {n}: dbt build",
            [
                DBT,
                *settings.DBT_BUILD_ARGS,
                "--quiet",
                "--target-path",
                str(target),
                "--log-path",
                str(target),
            ],
            env,
            cwd=settings.DBT_PROJECT_DIR,
        )
        with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
            rows = con.execute("SELECT count(*) FROM raw.coingecko_market_chart").fetchone()[0]
            # every coin reaches the marts: the long crypto mart and the lag scan
            in_marts = con.execute(
                "SELECT (SELECT count(DISTINCT coin_id) FROM marts.crypto_vs_liquidity_by_coin), "
                "(SELECT count(*) FROM marts.crypto_vs_liquidity_by_coin), "
                "(SELECT count(DISTINCT coin_id) FROM marts.liquidity_lag_scan)"
            ).fetchone()
        out["sizes"][n] = {
            "coins": n + len(synthetic.REAL_COINS),
            "raw_market_chart_rows": rows,
            "coins_in_by_coin_mart": in_marts[0],
            "by_coin_mart_rows": in_marts[1],
            "coins_in_lag_scan": in_marts[2],
            "load": loaded,
            "dbt_build": built,
            "total_s": round(loaded["wall_s"] + built["wall_s"], 3),
            "total_cpu_s": round(loaded["cpu_s"] + built["cpu_s"], 3),
            "peak_rss_mb": max(loaded["peak_tree_rss_mb"], built["peak_tree_rss_mb"]),
        }
        shutil.rmtree(data_dir / "landing", ignore_errors=True)  # hundreds of MB of landed copies
    ordered = sorted(out["sizes"])
    out["growth"] = []
    for a, b in zip(ordered, ordered[1:], strict=False):
        sa, sb = out["sizes"][a], out["sizes"][b]
        out["growth"].append(
            {
                "from": a,
                "to": b,
                "total": exponent(sa["total_s"], sb["total_s"], a, b),
                "load": exponent(sa["load"]["wall_s"], sb["load"]["wall_s"], a, b),
                "dbt_build": exponent(sa["dbt_build"]["wall_s"], sb["dbt_build"]["wall_s"], a, b),
            }
        )
    bench.results["scale"] = out


# --- table -----------------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("pass" if ok else "MISS")


def table(results: dict) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    cold = results.get("cold_build")
    if cold:
        rows.append(
            (
                f"1. cold build {FIRST_CUT} (ingest+dbt+checks+publish)",
                f"{cold['wall_s']:.1f} s wall, {cold['cpu_s']:.1f} s CPU, {cold['peak_tree_rss_mb']:.0f} MB peak",
                f"<= {TARGETS['cold_build_s']:.0f} s",
                _verdict(cold["wall_s"] <= TARGETS["cold_build_s"]),
            )
        )
        dag = cold.get("dagster") or {}
        if dag.get("run_s"):
            top = ", ".join(f"{k} {v:.1f} s" for k, v in list(dag["steps_s"].items())[:3])
            rows.append(
                (
                    "   where the time goes",
                    f"start-up + summary {cold['startup_and_summary_s']:.1f} s; run {dag['run_s']:.1f} s: {top}",
                    "",
                    "-",
                )
            )
        rows.append(
            (
                "   requests / bytes read (replay files)",
                f"{cold['replay_requests']} / {cold['replay_bytes_read']:,} B",
                "",
                "-",
            )
        )
    for key, name in (("incremental", f"2. incremental -> {SECOND_CUT}"), ("noop", "2. no-op rerun")):
        run = results.get(key)
        if not run:
            continue
        target = f"<= {TARGETS['noop_ratio']:.0%} of cold" if key == "noop" else ""
        verdict = _verdict(run["ratio_to_cold_wall"] <= TARGETS["noop_ratio"]) if key == "noop" else "-"
        rows.append(
            (
                name,
                f"{run['wall_s']:.1f} s = {run['ratio_to_cold_wall']:.0%} of cold; {run['replay_requests']} "
                f"requests, {run['replay_bytes_read']:,} B read (replay: whole files"
                f"{'' if run.get('counts_agree') else '; landing, Dagster metadata and load_log DISAGREE'})",
                target,
                verdict,
            )
        )
    sensor = results.get("sensor")
    if sensor:
        rows.append(
            (
                "2. release sensor: one probe of every source",
                f"nothing new {sensor['quiet_poll']['requests']} requests / {sensor['quiet_poll']['bytes']:,} B; "
                f"after a release {sensor['release_poll']['requests']} / {sensor['release_poll']['bytes']:,} B",
                "",
                "-",
            )
        )
        rows.append(
            (
                "2. release -> serving.duckdb published (sensor tick + its run)",
                f"{sensor['switch_to_published_s']:.1f} s (tick {sensor['tick_s']:.1f} s, run {sensor['run_s']:.1f} s), "
                f"plus up to the {sensor['poll_interval_s']} s poll interval",
                "",
                "-",
            )
        )
    size = results.get("warehouse_size")
    if size:
        rows.append(
            (
                f"2. warehouse size over {size['reruns']} reruns with --rebuild",
                f"{size['after_first_bytes'] / 1e6:.1f} MB after the first run, at most "
                f"{max(size['after_each_rebuild_rerun_bytes']) / 1e6:.1f} MB ({size['max_ratio_to_first']:.2f}x)",
                f"<= {TARGETS['warehouse_growth_ratio']:.2f}x",
                _verdict(size["max_ratio_to_first"] <= TARGETS["warehouse_growth_ratio"]),
            )
        )
    live = results.get("live_bytes")
    if live:
        first, same = live["first_load"], live.get("first_load_same_snapshot")
        for key, target in (("incremental", "incremental_bytes_ratio"), ("noop", "noop_bytes_ratio")):
            phase = live[key]
            text = (
                f"{phase['requests']} requests, {phase['bytes']:,} B = "
                f"{phase['bytes_ratio_to_first_load']:.1%} of the {FIRST_CUT} first load ({first['bytes']:,} B)"
            )
            ratio = phase["bytes_ratio_to_first_load"]
            if same:  # results.json of runs before the same-snapshot phase lack it
                ratio = phase["bytes_ratio_to_same_snapshot_first_load"]
                text += f", {ratio:.1%} of the {SECOND_CUT} one ({same['bytes']:,} B)"
            rows.append(
                (
                    f"   live-mode bytes, {key} (local server, query windows)",
                    text,
                    f"<= {TARGETS[target]:.0%}",
                    _verdict(ratio <= TARGETS[target]),
                )
            )
    over = results.get("overhead")
    if over:
        rows.append(
            (
                "3. load Dagster definitions (fresh interpreter)",
                f"{over['definitions_load_s']:.2f} s",
                "",
                "-",
            )
        )
        floor = over.get("dbt_build_floor")
        if floor:
            rows.append(
                (
                    "3. dbt build, every node: empty raw layer / 2025-11-19 raw layer",
                    f"{floor['empty']['wall_s']:.2f} s / {floor[FIRST_CUT]['wall_s']:.2f} s "
                    f"= {100 * floor['empty_to_loaded_ratio']:.0f}% ({floor['empty']['nodes']} nodes)",
                    "",
                    "-",
                )
            )
        rows.append(
            (
                "3. dbt parse, full / partial",
                f"{over['dbt_parse_full_s']:.2f} s / {over['dbt_parse_partial_s']:.2f} s",
                "",
                "-",
            )
        )
        rows.append(
            (
                "3. dbt --version (skipped per dbt step by PipelineDbtResource)",
                f"{over['dbt_version_s']:.2f} s",
                "",
                "-",
            )
        )
    bi = results.get("bi")
    if bi:
        worst = bi["worst_query_p95_ms"]
        rows.append(
            (
                f"4. BI latency, 5 queries x {bi['runs']}",
                f"p50 {bi['all']['p50_ms']:.2f} ms, p95 {bi['all']['p95_ms']:.2f} ms (worst query p95 {worst:.2f} ms)",
                f"p95 <= {TARGETS['bi_p95_ms']:.0f} ms",
                _verdict(worst <= TARGETS["bi_p95_ms"]),
            )
        )
    scale = results.get("scale")
    if scale:
        for n, s in sorted(scale["sizes"].items(), key=lambda kv: int(kv[0])):
            last = int(n) == 1000
            ok = s["total_s"] <= TARGETS["scale_1000_s"] and s["peak_rss_mb"] <= TARGETS["scale_1000_rss_mb"]
            rows.append(
                (
                    f"5. scale {n} coins: load + dbt build",
                    f"{s['total_s']:.1f} s (load {s['load']['wall_s']:.1f} + dbt {s['dbt_build']['wall_s']:.1f}), "
                    f"{s['peak_rss_mb']:.0f} MB peak, {s.get('coins_in_by_coin_mart', '?')} coins in the marts",
                    "<= 60 s, < 2 GB" if last else "",
                    _verdict(ok) if last else "-",
                )
            )
        for g in scale["growth"]:
            rows.append(
                (
                    f"5. growth exponent {g['from']} -> {g['to']} coins",
                    f"total {g['total']:.2f} (load {g['load']:.2f}, dbt {g['dbt_build']:.2f})",
                    "<= 1 (linear)",
                    _verdict(g["total"] <= TARGETS["scale_growth_exponent"]),
                )
            )
    private = results.get("private_api")
    if private:
        for name, v in private["variants"].items():
            if name == "as shipped":
                result = f"cold {v['cold_wall_s']:.1f} s, no-op {v['noop_wall_s']:.1f} s"
            else:
                result = (
                    f"cold {v['cold_wall_s']:.1f} s ({v['cold_ratio_to_shipped']:.2f}x shipped), "
                    f"no-op {v['noop_wall_s']:.1f} s ({v['noop_ratio_to_shipped']:.2f}x)"
                )
            rows.append((f"6. {name}", result, f"median of {private['rounds']}", "-"))
    lake = results.get("lake")
    if lake and "skipped" in lake:
        rows.append(("7. DuckLake vs embedded file", f"skipped: {lake['skipped']}", "", "-"))
    elif lake:
        for kind, name in (
            ("cold", f"cold build {FIRST_CUT}"),
            ("incremental", f"incremental -> {SECOND_CUT}"),
        ):
            rows.append(
                (
                    f"7. {name}, DuckLake (PostgreSQL catalog, local Parquet) / embedded file",
                    f"{lake['lake'][kind]['wall_s']:.1f} s / {lake['embedded'][kind]['wall_s']:.1f} s wall = "
                    f"{lake[f'{kind}_ratio_lake_to_embedded']:.2f}x",
                    "",
                    "-",
                )
            )
    return rows


def print_table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| measurement | result | target | verdict |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(lines)
    print("\n" + text)
    return text


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="synthetic coin counts")
    parser.add_argument("--bi-runs", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per measurement")
    parser.add_argument("--workdir", help="keep data dirs here (default: a temp dir, deleted at the end)")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sections - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if "size" in sections:
        sections.add("incremental")
    if {"incremental", "bi"} & sections:
        sections.add("cold")
    if not (REPLAY / FIRST_CUT).is_dir() or not (REPLAY / SECOND_CUT).is_dir():
        print(f"replay snapshots {FIRST_CUT} and {SECOND_CUT} are needed under {REPLAY}", file=sys.stderr)
        return 2
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="liquidity-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = Bench(workdir, args.timeout)
    started = time.perf_counter()
    results: dict = {"machine": machine_facts(), "targets": TARGETS, "sections": sorted(sections)}
    print(
        f"bench on {results['machine']['cpu_count']} x {results['machine']['cpu_model']}, "
        f"{results['machine']['ram_gb']} GB RAM; load average {results['machine']['loadavg_at_start']}; "
        f"work dir {workdir}"
    )
    try:
        if "cold" in sections:
            section_pipeline(bench, sections)
        if "overhead" in sections:
            section_overhead(bench)
        if "bi" in sections:
            section_bi(bench, args.bi_runs)
        if "scale" in sections:
            section_scale(bench, sizes)
        if "private" in sections:
            section_private(bench)
        if "lake" in sections:
            section_lake(bench)
    finally:
        results.update(bench.results)
        results["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        results["bench_seconds"] = round(time.perf_counter() - started, 1)
        rows = table(results)
        results["table_markdown"] = print_table(rows)
        Path(args.output).write_text(json.dumps(results, indent=1, default=str) + "\n")
        print(f"\nwritten {args.output} ({results['bench_seconds']:.0f} s)")
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
