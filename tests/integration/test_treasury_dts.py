"""The Daily Treasury Statement end to end from the replay snapshots: daily TGA and daily net
liquidity traced to the snapshot's JSON (read here with the json module, not our parser), the
label seams, coverage of every business day, release awareness, and the blocking checks passing
on both cuts and failing on a rescaled or shifted day."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from functools import cache
from pathlib import Path

import duckdb
import pytest

from ingest import calendar, quality
from tests.integration.conftest import replay
from tests.integration.test_pipeline import fredgraph_value
from tests.pipeline_support import shared_run

pytestmark = pytest.mark.integration
FIRST_DTS = dt.date(2016, 1, 4)
# The row holding the TGA balance in each label era (DOMAIN.md), written out here independently of staging.
TGA_ROW = {
    "Federal Reserve Account": "close_today_bal",
    "Treasury General Account (TGA)": "close_today_bal",
    "Treasury General Account (TGA) Closing Balance": "open_today_bal",
}


@cache
def dts_closes(cut: str) -> dict[str, float]:
    """Record date -> TGA closing balance in millions, from the snapshot's JSON body."""
    rows = json.loads((replay(cut) / "treasury" / "dts" / "operating_cash_balance.json").read_bytes())["data"]
    return {
        r["record_date"]: float(r[TGA_ROW[r["account_type"]]]) for r in rows if r["account_type"] in TGA_ROW
    }


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def daily(data_dir: Path, columns: str, day: str) -> tuple:
    rows = query(data_dir / "serving.duckdb", f"SELECT {columns} FROM liquidity_daily WHERE date = ?", [day])
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture(scope="module")
def cut_a(tmp_path_factory) -> Path:
    return shared_run(tmp_path_factory, "2025-11-19")


@pytest.mark.parametrize(
    "day", ["2021-09-30", "2021-10-01", "2022-04-15", "2022-04-18"], ids=lambda d: f"seam-{d}"
)
def test_label_seams_give_the_tga_close_of_the_right_row(fresh_dir, day):
    """2021-09-30 'Federal Reserve Account' / 2021-10-01 'Treasury General Account (TGA)' (both
    close_today_bal), 2022-04-15 the same / 2022-04-18 the 'Closing Balance' row's open_today_bal."""
    (tga,) = daily(fresh_dir, "tga_daily_bn", day)
    assert tga == pytest.approx(dts_closes("2026-01-31")[day] / 1000, abs=1e-9)


def test_seam_values_are_the_recorded_ones(fresh_dir):
    # Spelled out once, so a change in how the JSON is read above cannot hide a wrong row.
    got = [
        daily(fresh_dir, "tga_daily_bn", d)[0]
        for d in ("2021-09-30", "2021-10-01", "2022-04-15", "2022-04-18")
    ]
    assert got == [215.16, 132.452, 578.473, 841.253]


@pytest.mark.parametrize("cut", ["2025-11-19", "2026-01-31"])
def test_daily_net_liquidity_on_every_business_day_of_the_dts_history(fresh_dir, cut_a, cut):
    data_dir = cut_a if cut == "2025-11-19" else fresh_dir
    closes = dts_closes(cut)
    last = max(dt.date.fromisoformat(d) for d in closes)
    rows = dict(
        query(
            data_dir / "serving.duckdb",
            "SELECT date, net_liquidity_daily_bn FROM liquidity_daily WHERE date BETWEEN ? AND ?",
            [FIRST_DTS - dt.timedelta(days=10), last],
        )
    )
    business = [d for d in rows if d >= FIRST_DTS and calendar.is_business_day(d)]
    assert len(business) > 2400
    assert [d for d in business if rows[d] is None] == []
    assert all(rows[d] is None for d in rows if d < FIRST_DTS)  # never the weekly TGA in its place
    assert min(dt.date.fromisoformat(d) for d in closes) == FIRST_DTS


