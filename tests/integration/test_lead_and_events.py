"""Issue 16 marts on the 2026-01-31 replay: liquidity_lead_over_time and the lag scan's intervals
recomputed from the served crypto and liquidity columns, policy_event_windows traced to
crypto_vs_liquidity and liquidity_daily, and the seed's FOMC dates checked against the EFFR fixings
in the recorded FRED data."""

from __future__ import annotations

import csv
import datetime as dt
import math

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from ingest import settings

pytestmark = pytest.mark.integration
SEED = settings.DBT_PROJECT_DIR / "seeds" / "policy_events.csv"


def frame(data_dir, sql: str, params: list | None = None) -> pd.DataFrame:
    con = duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).df()
    finally:
        con.close()


def dbt_vars() -> dict:
    return yaml.safe_load((settings.DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def pairs(data_dir, column: str) -> tuple[pd.Series, pd.Series]:
    """BTC market cap by UTC day, and net liquidity as known at 00:00 UTC of each day:
    crypto_vs_liquidity.net_liquidity_bn is the value known at the row's 00:00 UTC snapshot."""
    c = frame(data_dir, f"SELECT date, {column}, net_liquidity_bn FROM crypto_vs_liquidity ORDER BY date")
    c["date"] = pd.to_datetime(c["date"])
    return c.set_index("date")[column], c.set_index("date")["net_liquidity_bn"]


def scan(y: pd.Series, nl: pd.Series, start, end, leads, min_obs: int) -> dict[int, tuple[float, int]]:
    days = pd.date_range(start, end, freq="D")
    out = {}
    for lead in leads:
        x = nl.reindex(days - pd.Timedelta(days=int(lead))).to_numpy()
        yy = y.reindex(days).to_numpy()
        ok = np.isfinite(x) & np.isfinite(yy)
        if ok.sum() >= min_obs:
            out[int(lead)] = (round(float(np.corrcoef(yy[ok], x[ok])[0, 1]), 6), int(ok.sum()))
    return out


def test_latest_btc_window_recomputed_from_served_columns(fresh_dir):
    v = dbt_vars()
    row = frame(
        fresh_dir,
        "SELECT * FROM liquidity_lead_over_time WHERE asset = 'btc' ORDER BY window_end DESC LIMIT 1",
    ).iloc[0]
    end = pd.Timestamp(row["window_end"])
    assert (end - pd.Timestamp(v["lead_window_anchor"])).days % v["lead_window_step_days"] == 0
    assert (end - pd.Timestamp(row["window_start"])).days + 1 == v["lead_window_days"] == row["window_days"]
    assert end > pd.Timestamp("2026-01-31") - pd.Timedelta(days=v["lead_window_step_days"])
    y, nl = pairs(fresh_dir, "btc_market_cap_usd")
    leads = range(0, v["lag_scan_max_days"] + 1, v["lag_scan_step_days"])
    min_obs = math.ceil(v["lead_window_days"] * v["lead_window_min_obs_share"])
    corr = scan(y, nl, row["window_start"], end, leads, min_obs)
    best = max(corr, key=lambda lead: (corr[lead][0], -lead))
    assert row["best_lead_levels_days"] == best
    assert row["best_corr_levels"] == pytest.approx(corr[best][0], abs=2e-6)
    assert row["n_obs_levels"] == corr[best][1]
    near = [lead for lead, (r, _) in corr.items() if r >= corr[best][0] - v["lag_scan_near_best_tolerance"]]
    assert (row["near_best_levels_min_days"], row["near_best_levels_max_days"]) == (min(near), max(near))
    assert row["best_corr_levels_ci_low"] <= row["best_corr_levels_ci_high"]
    assert row["best_lead_levels_ci_low_days"] <= row["best_lead_levels_ci_high_days"]
    assert (row["ci_level"], row["ci_block_days"], row["ci_resamples"]) == (
        v["lead_ci_level"],
        v["lead_ci_block_days"],
        v["lead_ci_resamples"],
    )


def test_lead_over_time_covers_every_asset_and_window_step(fresh_dir):
    v = dbt_vars()
    f = frame(fresh_dir, "SELECT asset, window_end FROM liquidity_lead_over_time ORDER BY asset, window_end")
    assert set(f["asset"]) == {"btc", "eth", "total"}
    for asset, part in f.groupby("asset"):
        steps = pd.to_datetime(part["window_end"]).diff().dropna().dt.days
        assert set(steps) == {v["lead_window_step_days"]}, asset
    # total market cap starts 2018-01-01: its first window is the first 730-day window inside it
    first_total = pd.Timestamp(f.loc[f["asset"] == "total", "window_end"].min())
    assert pd.Timestamp("2018-01-01") + pd.Timedelta(days=v["lead_window_days"] - 1) <= first_total


def test_lag_scan_intervals_sit_on_its_best_lead_rows_for_the_wide_assets_only(fresh_dir):
    f = frame(
        fresh_dir,
        "SELECT asset, coin_id, period, best_lead_changes_days, best_corr_changes, best_corr_changes_ci_low, "
        "best_corr_changes_ci_high, best_lead_changes_ci_low_days, best_lead_changes_ci_high_days, ci_level "
        "FROM liquidity_lag_scan WHERE is_best_changes",
    )
    wide = f[f["coin_id"].isna()]
    assert set(wide["asset"]) == {"btc", "eth", "total"}
    assert wide["best_corr_changes_ci_low"].notna().all() and wide["ci_level"].notna().all()
    assert (wide["best_corr_changes_ci_low"] <= wide["best_corr_changes_ci_high"]).all()
    assert (wide["best_lead_changes_ci_low_days"] <= wide["best_lead_changes_ci_high_days"]).all()
    assert f.loc[f["coin_id"].notna(), "best_corr_changes_ci_low"].isna().all()
    # the bootstrap's point estimate is the lag scan's own: btc 2020-2021, 7-day changes
    btc = wide[(wide["asset"] == "btc") & (wide["period"] == "2020-2021")].iloc[0]
    y, nl = pairs(fresh_dir, "btc_market_cap_usd")
    k = dbt_vars()["corr_change_days"]
    corr = scan(
        np.log(y / y.shift(k, freq="D").reindex(y.index)),
        np.log(nl / nl.shift(k, freq="D").reindex(nl.index)),
        "2020-01-01",
        "2021-12-31",
        [int(btc["best_lead_changes_days"])],
        60,
    )
    assert btc["best_corr_changes"] == pytest.approx(corr[int(btc["best_lead_changes_days"])][0], abs=2e-6)


# --- policy events --------------------------------------------------------------------------------


def seed_rows() -> list[dict]:
    with SEED.open(newline="") as f:
        return list(csv.DictReader(f))


def test_seed_target_ranges_chain_from_one_decision_to_the_next():
    fomc = [r for r in seed_rows() if r["event_kind"] in ("fomc_hike", "fomc_cut")]
    assert len(fomc) == 31
    for before, after in zip(fomc, fomc[1:], strict=False):
        change = float(after["target_high_pct"]) - float(before["target_high_pct"])
        assert round(change * 100) == int(after["rate_change_bp"]), after["event_date"]


def test_seed_fomc_dates_agree_with_the_effr_fixings(fresh_dir):
    """The effective fed funds rate of the business day after each decision (when a new range takes
    effect) lies inside the new range, and the day before the announcement inside the old one;
    the one exception is the repo spike itself: EFFR printed 2.30 % on 2019-09-17, above the
    2.00-2.25 % range, the day before the 2019-09-18 cut."""
    effr = frame(fresh_dir, "SELECT date, effr_pct FROM liquidity_daily WHERE effr_pct IS NOT NULL")
    effr["date"] = pd.to_datetime(effr["date"])
    fixings = frame(
        fresh_dir, "SELECT DISTINCT trading_day FROM policy_event_windows ORDER BY trading_day"
    )  # EFFR fixing days
    days = pd.to_datetime(fixings["trading_day"]).tolist()
    rate = effr.set_index("date")["effr_pct"]
    for r in seed_rows():
        if r["event_kind"] not in ("fomc_hike", "fomc_cut"):
            continue
        d = pd.Timestamp(r["event_date"])
        after = next(x for x in days if x > d)
        before = max(x for x in days if x < d)
        lo, hi = float(r["target_low_pct"]), float(r["target_high_pct"])
        step = int(r["rate_change_bp"]) / 100
        assert lo <= rate[after] <= hi, (r["event_date"], rate[after])
        if before == pd.Timestamp("2019-09-17"):
            assert rate[before] == 2.30 and hi - step == 2.25
            continue
        assert lo - step <= rate[before] <= hi - step, (r["event_date"], rate[before])


def test_event_window_traced_to_crypto_and_liquidity_marts(fresh_dir):
    """QT2 end announced 2025-10-29 (Wednesday, 14:00 ET): day 0 is its close, the 00:00 UTC
    snapshot of 2025-10-30; the base is the close of 2025-10-28 (snapshot 2025-10-29)."""
    w = frame(
        fresh_dir,
        "SELECT * FROM policy_event_windows WHERE event_date = '2025-10-29' AND event_kind = 'qt_end' "
        "AND asset = 'btc' ORDER BY rel_day",
    )
    assert list(w["rel_day"]) == list(range(-10, 31))
    day0 = w[w["rel_day"] == 0].iloc[0]
    assert day0["trading_day"].date() == dt.date(2025, 10, 29)
    assert day0["base_trading_day"].date() == dt.date(2025, 10, 28)
    assert day0["close_at"] == pd.Timestamp("2025-10-30 00:00:00")
    c = frame(
        fresh_dir,
        "SELECT date, btc_price_usd, net_liquidity_bn FROM crypto_vs_liquidity "
        "WHERE date IN ('2025-10-29', '2025-10-30', '2025-12-13')",
    ).set_index("date")
    base, close = c.loc[pd.Timestamp("2025-10-29")], c.loc[pd.Timestamp("2025-10-30")]
    assert day0["cum_log_return"] == pytest.approx(math.log(close["btc_price_usd"] / base["btc_price_usd"]))
    assert day0["net_liquidity_change_bn"] == pytest.approx(
        close["net_liquidity_bn"] - base["net_liquidity_bn"], abs=1e-6
    )
    last = w[w["rel_day"] == 30].iloc[0]
    end = c.loc[pd.Timestamp(last["trading_day"]) + pd.Timedelta(days=1)]
    assert last["cum_log_return"] == pytest.approx(math.log(end["btc_price_usd"] / base["btc_price_usd"]))
    # averages across events of the kind: the two QT ends (2019-07-31, 2025-10-29)
    kind = frame(
        fresh_dir,
        "SELECT event_date, cum_log_return, kind_mean_log_return, kind_sd_log_return, kind_n_events "
        "FROM policy_event_windows WHERE event_kind = 'qt_end' AND asset = 'btc' AND rel_day = 30",
    )
    assert sorted(kind["event_date"].dt.date) == [dt.date(2019, 7, 31), dt.date(2025, 10, 29)]
    assert (kind["kind_n_events"] == 2).all()
    assert kind["kind_mean_log_return"].iloc[0] == pytest.approx(kind["cum_log_return"].mean())
    assert kind["kind_sd_log_return"].iloc[0] == pytest.approx(kind["cum_log_return"].std(ddof=1))


def test_reserves_change_only_when_an_h41_became_known(fresh_dir):
    """Reserves (WRESBAL, H.4.1 Thursday 16:30 ET) known at 00:00 UTC of a Friday include that
    Thursday's release; at 00:00 UTC of the Thursday they do not."""
    w = frame(
        fresh_dir,
        "SELECT trading_day, reserves_change_bn FROM policy_event_windows WHERE event_date = '2025-10-29' "
        "AND event_kind = 'qt_end' AND asset = 'btc' AND rel_day BETWEEN -1 AND 1 ORDER BY rel_day",
    )
    # base Tue 2025-10-28 close, day 0 Wed (snapshot Thu 00:00 UTC): no new H.4.1 yet
    assert w["reserves_change_bn"].iloc[1] == 0
    # day 1 Thu (snapshot Fri 00:00 UTC): the H.4.1 of Thursday 2025-10-30 is known
    assert w["reserves_change_bn"].iloc[2] != 0
