"""BI readers in another process query serving.duckdb in a loop while a full run publishes:
no errors, and every query sees one complete snapshot (old or new), never a mix."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb

from tests.integration.conftest import run_pipeline

SNAPSHOT_SQL = (
    "SELECT (SELECT count(*) FROM liquidity_daily), (SELECT max(date)::VARCHAR FROM liquidity_daily), "
    "(SELECT sum(hash(date, net_liquidity_bn)) FROM liquidity_daily)::VARCHAR, "
    "(SELECT count(*) FROM crypto_vs_liquidity)"
)

READER = textwrap.dedent(
    """
    import json, sys, time, duckdb
    path, out, stop, sql, mode = sys.argv[1:6]
    # held: one long-lived BI connection; reconnect: a new connection per query (one process each,
    # because DuckDB shares one database instance per file within a process)
    held = duckdb.connect(path, read_only=True) if mode == "held" else None
    seen, errors, slowest = [], [], 0.0
    deadline = time.monotonic() + 300
    import os
    while not os.path.exists(stop) and time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            if held is None:
                con = duckdb.connect(path, read_only=True)
                row = con.execute(sql).fetchone()
                con.close()
            else:
                row = held.execute(sql).fetchone()
            seen.append([mode, *row])
        except Exception as exc:
            errors.append(f"{mode}: {type(exc).__name__}: {exc}")
        slowest = max(slowest, time.perf_counter() - t0)
        time.sleep(0.02)
    json.dump({"seen": seen, "errors": errors, "slowest_s": slowest}, open(out, "w"))
    """
)


def snapshot(path: Path) -> list:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return list(con.execute(SNAPSHOT_SQL).fetchone())
    finally:
        con.close()


def test_readers_see_whole_snapshots_while_a_run_publishes(tmp_path):
    data_dir = tmp_path / "data"
    assert run_pipeline(data_dir, "2025-11-19").success
    serving = data_dir / "serving.duckdb"
    old = snapshot(serving)
    stop = tmp_path / "stop"
    outs = {mode: tmp_path / f"reader_{mode}.json" for mode in ("held", "reconnect")}
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(serving), str(out), str(stop), SNAPSHOT_SQL, mode]
        )
        for mode, out in outs.items()
    ]
    try:
        time.sleep(1.0)
        assert run_pipeline(data_dir, "2026-01-31").success
        time.sleep(1.0)
    finally:
        stop.touch()
        for reader in readers:
            reader.wait(timeout=60)
    new = snapshot(serving)
    assert old != new
    results = [json.loads(out.read_text()) for out in outs.values()]
    assert [r["errors"] for r in results] == [[], []]
    seen = [row for r in results for row in r["seen"]]
    result = {"slowest_s": max(r["slowest_s"] for r in results)}
    assert len(seen) > 20
    assert all(row[1:] in (old, new) for row in seen), [r for r in seen if r[1:] not in (old, new)][:3]
    assert any(row[0] == "reconnect" and row[1:] == new for row in seen)  # new readers see the new file
    assert all(row[1:] == old for row in seen if row[0] == "held")  # an open reader keeps its snapshot
    print(f"reader queries: {len(seen)}, errors: 0, slowest query: {result['slowest_s'] * 1000:.1f} ms")
