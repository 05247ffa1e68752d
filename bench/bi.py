"""BI query latency on `serving.duckdb`, as a dashboard sees it: one read-only connection, five
typical queries, each run `runs` times after a warm-up; results fetched into Python.

`python -m bench.bi <serving.duckdb> <runs>` prints one JSON object (run by `bench.run` in its own
process so the timings are not disturbed by the benchmark driver).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import duckdb

QUERIES = {
    "liquidity_daily, last 5 years": (
        "SELECT date, net_liquidity_bn, fed_total_assets_bn, tga_bn, on_rrp_bn, reserves_bn, "
        "sofr_iorb_spread_bp, reserve_regime FROM liquidity_daily "
        "WHERE date > (SELECT max(date) FROM liquidity_daily) - INTERVAL 5 YEAR ORDER BY date"
    ),
    "crypto_vs_liquidity, one window (2024, 90-day corr)": (
        "SELECT date, btc_market_cap_usd, total_market_cap_usd, net_liquidity_lagged_bn, "
        "btc_corr_levels_90d, btc_corr_changes_90d, total_corr_levels_90d FROM crypto_vs_liquidity "
        "WHERE date BETWEEN DATE '2024-01-01' AND DATE '2024-12-31' ORDER BY date"
    ),
    "liquidity_lag_scan, best leads": (
        "SELECT asset, period, best_lead_levels_days, best_corr_levels, best_lead_changes_days, "
        "best_corr_changes FROM liquidity_lag_scan WHERE is_best_levels ORDER BY asset, period"
    ),
    "liquidity_signals, today": (
        "SELECT * FROM liquidity_signals WHERE date = (SELECT max(date) FROM liquidity_signals)"
    ),
    "reserve_adequacy, by quarter": (
        "SELECT quarter_start, gdp_bn, reserves_avg_bn, reserves_to_gdp_pct, shortfall_or_excess_bn "
        "FROM reserve_adequacy ORDER BY quarter_start"
    ),
}
WARMUP = 5


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of the values."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100), at least 1
    return ordered[int(rank) - 1]


def measure(path: str, runs: int) -> dict:
    started = time.perf_counter()
    con = duckdb.connect(path, read_only=True)
    connect_ms = (time.perf_counter() - started) * 1000
    out: dict = {"connect_ms": round(connect_ms, 3), "runs": runs, "queries": {}}
    every: list[float] = []
    try:
        for name, sql in QUERIES.items():
            for _ in range(WARMUP):
                rows = con.execute(sql).fetchall()
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                rows = con.execute(sql).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            every += times
            out["queries"][name] = {
                "rows": len(rows),
                "p50_ms": round(percentile(times, 50), 3),
                "p95_ms": round(percentile(times, 95), 3),
                "max_ms": round(max(times), 3),
                "mean_ms": round(statistics.fmean(times), 3),
                "sql": sql,
            }
    finally:
        con.close()
    out["all"] = {
        "p50_ms": round(percentile(every, 50), 3),
        "p95_ms": round(percentile(every, 95), 3),
        "max_ms": round(max(every), 3),
    }
    out["worst_query_p95_ms"] = max(q["p95_ms"] for q in out["queries"].values())
    return out


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], int(sys.argv[2]))))