def test_net_liquidity_daily_traced_to_the_source_files(fresh_dir):
    cut, day = "2026-01-31", "2026-01-21"  # a Wednesday
    walcl = fredgraph_value(cut, "WALCL", day) / 1000
    rrp = fredgraph_value(cut, "RRPONTSYD", day)
    tga = dts_closes(cut)[day] / 1000
    tga_obs, net = daily(fresh_dir, "tga_daily_bn, net_liquidity_daily_bn", day)
    assert tga_obs == pytest.approx(tga, abs=1e-9)
    assert net == pytest.approx(walcl - tga - rrp, abs=1e-6)
    # The DTS Wednesday close equals the H.4.1 Wednesday level (WDTGAL) on this day too.
    assert fredgraph_value(cut, "WDTGAL", day) == dts_closes(cut)[day]


def test_as_known_the_dts_waits_for_the_next_business_day(fresh_dir):
    cut = "2026-01-31"
    closes = dts_closes(cut)
    # Friday 2026-01-16's DTS is published Tuesday 2026-01-20 (Monday 01-19 is MLK Day).
    known_fri, as_of_fri = daily(fresh_dir, "tga_daily_known_bn, tga_daily_known_as_of", "2026-01-19")
    assert as_of_fri == dt.date(2026, 1, 15) and known_fri == pytest.approx(closes["2026-01-15"] / 1000)
    known_tue, as_of_tue = daily(fresh_dir, "tga_daily_known_bn, tga_daily_known_as_of", "2026-01-20")
    assert as_of_tue == dt.date(2026, 1, 16) and known_tue == pytest.approx(closes["2026-01-16"] / 1000)
    # As known at the end of Wednesday 2026-01-21: WALCL of the previous Wednesday (H.4.1 is out
    # Thursday), Tuesday's DTS close, that day's ON RRP.
    walcl = fredgraph_value(cut, "WALCL", "2026-01-14") / 1000
    rrp = fredgraph_value(cut, "RRPONTSYD", "2026-01-21")
    (known,) = daily(fresh_dir, "net_liquidity_daily_known_bn", "2026-01-21")
    assert known == pytest.approx(walcl - closes["2026-01-20"] / 1000 - rrp, abs=1e-6)


def test_series_freshness_lists_the_dts(fresh_dir):
    row = query(
        fresh_dir / "serving.duckdb",
        "SELECT source, last_observation_date, status, max_stale_days FROM series_freshness "
        "WHERE series_id = 'DTS_TGA_CLOSE'",
    )
    assert row == [("treasury_dts", dt.date(2026, 1, 29), "current", 4)]


@pytest.mark.parametrize("cut", ["2025-11-19", "2026-01-31"])
def test_dts_checks_pass_on_both_snapshots(fresh_dir, cut_a, cut):
    data_dir = cut_a if cut == "2025-11-19" else fresh_dir
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        reconciled = quality.dts_reconciliation(con)
        assert reconciled.passed and not reconciled.warning, reconciled.details
        weeks = reconciled.details["weeks_compared"]
        assert weeks["DTS_TGA_CLOSE vs WTREGEN (week_average)"] > 500
        assert weeks["DTS_TGA_CLOSE vs WDTGAL (wednesday_level)"] >= 221
        assert weeks["DTS_TGA_CLOSE vs RESPPLLDT_N.WW (wednesday_level)"] == 100
        assert quality.dts_continuity(con).passed
        assert quality.dts_unit_drift(con).passed
        assert quality.dts_freshness(con, dt.date.fromisoformat(cut)).passed


