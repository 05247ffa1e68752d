"""BI readers against a publishing pipeline: reader processes query serving.duckdb in a loop for the
whole length of a full build and publish (ingest → dbt build → checks → publish of 2026-01-31 on a
data dir holding a complete 2025-11-19 run), the way dashboards do:

- `held`: one read-only connection kept open for the whole time (a BI server's pooled connection);
- `reconnect`: a new read-only connection per query (one process each: within a process DuckDB
  shares one database instance per file, so "reconnecting" there would not reopen the file).

Each loop runs the next of the typical dashboard queries of `bench/bi.py` (the same five the
benchmark times), then a fingerprint of every published mart in one statement (row count and sum of row
hashes per table). Every fingerprint must be the complete 2025-11-19 version or the complete
2026-01-31 one, never a mix; a reconnecting reader moves from old to new once, at publish, and never
back; a held connection keeps the snapshot it opened. No query may fail. The suite records the
number of queries and the longest query latency (not asserted: the machine is shared).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb

from bench.bi import QUERIES
from ingest.settings import PROJECT_ROOT
from tests.pipeline_support import copy_data_dir, run_pipeline, shared_run

BASE, CUT = "2025-11-19", "2026-01-31"
READERS = ("held", "reconnect", "reconnect")
READER_DEADLINE_S = 900  # a reader never outlives a stuck test by more than this

READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb

    path, out, ready, stop, mode, fingerprint, queries = sys.argv[1:8]
    queries = json.loads(queries)
    held = duckdb.connect(path, read_only=True) if mode == "held" else None
    seen, errors, latencies = [], [], []
    first = last = None
    deadline = time.monotonic() + float(sys.argv[8])
    i = 0
    while not os.path.exists(stop) and time.monotonic() < deadline:
        sql = queries[i % len(queries)]
        i += 1
        t0 = time.perf_counter()
        try:
            con = held or duckdb.connect(path, read_only=True)
            try:
                con.execute(sql).fetchall()
                latencies.append(time.perf_counter() - t0)
                t1 = time.perf_counter()
                row = con.execute(fingerprint).fetchone()
                latencies.append(time.perf_counter() - t1)
            finally:
                if held is None:
                    con.close()
            now = time.time()
            first = first or now
            last = now
            if not seen or seen[-1][0] != list(row):
                seen.append([list(row), now, 1])
            else:
                seen[-1][2] += 1
        except Exception as exc:
            errors.append(f"{mode}: {type(exc).__name__}: {exc}"[:500])
        if i == 1:
            open(ready, "w").close()
        time.sleep(0.05)
    latencies.sort()
    json.dump(
        {
            "mode": mode,
            "queries": len(latencies),
            "errors": errors,
            "runs": seen,
            "first": first,
            "last": last,
            "max_s": latencies[-1] if latencies else None,
            "p95_s": latencies[int(0.95 * (len(latencies) - 1))] if latencies else None,
        },
        open(out, "w"),
    )
    """
)


def fingerprint_sql() -> str:
    """One statement over every published mart (the serving asset's list): rows and sum of row hashes."""
    from orchestration.assets.dbt import mart_keys

    return "SELECT " + ", ".join(
        f"(SELECT count(*)::VARCHAR || ':' || coalesce(sum(hash(t)), 0)::VARCHAR FROM {key.path[-1]} t)"
        for key in mart_keys()
    )


def fingerprint(serving: Path, sql: str) -> list[str]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return list(con.execute(sql).fetchone())
    finally:
        con.close()


def test_bi_readers_during_a_full_build_and_publish(tmp_path_factory, tmp_path, scenario):
    sql = fingerprint_sql()
    base = shared_run(tmp_path_factory, BASE)
    new = fingerprint(shared_run(tmp_path_factory, BASE, CUT) / "serving.duckdb", sql)
    data_dir = copy_data_dir(base, tmp_path / "data")
    serving = data_dir / "serving.duckdb"
    old = fingerprint(serving, sql)
    assert old != new, "the two snapshots must publish different marts, or old/new cannot be told apart"

    stop = tmp_path / "stop"
    readers = []
    for n, mode in enumerate(READERS):
        out, ready = tmp_path / f"reader{n}.json", tmp_path / f"reader{n}.ready"
        args = [
            str(serving),
            str(out),
            str(ready),
            str(stop),
            mode,
            sql,
            json.dumps(list(QUERIES.values())),
        ]
        proc = subprocess.Popen(
            [sys.executable, "-c", READER, *args, str(READER_DEADLINE_S)], cwd=PROJECT_ROOT
        )
        readers.append((proc, out, ready))
    try:
        deadline = time.monotonic() + 120
        while not all(ready.exists() for _, _, ready in readers):
            assert all(p.poll() is None for p, _, _ in readers), "a reader died before its first query"
            assert time.monotonic() < deadline, "the readers did not start querying"
            time.sleep(0.05)
        build_start = time.time()
        result = run_pipeline(data_dir, CUT)
        build_end = time.time()
        assert result.success, "the full build and publish failed"
        time.sleep(1.0)  # let every reconnecting reader open the new file at least once
    finally:
        stop.touch()
        for proc, _, _ in readers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert fingerprint(serving, sql) == new

    results = [json.loads(out.read_text()) for _, out, _ in readers]
    assert [r["errors"] for r in results] == [[] for _ in results]
    for r in results:
        versions = ["old" if fp == old else "new" if fp == new else f"MIXED {fp}" for fp, _, _ in r["runs"]]
        assert r["first"] < build_start and r["last"] > build_end, f"{r['mode']} did not span the build"
        assert r["queries"] >= 20, r
        if r["mode"] == "held":
            assert versions == ["old"], f"a held connection must keep its snapshot: {versions}"
        else:
            assert versions == ["old", "new"], f"a reconnecting reader must go old → new once: {versions}"

    total = sum(r["queries"] for r in results)
    by_mode = {}
    for r in results:
        by_mode.setdefault(r["mode"], []).append(r)
    slowest = max(r["max_s"] for r in results)
    detail = "; ".join(
        f"{mode} ×{len(rs)}: {sum(r['queries'] for r in rs)} queries, max {max(r['max_s'] for r in rs) * 1000:.0f} ms, "
        f"p95 {max(r['p95_s'] for r in rs) * 1000:.0f} ms"
        for mode, rs in by_mode.items()
    )
    switch = [r["runs"][1][1] - build_start for r in results if r["mode"] == "reconnect"]
    print(f"readers: {total} queries, 0 errors, slowest {slowest * 1000:.1f} ms ({detail})")
    scenario(
        "BI readers (held + reconnect-per-query, separate processes) during a full build and publish: "
        "0 errors; each result a complete old or new snapshot; held keeps old; reconnect goes old → new once",
        f"build+publish {build_end - build_start:.0f} s; {total} queries, 0 errors, longest "
        f"{slowest * 1000:.0f} ms ({detail}); reconnect readers saw new from "
        f"{min(switch):.0f} s into the build, never old again; held saw only old",
        name="concurrency: BI readers during build + publish",
    )
