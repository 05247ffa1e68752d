"""The README's "Connecting a BI tool" section, run as documented: its SQLAlchemy URL (duckdb-engine,
read-only), its Python snippets and its three example queries, against a replay-built serving file.

The queries and snippets are read from README.md, so the docs and this test cannot drift apart.
Expected values come from the serving file itself (read with plain duckdb) and from
dbt_project/dbt_project.yml and the marts' schema file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
import yaml

from ingest.settings import DBT_PROJECT_DIR, PROJECT_ROOT
from tests.pipeline_support import REPLAY_ROOT

pytestmark = pytest.mark.integration
SECTION = "## Connecting a BI tool"
DOC_PATH = "/absolute/path/to/data/serving.duckdb"  # the placeholder path in the documented URL


def section() -> str:
    text = (PROJECT_ROOT / "README.md").read_text()
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", section(), flags=re.S | re.M)


def documented_url(serving: Path) -> str:
    urls = [b.strip() for b in blocks("") if b.strip().startswith("duckdb:")]
    assert len(urls) == 1, "the section shows one SQLAlchemy URL in a plain ``` block"
    assert DOC_PATH in urls[0], urls[0]
    return urls[0].replace(DOC_PATH, str(serving.resolve()))


def dbt_vars() -> dict:
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def accepted_values(model: str, column: str) -> set[str]:
    mart = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / f"{model}.yml").read_text())
    cols = next(m for m in mart["models"] if m["name"] == model)["columns"]
    tests = next(c for c in cols if c["name"] == column)["data_tests"]
    return set(next(t["accepted_values"]["arguments"]["values"] for t in tests if "accepted_values" in t))


@pytest.fixture(scope="module")
def serving(fresh_dir: Path) -> Path:
    return fresh_dir / "serving.duckdb"


@pytest.fixture(scope="module")
def engine(serving: Path):
    # NullPool: each `with engine.connect()` really closes. In one process DuckDB refuses a second
    # connection to the same file with another configuration (duckdb-engine sets its own user agent),
    # so the independent reads below (plain duckdb) run while no engine connection is open.
    eng = sa.create_engine(documented_url(serving), poolclass=sa.pool.NullPool)
    yield eng
    eng.dispose()


def run(engine, sql: str) -> tuple[list[str], list[tuple]]:
    with engine.connect() as con:
        result = con.execute(sa.text(sql))
        return list(result.keys()), [tuple(r) for r in result.fetchall()]


def direct(serving: Path, sql: str, params: list | None = None):
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def query_number(n: int) -> str:
    matches = [q for q in blocks("sql") if q.startswith(f"-- {n}. ")]
    assert len(matches) == 1, f"expected one documented query numbered {n}"
    return matches[0]


def query_about(table: str) -> str:
    matches = [q for q in blocks("sql") if re.search(rf"\bFROM {table}\b", q)]
    assert len(matches) == 1, f"expected one documented query on {table}"
    return matches[0]


def test_section_documents_four_queries_and_a_read_only_url(serving):
    assert len(blocks("sql")) == 4
    url = documented_url(serving)
    assert url.startswith("duckdb:////") and url.endswith("?access_mode=read_only")
    assert "duckdb -readonly" in section()


def test_net_liquidity_and_spreads_last_90_days(engine, serving):
    columns, rows = run(engine, query_number(1))
    assert columns == [
        "date",
        "net_liquidity_bn",
        "fed_total_assets_bn",
        "tga_bn",
        "on_rrp_bn",
        "sofr_iorb_spread_bp",
        "sofr_effr_spread_bp",
    ]
    newest = direct(serving, "SELECT max(date) FROM liquidity_daily")[0][0]
    dates = [r[0] for r in rows]
    # liquidity_daily has one row per calendar day: exactly the 90 days up to the newest date.
    assert dates == [newest - dt.timedelta(days=n) for n in range(89, -1, -1)]
    for _, net, assets, tga, rrp, sofr_iorb, sofr_effr in rows:
        assert net is not None and 0 < net < assets
        assert math.isclose(net, assets - tga - rrp, abs_tol=1e-6)
        for spread in (sofr_iorb, sofr_effr):
            # a few bp in normal markets; 100 bp would be a crisis or a unit error
            assert spread is None or abs(spread) < 100
    assert any(r[5] is not None for r in rows) and any(r[6] is not None for r in rows)


def test_btc_against_lagged_net_liquidity(engine, serving):
    columns, rows = run(engine, query_about("crypto_vs_liquidity"))
    assert columns == [
        "date",
        "btc_price_usd",
        "net_liquidity_bn",
        "lag_days",
        "net_liquidity_lagged_bn",
        "btc_corr_levels_365d",
        "btc_corr_changes_365d",
    ]
    newest = direct(serving, "SELECT max(date) FROM crypto_vs_liquidity")[0][0]
    dates = [r[0] for r in rows]
    assert dates == sorted(set(dates)) and dates[-1] == newest
    assert newest - dates[0] < dt.timedelta(days=365) and len(rows) > 300
    lag = dbt_vars()["lag_days"]
    for _, btc, net, lag_days, lagged, corr_levels, corr_changes in rows:
        assert btc > 0 and net > 0 and lagged > 0
        assert lag_days == lag
        for corr in (corr_levels, corr_changes):
            assert corr is not None and -1 <= corr <= 1
    # The lagged series is the as-known net liquidity lag_days earlier (read independently).
    last_day, lagged = rows[-1][0], rows[-1][4]
    known = direct(
        serving,
        "SELECT net_liquidity_known_bn FROM liquidity_daily WHERE date = ?",
        [last_day - dt.timedelta(days=lag)],
    )[0][0]
    assert lagged == pytest.approx(known)


def test_best_leads_per_asset_and_period(engine, serving):
    columns, rows = run(engine, query_about("liquidity_lag_scan"))
    assert columns == [
        "asset",
        "period",
        "best_lead_levels_days",
        "best_corr_levels",
        "best_lead_changes_days",
        "best_corr_changes",
        "first_date",
        "last_date",
    ]
    periods = {p["name"] for p in dbt_vars()["lag_scan_periods"]}
    # btc/eth/total, plus every configured coin under its CoinGecko id
    coins = {c for (c,) in direct(serving, "SELECT DISTINCT coin_id FROM crypto_vs_liquidity_by_coin")}
    assert coins == {"bitcoin", "ethereum"}
    assets = accepted_values("liquidity_lag_scan", "asset") | coins
    assert sorted((r[0], r[1]) for r in rows) == sorted((a, p) for a in assets for p in periods)
    max_lead = dbt_vars()["lag_scan_max_days"]
    for _, _, lead_levels, corr_levels, lead_changes, corr_changes, first, last in rows:
        assert 0 <= lead_levels <= max_lead and 0 <= lead_changes <= max_lead
        assert -1 <= corr_levels <= 1 and -1 <= corr_changes <= 1
        assert first < last


def test_daily_net_liquidity_beside_the_weekly_one(engine, serving):
    columns, rows = run(engine, query_number(4))
    assert columns == [
        "date",
        "net_liquidity_daily_bn",
        "net_liquidity_bn",
        "tga_daily_bn",
        "tga_bn",
        "tga_daily_observation_date",
        "net_liquidity_daily_known_bn",
    ]
    newest = direct(serving, "SELECT max(date) FROM liquidity_daily")[0][0]
    assert [r[0] for r in rows] == [newest - dt.timedelta(days=n) for n in range(29, -1, -1)]
    # The TGA close of each DTS record date, read from the snapshot's JSON (the 'Closing Balance'
    # row's open_today_bal since 2022-04-18), in millions.
    body = json.loads(
        (REPLAY_ROOT / "2026-01-31" / "treasury" / "dts" / "operating_cash_balance.json").read_bytes()
    )
    closes = {
        r["record_date"]: float(r["open_today_bal"])
        for r in body["data"]
        if r["account_type"] == "Treasury General Account (TGA) Closing Balance"
    }
    for day, net_daily, net_weekly, tga_daily, tga_weekly, record_date, known in rows:
        assets, rrp = direct(
            serving, "SELECT fed_total_assets_bn, on_rrp_bn FROM liquidity_daily WHERE date = ?", [day]
        )[0]
        assert record_date <= day and (day - record_date).days <= 4  # carried over weekends and holidays
        assert tga_daily == pytest.approx(closes[record_date.isoformat()] / 1000, abs=1e-9)
        assert net_daily == pytest.approx(assets - tga_daily - rrp, abs=1e-6)
        assert net_weekly == pytest.approx(assets - tga_weekly - rrp, abs=1e-6)
        assert known is not None and 0 < known < assets
    # the two definitions differ by exactly the TGA difference, tens of billions within a week
    assert any(abs(r[1] - r[2]) > 10 for r in rows)


def test_documented_url_refuses_writes(engine, serving):
    before = direct(serving, "SELECT count(*) FROM liquidity_daily")[0][0]
    with pytest.raises(sa.exc.DBAPIError, match="read-only"), engine.begin() as con:
        con.execute(sa.text("DELETE FROM liquidity_daily"))
    assert direct(serving, "SELECT count(*) FROM liquidity_daily")[0][0] == before


def test_python_snippets_run_as_written(fresh_dir, tmp_path, monkeypatch, capsys):
    """The snippets use the relative path data/serving.duckdb, as from the project folder."""
    (tmp_path / "data").symlink_to(fresh_dir, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    snippets = blocks("python")
    assert len(snippets) == 2
    first, second = {}, {}
    exec(compile(snippets[0], "README.md", "exec"), first)  # noqa: S102 - the documented snippet itself
    assert "best_lead_levels_days" in capsys.readouterr().out
    first["con"].close()  # one configuration per file and process at a time (see `engine`)
    exec(compile(snippets[1], "README.md", "exec"), second)  # noqa: S102
    second["engine"].dispose()
    signals = second["signals"]
    assert len(signals) == 5 and "stress_score" in signals.columns
