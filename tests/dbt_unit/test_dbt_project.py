"""The dbt project on small hand-made raw layers (no network, no replay files).

Each test writes a throwaway `warehouse.duckdb` with the real raw DDL and catalog
(`ingest.warehouse`), runs the `dbt` of this venv against it with its own target/log paths, and
checks values by hand. `dbt build` also runs the YAML unit tests (as-of, holiday carry-over,
delayed H.4.1 release, staleness, spreads, ratios, stress score) next to the models.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import duckdb
import pytest

from ingest import calendar, catalog, settings, warehouse

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

PROVENANCE = (
    "TIMESTAMP '2026-01-31 12:00:00', TIMESTAMP '2026-01-31 12:00:00', NULL, 'test://hand-made', 'sha'"
)


def run_dbt(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIQUIDITY_DATA_DIR": str(data_dir), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("LIQUIDITY_WAREHOUSE", None)
    with mock.patch.dict(os.environ, env, clear=True):
        env.update(settings.dbt_env())
    cmd = [
        str(DBT),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(data_dir / "dbt_target"),
        "--log-path",
        str(data_dir / "dbt_logs"),
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def empty_warehouse(data_dir: Path) -> Path:
    path = data_dir / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        warehouse.write_catalog(con)
    return path


def business_days(start: str, end: str) -> list[dt.date]:
    day, last, out = dt.date.fromisoformat(start), dt.date.fromisoformat(end), []
    while day <= last:
        if day.weekday() < 5:
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def fred(
    con: duckdb.DuckDBPyConnection, series_id: str, rows: list[tuple[dt.date | str, float, dt.date | str]]
) -> None:
    rule = catalog.get("fred", series_id).release_rule
    for observation_date, value, known_on in rows:
        known_at = calendar.release_instant(rule, dt.date.fromisoformat(str(known_on)))
        con.execute(
            "INSERT INTO raw.fred_observations "
            f"VALUES (?, CAST(? AS DATE), ?, CAST(? AS DATE), ?, {PROVENANCE})",
            [series_id, str(observation_date), value, str(known_on), known_at],
        )


def next_day(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1 if day.weekday() < 4 else 7 - day.weekday())


def fill_small_raw_layer(path: Path) -> None:
    """Four H.4.1 weeks around 2025-11-19 (real values on that day), daily rates, GDP, crypto."""
    wednesdays = ["2025-10-29", "2025-11-05", "2025-11-12", "2025-11-19"]
    thursdays = ["2025-10-30", "2025-11-06", "2025-11-13", "2025-11-20"]
    with warehouse.connect(path) as con:
        fred(
            con,
            "WALCL",
            list(zip(wednesdays, [6587000.0, 6579000.0, 6580462.0, 6555283.0], thursdays, strict=True)),
        )
        fred(
            con,
            "WTREGEN",
            list(zip(wednesdays, [950000.0, 940000.0, 955826.0, 941926.0], thursdays, strict=True)),
        )
        fred(
            con,
            "WRESBAL",
            list(zip(wednesdays, [2850000.0, 2860000.0, 2870000.0, 2888643.0], thursdays, strict=True)),
        )
        days = business_days("2025-10-27", "2025-11-21")
        fred(con, "RRPONTSYD", [(d, 1.129 if str(d) == "2025-11-19" else 5.0, d) for d in days])
        fred(con, "SOFR", [(d, 3.91 if str(d) == "2025-11-19" else 3.94, next_day(d)) for d in days])
        fred(con, "EFFR", [(d, 3.88, next_day(d)) for d in days])
        # IORB runs on to 2025-12-10 so the calendar does too, past the WALCL staleness limit
        iorb_days = [dt.date(2025, 10, 27) + dt.timedelta(days=i) for i in range(45)]
        fred(con, "IORB", [(d, 3.90, d) for d in iorb_days])
        fred(con, "GDP", [("2025-04-01", 30485.729, "2025-07-30"), ("2025-07-01", 31098.027, "2025-12-23")])
        con.execute(
            f"""INSERT INTO raw.coingecko_market_chart VALUES
            ('bitcoin', DATE '2025-11-19', 'api', TIMESTAMP '2025-11-19 00:00:00', 92000.0, 1.83e12, 5e10, DATE '2025-11-19', TIMESTAMP '2025-11-19 00:00:00', {PROVENANCE}),
            ('bitcoin', DATE '2025-11-19', 'export', TIMESTAMP '2025-11-19 00:00:00', 91000.0, 1.81e12, 5e10, DATE '2025-11-19', TIMESTAMP '2025-11-19 00:00:00', {PROVENANCE}),
            ('bitcoin', DATE '2025-11-20', 'export', TIMESTAMP '2025-11-20 00:00:00', 91500.0, 1.82e12, 5e10, DATE '2025-11-20', TIMESTAMP '2025-11-20 00:00:00', {PROVENANCE}),
            ('ethereum', DATE '2025-11-19', 'export', TIMESTAMP '2025-11-19 00:00:00', 3100.0, 3.7e11, 2e10, DATE '2025-11-19', TIMESTAMP '2025-11-19 00:00:00', {PROVENANCE})"""
        )
        # DTS Table I, 2025-11-17..21 (real TGA closes; published the next business day)
        closes = {"2025-11-17": 924961.0, "2025-11-18": 928422.0, "2025-11-19": 900832.0,
                  "2025-11-20": 909575.0, "2025-11-21": 892074.0}  # fmt: skip
        opening = 959113.0
        for day, close in closes.items():
            known = next_day(dt.date.fromisoformat(day))
            for line, (account, amount) in enumerate(
                [
                    ("Treasury General Account (TGA) Opening Balance", opening),
                    ("Total TGA Deposits (Table II)", 50000.0),
                    ("Treasury General Account (TGA) Closing Balance", close),
                ],
                start=1,
            ):
                con.execute(
                    "INSERT INTO raw.treasury_dts_cash_balance VALUES (CAST(? AS DATE), ?, NULL, ?, "
                    f"NULL, NULL, 'I', 'Cash Balance Details', ?, CAST(? AS DATE), ?, {PROVENANCE})",
                    [day, account, amount, line, str(known), calendar.release_instant("dts", known)],
                )
            opening = close
        con.execute(
            f"""INSERT INTO raw.coingecko_global VALUES
            ('global_snapshot', TIMESTAMP '2025-11-19 18:00:00', DATE '2025-11-19', 3.30e12, NULL, DATE '2025-11-19', TIMESTAMP '2025-11-19 18:00:00', {PROVENANCE}),
            ('market_cap_chart', TIMESTAMP '2025-11-19 00:00:00', DATE '2025-11-19', 3.20e12, NULL, DATE '2025-11-19', TIMESTAMP '2025-11-19 00:00:00', {PROVENANCE}),
            ('global_snapshot', TIMESTAMP '2025-11-20 08:00:00', DATE '2025-11-20', 3.10e12, NULL, DATE '2025-11-20', TIMESTAMP '2025-11-20 08:00:00', {PROVENANCE}),
            ('global_snapshot', TIMESTAMP '2025-11-20 20:00:00', DATE '2025-11-20', 3.15e12, NULL, DATE '2025-11-20', TIMESTAMP '2025-11-20 20:00:00', {PROVENANCE})"""
        )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("dbt_small")
    path = empty_warehouse(data_dir)
    fill_small_raw_layer(path)
    result = run_dbt(data_dir, "build")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return path


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_build_passes_on_an_empty_raw_layer(tmp_path: Path) -> None:
    """Zero rows everywhere (like RPONTSYD in every snapshot): every model, test and unit test passes."""
    path = empty_warehouse(tmp_path)
    result = run_dbt(tmp_path, "build")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert query(path, "SELECT count(*) FROM marts.liquidity_daily") == [(0,)]
    # The pipeline's builds leave dbt's unit tests out (ingest/settings.py DBT_BUILD_ARGS): this
    # build is where every one of them runs, and passes.
    target = tmp_path / "dbt_target"
    declared = json.loads((target / "manifest.json").read_text())["unit_tests"]
    ran = {
        r["unique_id"]: r["status"]
        for r in json.loads((target / "run_results.json").read_text())["results"]
        if r["unique_id"].startswith("unit_test.")
    }
    assert declared and set(ran) == set(declared), sorted(set(declared) ^ set(ran))
    assert set(ran.values()) == {"pass"}, ran


def test_net_liquidity_spreads_and_ratios_by_hand(built: Path) -> None:
    row = query(
        built,
        """SELECT fed_total_assets_bn, tga_bn, on_rrp_bn, net_liquidity_bn, sofr_iorb_spread_bp,
                  sofr_effr_spread_bp, reserves_to_gdp_pct, gdp_bn, policy_phase, stale_inputs, missing_inputs
           FROM marts.liquidity_daily WHERE date = DATE '2025-11-19'""",
    )[0]
    assert row[:3] == (6555.283, 941.926, 1.129)
    assert row[3] == pytest.approx(6555.283 - 941.926 - 1.129, abs=1e-9)  # 5612.228
    assert row[4] == 1.0  # SOFR 3.91 - IORB 3.90
    assert row[5] == 3.0  # SOFR 3.91 - EFFR 3.88
    # GDP is always the latest quarter published by that day: 2025Q3 (dated 2025-07-01) only from 2025-12-23
    assert row[6] == round(2888.643 / 30485.729 * 100, 4)
    assert row[7] == 30485.729
    assert row[8] == "qt2_slow"
    assert row[9] is None  # nothing too old yet
    assert row[10] == "bank_assets,btfp"  # no H.8 / BTFP rows in this raw layer at all


def test_daily_net_liquidity_uses_the_dts_close_and_waits_for_its_release(built: Path) -> None:
    rows = {
        r[0]: r[1:]
        for r in query(
            built,
            """SELECT date, tga_daily_bn, net_liquidity_daily_bn, tga_daily_known_bn, net_liquidity_daily_known_bn,
                      tga_bn, coalesce(stale_inputs, ''), coalesce(missing_inputs, '')
               FROM marts.liquidity_daily WHERE date BETWEEN '2025-11-14' AND '2025-11-26'""",
        )
    }
    wed = rows[dt.date(2025, 11, 19)]
    assert wed[0] == 900.832  # the Closing Balance row's open_today_bal, in billions
    assert wed[1] == pytest.approx(6555.283 - 900.832 - 1.129, abs=1e-9)
    # as known at the end of Wednesday: Tuesday's close (published Wednesday), last week's WALCL
    assert wed[2] == 928.422
    assert wed[3] == pytest.approx(6580.462 - 928.422 - 1.129, abs=1e-9)
    assert rows[dt.date(2025, 11, 23)][0] == 892.074  # Sunday carries Friday's close
    assert rows[dt.date(2025, 11, 24)][2] == 892.074  # Friday's DTS is known from Monday
    # before the first DTS row: NULL and listed as missing, never the weekly WTREGEN
    before = rows[dt.date(2025, 11, 14)]
    assert before[0] is None and before[1] is None and before[4] == 940.0 + 15.826
    assert "tga_daily" in before[6].split(",")
    # 5 days after the last close (2025-11-21): stale, NULL, listed
    late = rows[dt.date(2025, 11, 26)]
    assert late[0] is None and late[1] is None and "tga_daily" in late[5].split(",")


def test_as_known_values_wait_for_the_release(built: Path) -> None:
    # Wednesday 2025-11-19 data are released Thursday: on Wednesday the known value is last week's
    known = dict(
        query(
            built,
            "SELECT date, net_liquidity_known_bn FROM marts.liquidity_daily WHERE date BETWEEN '2025-11-19' AND '2025-11-20'",
        )
    )
    assert known[dt.date(2025, 11, 19)] == pytest.approx(6580.462 - 955.826 - 1.129)
    assert known[dt.date(2025, 11, 20)] == pytest.approx(6555.283 - 941.926 - 5.0)
    # GDP for 2025Q3 is only known on 2025-12-23: signals still divide by 2025Q2 GDP
    gdp = query(built, "SELECT gdp_bn FROM marts.liquidity_signals WHERE date = DATE '2025-11-19'")
    assert gdp == [(30485.729,)]


def test_weekly_value_goes_null_after_13_days_and_is_listed_as_stale(built: Path) -> None:
    rows = dict(
        (d, (v, s))
        for d, v, s in query(
            built,
            "SELECT date, fed_total_assets_bn, stale_inputs FROM marts.liquidity_daily "
            "WHERE date IN ('2025-12-02', '2025-12-03')",
        )
    )
    assert rows[dt.date(2025, 12, 2)][0] == 6555.283  # 13 days old: still held
    value, stale = rows[dt.date(2025, 12, 3)]
    assert value is None  # 14 days old: NULL, never a guess
    assert "fed_total_assets" in stale.split(",")


def test_crypto_prefers_api_rows_and_chart_history(built: Path) -> None:
    rows = query(
        built,
        "SELECT date, btc_price_usd, eth_price_usd, total_market_cap_usd, lag_days FROM marts.crypto_vs_liquidity ORDER BY date",
    )
    # 11-19: api over export, market_cap_chart over a /global snapshot; 11-20: last snapshot of the day
    assert rows == [
        (dt.date(2025, 11, 19), 92000.0, 3100.0, 3.20e12, 182),
        (dt.date(2025, 11, 20), 91500.0, None, 3.15e12, 182),
    ]


def test_crypto_joins_liquidity_known_at_the_snapshot_instant(built: Path) -> None:
    # The row dated Thursday 2025-11-20 is the 00:00 UTC snapshot, Wednesday 19:00 in New York: the
    # H.4.1 of 2025-11-19 (Thursday 16:30 ET) is not out yet, Wednesday's ON RRP (13:15 ET) is.
    # The row dated Wednesday 2025-11-19 (Tuesday evening in New York) has Tuesday's ON RRP (5.0).
    rows = dict(
        query(
            built,
            "SELECT date, net_liquidity_bn FROM marts.crypto_vs_liquidity "
            "WHERE observed_at = date_trunc('day', observed_at) ORDER BY date",
        )
    )
    assert rows[dt.date(2025, 11, 20)] == pytest.approx(6580.462 - 955.826 - 1.129)
    assert rows[dt.date(2025, 11, 19)] == pytest.approx(6580.462 - 955.826 - 5.0)
    # liquidity_daily's as-known view is "known at the end of the New York day": Thursday's release counts
    known = dict(query(built, "SELECT date, net_liquidity_known_bn FROM marts.liquidity_daily"))
    assert known[dt.date(2025, 11, 20)] == pytest.approx(6555.283 - 941.926 - 5.0)


def test_unit_drift_fails_the_catalog_band_test(tmp_path: Path) -> None:
    """WTREGEN delivered in billions while the catalog says millions: the scaled TGA (0.94 'bn') is
    outside the catalog band, and the build fails on the band test."""
    path = empty_warehouse(tmp_path)
    with warehouse.connect(path) as con:
        fred(con, "WTREGEN", [("2025-11-19", 941.926, "2025-11-20")])
    result = run_dbt(tmp_path, "build", "--select", "stg_catalog__series", "stg_fred__observations")
    assert result.returncode != 0
    assert "within_catalog_band_stg_fred__observations_value" in result.stdout


def stored_failures(path: Path, test: str, columns: str) -> list[tuple]:
    """The failing rows `dbt test --store-failures` kept of `test` (its table, in dbt's audit schema)."""
    (schema,) = query(
        path, "SELECT table_schema FROM information_schema.tables WHERE table_name = ?", [test]
    )[0]
    return query(path, f"SELECT {columns} FROM {schema}.{test}")


def test_not_null_columns_names_each_column_holding_nulls(tmp_path: Path) -> None:
    """One `not_null_columns` test per model stands for one `not_null` per column. A DuckLake raw
    table has no NOT NULL constraint (../shared/DUCKLAKE.md), so the source test is the guard: a
    WALCL row without `value` and `known_on` fails `not_null_fred_observations`, and its failing
    rows name exactly those two columns with their NULL counts; a clean table passes."""
    path = empty_warehouse(tmp_path)
    with warehouse.connect(path) as con:
        fred(con, "WALCL", [("2025-11-12", 6555283.0, "2025-11-13")])
        # The same columns, without the DDL's NOT NULL constraints (as on DuckLake)
        con.execute("CREATE OR REPLACE TABLE raw.fred_observations AS SELECT * FROM raw.fred_observations")
    clean = run_dbt(tmp_path, "test", "--select", "not_null_fred_observations")
    assert clean.returncode == 0, clean.stdout[-3000:]
    assert "PASS=1" in clean.stdout, clean.stdout[-3000:]
    with warehouse.connect(path) as con:
        con.execute(
            "INSERT INTO raw.fred_observations SELECT series_id, DATE '2025-11-19', NULL, NULL, known_at, "
            "fetched_at, updated_at, previous_value, source_url, payload_sha256 FROM raw.fred_observations"
        )
    result = run_dbt(tmp_path, "test", "--select", "not_null_fred_observations", "--store-failures")
    assert result.returncode != 0
    assert "FAIL 2 not_null_fred_observations" in result.stdout, result.stdout[-3000:]
    failures = stored_failures(path, "not_null_fred_observations", "column_name, null_rows")
    assert sorted(failures) == [("known_on", 1), ("value", 1)]


def test_values_between_fails_on_each_column_out_of_its_bounds(tmp_path: Path) -> None:
    """One `values_between` test per model stands for one range test per column. The total market
    cap must be > 0 (exclusive): 1 USD passes, 0 and -5 fail, and each failing row names the column
    it broke in `failed_column`, first, with the day (what the run summary and the check show)."""
    path = empty_warehouse(tmp_path)
    snapshot = "TIMESTAMP '2025-11-{d} 00:00:00', DATE '2025-11-{d}', {v}, NULL, DATE '2025-11-{d}', TIMESTAMP '2025-11-{d} 00:00:00'"
    with warehouse.connect(path) as con:
        for day, value in (("17", "1.0"), ("18", "0.0"), ("19", "-5.0")):
            row = snapshot.format(d=day, v=value)
            con.execute(f"INSERT INTO raw.coingecko_global VALUES ('market_cap_chart', {row}, {PROVENANCE})")
    result = run_dbt(tmp_path, "build", "--select", "stg_coingecko__global", "--store-failures")
    assert result.returncode != 0
    assert "FAIL 2 value_between_stg_coingecko__global" in result.stdout, result.stdout[-3000:]
    failures = stored_failures(
        path, "value_between_stg_coingecko__global", "failed_column, observation_date, total_market_cap_usd"
    )
    assert sorted(failures) == [
        ("total_market_cap_usd", dt.date(2025, 11, 18), 0.0),
        ("total_market_cap_usd", dt.date(2025, 11, 19), -5.0),
    ]
    columns = query(
        path,
        "SELECT column_name FROM information_schema.columns WHERE table_name = "
        "'value_between_stg_coingecko__global' ORDER BY ordinal_position LIMIT 1",
    )
    assert columns == [("failed_column",)]


def test_reconciliation_pairs_come_from_the_catalog_and_a_disagreeing_pair_fails(tmp_path: Path) -> None:
    """The staged pairs are exactly the catalog's `reconciles_with`; the DDP Wednesday TGA
    (RESPPLLDT_N.WW, a pair no SQL names) $1 million off WDTGAL fails the reconciliation test."""
    path = empty_warehouse(tmp_path)
    with warehouse.connect(path) as con:
        fred(con, "WDTGAL", [("2025-11-19", 900832.0, "2025-11-20")])
        known_at = calendar.release_instant("h41", dt.date(2025, 11, 20))
        con.execute(
            "INSERT INTO raw.fed_ddp_observations "
            f"VALUES ('H41', 'RESPPLLDT_N.WW', DATE '2025-11-19', 900833000000.0, DATE '2025-11-20', ?, {PROVENANCE})",
            [known_at],
        )
    result = run_dbt(tmp_path, "build", "--select", "+assert_ddp_week_averages_match_fred")
    assert result.returncode != 0
    assert "FAIL 1 assert_ddp_week_averages_match_fred" in result.stdout, result.stdout[-3000:]
    expected = {
        (s.source, s.series_id, partner)
        for s in catalog.load_catalog()
        for partner in s.reconciles_with.split()
    }
    staged = query(
        path, "SELECT source, series_id, partner_series_id FROM staging.stg_catalog__reconciliations"
    )
    assert set(staged) == expected and len(staged) == len(expected)
    assert ("fed_ddp", "RESPPLLDT_N.WW", "WDTGAL") in expected


def test_net_liquidity_definition_var_selects_what_crypto_lags(built: Path, tmp_path: Path) -> None:
    """Default weekly: crypto_vs_liquidity carries the WTREGEN definition; with the var set to daily it
    carries the DTS one (as known); any other value stops the build with a message."""
    weekly = query(
        built,
        "SELECT net_liquidity_bn, net_liquidity_definition FROM marts.crypto_vs_liquidity WHERE date = '2025-11-20'",
    )
    # As known at the row's snapshot, 2025-11-20 00:00 UTC = 19:00 in New York on 11-19: the H.4.1 of
    # 11-12 (11-19's is out 11-20 16:30 ET) and the ON RRP of 11-19 (out 13:15 ET that day).
    assert weekly == [(pytest.approx(6580.462 - 955.826 - 1.129), "weekly")]
    shutil.copy(built, tmp_path / "warehouse.duckdb")
    result = run_dbt(
        tmp_path,
        "run",
        "--select",
        "crypto_vs_liquidity",
        "liquidity_lag_scan",
        "--vars",
        "{net_liquidity_definition: daily}",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    daily = query(
        tmp_path / "warehouse.duckdb",
        "SELECT c.net_liquidity_bn, c.net_liquidity_definition, l.net_liquidity_daily_known_bn "
        "FROM marts.crypto_vs_liquidity c JOIN marts.liquidity_daily l ON l.date = c.date - 1 "
        "WHERE c.date = '2025-11-20'",
    )
    # As known at that snapshot: the H.4.1 of 11-12, the DTS close of Tuesday 11-18 (out 11-19 16:00 ET),
    # the ON RRP of 11-19; the same as liquidity_daily's as-known value at the end of New York's 11-19.
    assert daily == [
        (pytest.approx(6580.462 - 928.422 - 1.129), "daily", pytest.approx(6580.462 - 928.422 - 1.129))
    ]
    bad = run_dbt(
        tmp_path,
        "compile",
        "--select",
        "crypto_vs_liquidity",
        "--vars",
        "{net_liquidity_definition: monthly}",
    )
    assert bad.returncode != 0
    assert "var net_liquidity_definition must be 'weekly' or 'daily', not 'monthly'" in bad.stdout
