"""End to end from the replay snapshots: raw row counts, incremental = fresh, and mart values
traced by hand to lines of the snapshot files (read here with the plain csv module, not our parsers)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from ingest import calendar, catalog
from orchestration.assets.dbt import mart_keys
from tests.integration.conftest import replay

pytestmark = pytest.mark.integration
START = dt.date(2003, 1, 1)


def fredgraph_value(cut: str, series: str, day: str) -> float:
    """The value on `day` as written in fred/fredgraph/<series>.csv of snapshot `cut`."""
    with (replay(cut) / "fred" / "fredgraph" / f"{series}.csv").open(newline="") as fh:
        for row in csv.reader(fh):
            if row[0] == day:
                return float(row[1])
    raise AssertionError(f"{series} has no {day} in {cut}")


def non_missing_rows(path: Path, since: dt.date | None = START) -> int:
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))[1:]
    return sum(
        1
        for r in rows
        if r and r[1] not in ("", ".") and (since is None or dt.date.fromisoformat(r[0]) >= since)
    )


def query(data_dir: Path, sql: str, params: list | None = None, db: str = "serving.duckdb"):
    con = duckdb.connect(str(data_dir / db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def one(data_dir: Path, sql: str, params: list | None = None, db: str = "serving.duckdb"):
    rows = query(data_dir, sql, params, db)
    assert len(rows) == 1, rows
    return rows[0][0] if len(rows[0]) == 1 else rows[0]


# --- raw layer ---------------------------------------------------------------------------------


def test_raw_rows_per_fred_series_equal_non_missing_file_rows(fresh_dir):
    folder = replay("2026-01-31") / "fred" / "fredgraph"
    loaded = dict(
        query(
            fresh_dir,
            "SELECT series_id, count(*) FROM raw.fred_observations GROUP BY 1",
            db="warehouse.duckdb",
        )
    )
    # Every catalog series the snapshot has a file for is loaded; a file without a catalog line is not.
    files = {p.stem: p for p in folder.glob("*.csv")}
    wanted = {s.series_id for s in catalog.series_for("fred")} & set(files)
    assert set(loaded) == wanted
    for series_id in wanted:
        assert loaded[series_id] == non_missing_rows(files[series_id]), series_id


RAW_COMPARISONS = {
    "raw.fred_observations": "SELECT series_id, observation_date, value, known_on FROM raw.fred_observations",
    "raw.fed_ddp_observations": "SELECT series_id, observation_date, value, known_on FROM raw.fed_ddp_observations",
    "raw.coingecko_global": "SELECT origin, snapped_at, total_market_cap_usd, known_on FROM raw.coingecko_global",
    "raw.treasury_dts_cash_balance": """SELECT observation_date, account_type, close_today_bal,
        open_today_bal, open_month_bal, open_fiscal_year_bal, src_line_nbr, known_on
        FROM raw.treasury_dts_cash_balance""",
    # Both origins are kept; the API's 365-day window differs between cuts, so compare what staging
    # uses: one row per coin and day, the API value where present.
    "raw.coingecko_market_chart": """SELECT coin_id, observation_date, arg_min(price_usd, origin = 'export'),
                                            arg_min(market_cap_usd, origin = 'export')
                                     FROM raw.coingecko_market_chart GROUP BY 1, 2""",
}


@pytest.mark.parametrize("table", sorted(RAW_COMPARISONS))
def test_incremental_raw_layer_equals_fresh_load(incremental_dir, fresh_dir, table):
    sql = f"SELECT * FROM ({RAW_COMPARISONS[table]}) ORDER BY ALL"
    inc = query(incremental_dir, sql, db="warehouse.duckdb")
    fresh = query(fresh_dir, sql, db="warehouse.duckdb")
    assert len(inc) == len(fresh)
    assert inc == fresh


def test_no_duplicate_keys_after_two_runs(incremental_dir):
    for table, key in [
        ("raw.fred_observations", "series_id, observation_date"),
        ("raw.fed_ddp_observations", "series_id, observation_date"),
        ("raw.coingecko_market_chart", "coin_id, observation_date, origin"),
        ("raw.coingecko_global", "origin, snapped_at"),
        ("raw.treasury_dts_cash_balance", "observation_date, account_type"),
    ]:
        dupes = one(
            incremental_dir, f"SELECT count(*) - count(DISTINCT ({key})) FROM {table}", db="warehouse.duckdb"
        )
        assert dupes == 0, table


def test_incremental_run_requested_a_window_not_full_history(incremental_dir):
    # The second run asked FRED only for rows after the watermark minus its look-back, except
    # where the loaded history began later than the source's (a one-off history backfill, said so).
    rows = query(
        incremental_dir,
        "SELECT series, rows_in_payload, message FROM raw.load_log WHERE source = 'fred' "
        "AND status = 'ok' ORDER BY loaded_at DESC, series LIMIT 11",
        db="warehouse.duckdb",
    )
    windowed = [(s, n) for s, n, message in rows if not message.startswith("history backfill")]
    backfilled = {s for s, _, message in rows if message.startswith("history backfill")}
    # WTREGEN's 2025-11-19 file starts in 2007; TLAACBW027SBOG's (old format) in 2009; DFF's in 2021.
    assert backfilled == {"WTREGEN", "TLAACBW027SBOG", "DFF"}
    # The backfill asked only for the stretch before the first loaded row, besides the usual window:
    # the 2026-01-31 files have nothing earlier for DFF and TLAACBW027SBOG, and 211 WTREGEN weeks
    # (2002-12-18..2006-12-27), not the 1,207 of its whole history.
    payload = {s: n for s, n, _ in rows}
    assert payload["DFF"] <= 110 and payload["TLAACBW027SBOG"] <= 110, payload
    assert 211 <= payload["WTREGEN"] <= 211 + 20, payload

    # From 2025-11-19 minus the series' look-back (calendar.LOOKBACK, 7 or 14 days) to 2026-01-31 is
    # at most 88 days: far below the full history (WALCL alone 1195 rows).
    # GDP is asked whole (its annual revisions reach years back): 91 quarters from 2003.
    def most(series: str) -> int:
        back = calendar.LOOKBACK[catalog.get("fred", series).release_rule]
        return (dt.date(2026, 1, 31) - (dt.date(2025, 11, 19) - back)).days + 1

    assert len(windowed) == 8 and all(n <= (110 if s == "GDP" else most(s)) for s, n in windowed), windowed
    assert {s for s, _, message in rows if message.startswith("whole history")} == {"GDP"}


# --- marts: incremental equals fresh ------------------------------------------------------------


def table_digest(data_dir: Path, table: str) -> str:
    rows = query(data_dir, f"SELECT * FROM {table} ORDER BY ALL")
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


@pytest.mark.parametrize(
    "table",
    [
        "liquidity_daily",
        "crypto_vs_liquidity",
        "crypto_vs_liquidity_by_coin",
        "liquidity_lag_scan",
        "liquidity_signals",
        "reserve_adequacy",
        "series_freshness",
        "liquidity_lead_over_time",
        "policy_event_windows",
        "liquidity_thresholds",
    ],
)
def test_marts_identical_incremental_vs_fresh(incremental_dir, fresh_dir, table):
    assert table_digest(incremental_dir, table) == table_digest(fresh_dir, table)


# --- marts: values traced to the snapshot files ---------------------------------------------------

CUT = "2026-01-31"


def daily(data_dir: Path, column: str, day: str):
    return one(data_dir, f"SELECT {column} FROM liquidity_daily WHERE date = ?", [day])


def test_fed_total_assets_in_billions_on_a_wednesday(fresh_dir):
    walcl = fredgraph_value(CUT, "WALCL", "2025-11-19")  # 6555283 millions USD
    assert daily(fresh_dir, "fed_total_assets_bn", "2025-11-19") == pytest.approx(walcl / 1000, abs=1e-9)


def test_net_liquidity_on_a_wednesday(fresh_dir):
    walcl = fredgraph_value(CUT, "WALCL", "2025-11-19") / 1000  # millions -> bn
    tga = fredgraph_value(CUT, "WTREGEN", "2025-11-19") / 1000  # millions -> bn (week average)
    rrp = fredgraph_value(CUT, "RRPONTSYD", "2025-11-19")  # already bn
    assert daily(fresh_dir, "tga_bn", "2025-11-19") == pytest.approx(tga, abs=1e-9)
    assert daily(fresh_dir, "on_rrp_bn", "2025-11-19") == pytest.approx(rrp, abs=1e-9)
    assert daily(fresh_dir, "net_liquidity_bn", "2025-11-19") == pytest.approx(walcl - tga - rrp, abs=1e-6)


def test_weekly_value_holds_until_next_observation(fresh_dir):
    walcl = fredgraph_value(CUT, "WALCL", "2025-11-19") / 1000
    assert daily(fresh_dir, "fed_total_assets_bn", "2025-11-25") == pytest.approx(walcl, abs=1e-9)


def test_sofr_iorb_spread_in_basis_points(fresh_dir):
    sofr = fredgraph_value(CUT, "SOFR", "2025-11-19")  # 3.91
    iorb = fredgraph_value(CUT, "IORB", "2025-11-19")  # 3.90
    assert daily(fresh_dir, "sofr_iorb_spread_bp", "2025-11-19") == pytest.approx(
        (sofr - iorb) * 100, abs=1e-6
    )


def test_sofr_effr_spread_in_basis_points(fresh_dir):
    sofr = fredgraph_value(CUT, "SOFR", "2025-11-19")
    effr = fredgraph_value(CUT, "EFFR", "2025-11-19")
    assert daily(fresh_dir, "sofr_effr_spread_bp", "2025-11-19") == pytest.approx(
        (sofr - effr) * 100, abs=1e-6
    )


def test_daily_rate_carried_over_a_weekend(fresh_dir):
    friday = fredgraph_value(CUT, "SOFR", "2025-11-21")
    assert daily(fresh_dir, "sofr_pct", "2025-11-23") == pytest.approx(friday)


def test_reserves_to_gdp_uses_latest_gdp_published_by_that_date(fresh_dir):
    # 2025Q3 GDP (dated 2025-07-01) was first published on 2025-12-23 (shutdown delay): before that
    # the latest known quarter is 2025Q2 (dated 2025-04-01).
    reserves = fredgraph_value(CUT, "WRESBAL", "2025-11-19") / 1000
    gdp_q2 = fredgraph_value(CUT, "GDP", "2025-04-01")
    gdp_q3 = fredgraph_value(CUT, "GDP", "2025-07-01")
    assert daily(fresh_dir, "gdp_bn", "2025-11-19") == pytest.approx(gdp_q2)
    assert daily(fresh_dir, "reserves_to_gdp_pct", "2025-11-19") == pytest.approx(
        100 * reserves / gdp_q2, rel=1e-6
    )
    assert daily(fresh_dir, "gdp_bn", "2025-12-22") == pytest.approx(gdp_q2)
    assert daily(fresh_dir, "gdp_bn", "2025-12-23") == pytest.approx(gdp_q3)


def test_btfp_from_h41(fresh_dir):
    # fed_ddp/H41.csv, column RESPPALDK_N.WW, row 2023-03-22: 53669 (Multiplier 1000000) = 53.669 bn
    assert daily(fresh_dir, "btfp_bn", "2023-03-22") == pytest.approx(53.669, abs=1e-9)
    assert daily(fresh_dir, "btfp_bn", "2023-03-15") == pytest.approx(11.943, abs=1e-9)


def test_tlaacbw027sbog_stale_after_its_maximum_staleness(fresh_dir):
    # TLAACBW027SBOG ends 2021-12-29 (old-format file); weekly max staleness is 13 days.
    last = one(
        fresh_dir,
        "SELECT max(observation_date) FROM raw.fred_observations WHERE series_id = 'TLAACBW027SBOG'",
        db="warehouse.duckdb",
    )
    assert last == dt.date(2021, 12, 29)
    # H.8 B1151NCBD (to 2023-04-26) is fresher from then on; after its own staleness, bank assets are NULL.
    assert daily(fresh_dir, "bank_assets_bn", "2023-05-09") is not None
    assert daily(fresh_dir, "bank_assets_bn", "2023-05-10") is None
    assert daily(fresh_dir, "reserve_regime", "2023-05-10") is None


def test_crypto_net_liquidity_is_release_aware_to_the_instant(fresh_dir):
    # The row dated Wednesday 2025-11-19 is the 00:00 UTC snapshot = Tuesday 19:00 in New York: it
    # knows WALCL/WTREGEN of 2025-11-12 (out Thursday 11-13) and Tuesday's ON RRP (13:15 ET), not
    # Wednesday's.
    walcl_prev = fredgraph_value(CUT, "WALCL", "2025-11-12") / 1000
    tga_prev = fredgraph_value(CUT, "WTREGEN", "2025-11-12") / 1000
    rrp_tue = fredgraph_value(CUT, "RRPONTSYD", "2025-11-18")
    known = one(fresh_dir, "SELECT net_liquidity_bn FROM crypto_vs_liquidity WHERE date = '2025-11-19'")
    assert known == pytest.approx(walcl_prev - tga_prev - rrp_tue, abs=1e-6)
    # Thursday 2025-11-20's snapshot (Wednesday 19:00 ET) still predates that Thursday's 16:30 ET H.4.1
    rrp_wed = fredgraph_value(CUT, "RRPONTSYD", "2025-11-19")
    thursday = one(fresh_dir, "SELECT net_liquidity_bn FROM crypto_vs_liquidity WHERE date = '2025-11-20'")
    assert thursday == pytest.approx(walcl_prev - tga_prev - rrp_wed, abs=1e-6)
    # Friday's snapshot (Thursday 19:00 ET) has it
    walcl = fredgraph_value(CUT, "WALCL", "2025-11-19") / 1000
    tga = fredgraph_value(CUT, "WTREGEN", "2025-11-19") / 1000
    rrp_thu = fredgraph_value(CUT, "RRPONTSYD", "2025-11-20")
    friday = one(fresh_dir, "SELECT net_liquidity_bn FROM crypto_vs_liquidity WHERE date = '2025-11-21'")
    assert friday == pytest.approx(walcl - tga - rrp_thu, abs=1e-6)
    # liquidity_daily keeps "as known at the end of the New York day": Thursday's own release counts
    end_of_thursday = daily(fresh_dir, "net_liquidity_known_bn", "2025-11-20")
    assert end_of_thursday == pytest.approx(walcl - tga - rrp_thu, abs=1e-6)


FIRST = "2025-11-19"


def test_values_recorded_after_the_snapshot_clock_stay_unknown_until_their_release(first_dir):
    # The 2025-11-19 snapshot was recorded later than its clock (the end of 2025-11-19): it already
    # holds Wednesday's H.4.1 (out Thursday 2025-11-20 16:30 ET) and Wednesday's SOFR (out 08:00 ET
    # the next morning). They load with their true release instants, and no release-aware value of
    # this build uses them.
    known_at = dict(
        query(
            first_dir,
            "SELECT series_id, known_at FROM raw.fred_observations "
            "WHERE observation_date = '2025-11-19' AND series_id IN ('WALCL', 'SOFR', 'RRPONTSYD')",
            db="warehouse.duckdb",
        )
    )
    assert known_at == {
        "WALCL": dt.datetime(2025, 11, 20, 21, 30),  # 16:30 EST
        "SOFR": dt.datetime(2025, 11, 20, 13, 0),  # 08:00 EST
        "RRPONTSYD": dt.datetime(2025, 11, 19, 18, 15),  # 13:15 EST, the same day
    }
    assert one(first_dir, "SELECT max(date) FROM liquidity_daily") == dt.date(2025, 11, 19)
    walcl_prev = fredgraph_value(FIRST, "WALCL", "2025-11-12") / 1000
    tga_prev = fredgraph_value(FIRST, "WTREGEN", "2025-11-12") / 1000
    rrp_wed = fredgraph_value(FIRST, "RRPONTSYD", "2025-11-19")
    known, as_of, on_the_date = one(
        first_dir,
        "SELECT net_liquidity_known_bn, net_liquidity_known_as_of, fed_total_assets_bn "
        "FROM liquidity_daily WHERE date = '2025-11-19'",
    )
    assert as_of == dt.date(2025, 11, 12)
    assert known == pytest.approx(walcl_prev - tga_prev - rrp_wed, abs=1e-6)
    # the observation-dated column holds Wednesday's level, as documented ("before it was public")
    assert on_the_date == pytest.approx(fredgraph_value(FIRST, "WALCL", "2025-11-19") / 1000, abs=1e-9)
    # The signals read as-known values: Tuesday's SOFR (Wednesday's is not out) against Wednesday's IORB.
    sofr_tue = fredgraph_value(FIRST, "SOFR", "2025-11-18")
    iorb_wed = fredgraph_value(FIRST, "IORB", "2025-11-19")
    spread = one(first_dir, "SELECT sofr_iorb_spread_bp FROM liquidity_signals WHERE date = '2025-11-19'")
    assert spread == pytest.approx((sofr_tue - iorb_wed) * 100, abs=1e-6)
    assert spread != pytest.approx((fredgraph_value(FIRST, "SOFR", "2025-11-19") - iorb_wed) * 100)
    # The last crypto row (00:00 UTC = Tuesday 19:00 ET) knows last week's H.4.1 and Tuesday's ON RRP.
    rrp_tue = fredgraph_value(FIRST, "RRPONTSYD", "2025-11-18")
    crypto_date, crypto_known = one(
        first_dir, "SELECT date, net_liquidity_bn FROM crypto_vs_liquidity ORDER BY date DESC LIMIT 1"
    )
    assert crypto_date == dt.date(2025, 11, 19)
    assert crypto_known == pytest.approx(walcl_prev - tga_prev - rrp_tue, abs=1e-6)


def test_crypto_prices_from_coingecko(fresh_dir):
    with (replay(CUT) / "coingecko" / "export" / "bitcoin-usd-max.csv").open(newline="") as fh:
        row = next(r for r in csv.reader(fh) if r[0].startswith("2025-11-19"))
    price, cap = float(row[1]), float(row[2])
    got = one(
        fresh_dir,
        "SELECT btc_price_usd, btc_market_cap_usd, lag_days FROM crypto_vs_liquidity "
        "WHERE date = '2025-11-19'",
    )
    assert got[0] == pytest.approx(price) and got[1] == pytest.approx(cap) and got[2] == 182


def test_lagged_net_liquidity_is_the_known_value_lag_days_earlier(fresh_dir):
    rows = query(
        fresh_dir,
        "SELECT a.net_liquidity_lagged_bn, b.net_liquidity_bn FROM crypto_vs_liquidity a "
        "JOIN crypto_vs_liquidity b ON b.date = a.date - INTERVAL (a.lag_days) DAY "
        "WHERE a.date = '2025-11-19'",
    )
    assert rows and rows[0][0] == pytest.approx(rows[0][1])


def test_total_market_cap_null_where_no_source_covers_the_day(fresh_dir):
    assert (
        one(fresh_dir, "SELECT total_market_cap_usd FROM crypto_vs_liquidity WHERE date = '2025-08-14'")
        is not None
    )
    assert (
        one(fresh_dir, "SELECT total_market_cap_usd FROM crypto_vs_liquidity WHERE date = '2025-11-19'")
        is None
    )


def test_serving_has_every_mart_and_is_readable_read_only(fresh_dir):
    tables = {r[0] for r in query(fresh_dir, "SELECT table_name FROM information_schema.tables")}
    # every mart model of the dbt project, as the manifest lists them, and nothing else
    assert tables == {key.path[-1] for key in mart_keys()}


def test_pipeline_build_runs_data_tests_but_not_unit_tests(fresh_dir):
    # Unit tests check SQL on static inputs and run in tests/dbt_unit; a pipeline run builds the
    # models and their data tests (the asset checks) only.
    results = json.loads((fresh_dir / "dbt_target" / "run_results.json").read_text())["results"]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert kinds == {"model", "seed", "test"}, kinds
    # every data test of the manifest ran, whatever their number
    nodes = json.loads((fresh_dir / "dbt_target" / "manifest.json").read_text())["nodes"]
    data_tests = {uid for uid, node in nodes.items() if node["resource_type"] == "test"}
    assert len(data_tests) > 100
    assert {r["unique_id"] for r in results if r["unique_id"].startswith("test.")} == data_tests