@pytest.fixture
def warehouse_copy(fresh_dir, tmp_path) -> duckdb.DuckDBPyConnection:
    """A writable copy of the 2026-01-31 warehouse; the checks read staging views over its raw layer."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(fresh_dir / "warehouse.duckdb", path)
    con = duckdb.connect(str(path))
    yield con
    con.close()


CLOSING = "account_type = 'Treasury General Account (TGA) Closing Balance'"


def test_a_day_rescaled_by_1000_fails_reconciliation_and_unit_drift(warehouse_copy):
    con = warehouse_copy
    con.execute(f"UPDATE raw.treasury_dts_cash_balance SET open_today_bal = open_today_bal / 1000 "
                f"WHERE observation_date = DATE '2026-01-13' AND {CLOSING}")  # fmt: skip
    reconciled = quality.dts_reconciliation(con)
    assert not reconciled.passed
    # a Tuesday: only the week average ending Wednesday 2026-01-14 sees it
    assert [(d["pair"], d["date"]) for d in reconciled.details["differences"]] == [
        ("DTS_TGA_CLOSE vs WTREGEN (week_average)", "2026-01-14")
    ]
    drift = quality.dts_unit_drift(con)
    assert not drift.passed and drift.details["offending"][0]["date"] == "2026-01-13"


def test_a_day_shifted_by_one_business_day_fails_reconciliation(warehouse_copy):
    """Rows of 2026-01-20..2026-01-22 labelled one business day late (e.g. by publication date)."""
    con = warehouse_copy
    shifted = {"2026-01-22": "2026-01-23", "2026-01-21": "2026-01-22", "2026-01-20": "2026-01-21"}
    con.execute("DELETE FROM raw.treasury_dts_cash_balance WHERE observation_date = DATE '2026-01-23'")
    for old, new in shifted.items():  # latest first: no key is taken twice
        con.execute(
            "UPDATE raw.treasury_dts_cash_balance SET observation_date = CAST(? AS DATE) "
            "WHERE observation_date = CAST(? AS DATE)",
            [new, old],
        )
    reconciled = quality.dts_reconciliation(con)
    assert not reconciled.passed
    wednesday = [d for d in reconciled.details["differences"] if d["date"] == "2026-01-21"]
    assert {d["pair"] for d in wednesday} == {
        "DTS_TGA_CLOSE vs WDTGAL (wednesday_level)",
        "DTS_TGA_CLOSE vs WTREGEN (week_average)",
    }
    continuity = quality.dts_continuity(con)
    assert not continuity.passed and continuity.details["missing"] == ["2026-01-20"]


def test_incremental_run_asked_fiscaldata_for_a_window(incremental_dir):
    """First run: the whole history, one request per TGA label era; then only the closing-balance
    label's rows since the watermark minus the look-back (not Table I's other rows)."""
    rows = query(
        incremental_dir / "warehouse.duckdb",
        "SELECT url, rows_in_payload FROM raw.load_log WHERE source = 'treasury_dts' AND status = 'ok' "
        "ORDER BY loaded_at",
    )
    assert len(rows) == 2
    (first_url, first_rows), (second_url, second_rows) = rows
    closing = "account_type%3Aeq%3ATreasury+General+Account+%28TGA%29+Closing+Balance"
    assert "filter=record_date%3Agte%3A2003-01-01" in first_url and closing in first_url
    assert first_rows == len(dts_closes("2025-11-19"))  # one TGA row per statement, in all three eras
    # watermark 2025-11-18 minus the DTS look-back (calendar.LOOKBACK); rows to 2026-01-29
    since = (dt.date(2025, 11, 18) - calendar.LOOKBACK["dts"]).isoformat()
    assert since == "2025-11-11"
    assert f"filter=record_date%3Agte%3A{since}%2C{closing}" in second_url
    assert second_rows == sum(1 for d in dts_closes("2026-01-31") if d >= since)
    raw = query(
        incremental_dir / "warehouse.duckdb",
        "SELECT account_type, count(*) FROM raw.treasury_dts_cash_balance GROUP BY ALL ORDER BY ALL",
    )
    assert {label for label, _ in raw} == set(TGA_ROW)
    assert sum(n for _, n in raw) == len(dts_closes("2026-01-31"))
