"""The moving-block bootstrap of dbt_project/models/intermediate/int_lead_scan_bootstrap.py on
synthetic series whose answer is known: reproducible for a seed, and wider than a textbook interval
when both series are autocorrelated."""

from __future__ import annotations

import importlib.util

import numpy as np

from ingest import settings

PATH = settings.DBT_PROJECT_DIR / "models" / "intermediate" / "int_lead_scan_bootstrap.py"
spec = importlib.util.spec_from_file_location("int_lead_scan_bootstrap", PATH)
boot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(boot)
LEADS = np.arange(0, 50, 7)


def ar1(rng, n, phi):
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0]
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def lagged(x, leads):
    """x[t - lead] per lead, NaN before the start: the layout the model builds from the warehouse."""
    out = np.full((len(x), len(leads)), np.nan)
    for j, lead in enumerate(leads):
        out[lead:, j] = x[: len(x) - lead]
    return out


def run(y, x, seed=16, block=60, resamples=300):
    return boot.scan_one(y, lagged(x, LEADS), LEADS, 60, 0.02, block, resamples, 0.9, [seed, 1])


def test_point_estimate_finds_the_planted_lead_and_equals_numpy():
    rng = np.random.default_rng(1)
    x = ar1(rng, 800, 0.5)
    y = np.concatenate([np.zeros(21), x[:-21]]) + 0.5 * rng.standard_normal(800)
    out = run(y, x)
    assert out["best_lead_days"] == 21
    expected = np.corrcoef(y[21:], x[:-21])[0, 1]
    assert out["best_corr"] == round(expected, 6)
    assert out["n_obs"] == 800 - 21
    assert out["lead_ci_low_days"] <= 21 <= out["lead_ci_high_days"]
    assert out["corr_ci_low"] < out["best_corr"] < out["corr_ci_high"]


def test_same_seed_same_interval_other_seed_other_draw():
    rng = np.random.default_rng(2)
    x, y = ar1(rng, 700, 0.9), ar1(rng, 700, 0.9)
    a, b, c = run(y, x, seed=16), run(y, x, seed=16), run(y, x, seed=17)
    assert a == b
    assert (a["corr_ci_low"], a["corr_ci_high"]) != (c["corr_ci_low"], c["corr_ci_high"])


def test_blocks_widen_the_interval_of_two_independent_persistent_series():
    """Two independent AR(1) series (phi 0.97) correlate spuriously; with blocks of 60 days the
    interval is several times wider than with blocks of one day (the i.i.d. bootstrap), which
    treats every day as independent."""
    widths_block, widths_iid = [], []
    for s in range(6):
        rng = np.random.default_rng(100 + s)
        x, y = ar1(rng, 730, 0.97), ar1(rng, 730, 0.97)
        blocked, iid = run(y, x, block=60), run(y, x, block=1)
        widths_block.append(blocked["corr_ci_high"] - blocked["corr_ci_low"])
        widths_iid.append(iid["corr_ci_high"] - iid["corr_ci_low"])
    assert np.median(np.array(widths_block) / np.array(widths_iid)) > 2.5


def test_too_few_pairs_gives_no_estimate():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal(50), rng.standard_normal(50)
    out = run(y, x)
    assert out["best_lead_days"] is None and out["corr_ci_low"] is None


def test_a_scope_sliced_from_the_whole_series_terms_is_the_scope_computed_alone():
    """The model builds the pair terms once per asset and kind and slices each scope (period or
    rolling window) out of them: every value equals computing the scope's days on their own."""
    rng = np.random.default_rng(7)
    x = ar1(rng, 1500, 0.9) * 1e3 + 5e3
    y = np.exp(np.cumsum(0.02 * rng.standard_normal(1500))) * 1e12
    y[rng.random(1500) < 0.05] = np.nan  # missing crypto days
    xl = lagged(x, LEADS)
    terms = boot.pair_terms(y, xl)
    for i0, i1 in ((0, 1500), (200, 930), (731, 1461), (1400, 1500)):
        alone = boot.scan_one(y[i0:i1], xl[i0:i1], LEADS, 60, 0.02, 60, 200, 0.9, [16, i0])
        sliced = boot.scan_terms(terms[i0:i1], LEADS, 60, 0.02, 60, 200, 0.9, [16, i0])
        assert sliced == alone, (i0, i1)
        assert alone["best_lead_days"] is not None and alone["corr_ci_low"] is not None, (i0, i1)


# --- reuse of the previous build's rows (inputs_sha256) ------------------------------------------


class FakeDbt:
    """What the model asks of dbt: config values, `ref` as DuckDB relations, `this`."""

    def __init__(self, con, reuse=True):
        self.con = con
        values = {
            "periods": '[{"name": "full", "start": null, "end": null}, {"name": "early", "start": null, "end": "2021-06-30"}]',
            "max_days": 28, "step_days": 7, "min_obs": 60, "tolerance": 0.02,
            "window_days": 240, "window_step_days": 30, "window_anchor": "2020-01-01",
            "window_min_obs_share": 0.8, "block_days": 30, "resamples": 50, "ci_level": 0.9,
            "seed": 16, "reuse": "true" if reuse else "false",
        }  # fmt: skip
        self.config = type(
            "config", (), {"__call__": lambda self, **_: None, "get": staticmethod(values.get)}
        )()
        self.this = '"built"'

    def ref(self, name):
        return self.con.table(name)


def inputs(con, days=900, bump_last=0.0):
    rng = np.random.default_rng(3)
    dates = np.datetime64("2020-01-01") + np.arange(days)
    nl = ar1(rng, days, 0.9) * 10 + 5000
    level = np.exp(np.cumsum(0.02 * rng.standard_normal(days))) * 1e12
    level[-1] *= 1 + bump_last
    chg = np.concatenate([np.full(7, np.nan), np.log(level[7:] / level[:-7])])
    nl_chg = np.concatenate([np.full(7, np.nan), np.log(nl[7:] / nl[:-7])])
    import pandas as pd

    crypto = pd.concat(
        pd.DataFrame({"asset": a, "coin_id": None, "date_day": dates, "level": level * k, "chg": chg})
        for a, k in (("btc", 1.0), ("eth", 0.4), ("total", 2.5))
    )
    liquidity = pd.DataFrame({"date_day": dates, "nl": nl, "nl_chg": nl_chg})
    for name, frame in (
        ("int_crypto_market_caps_long", crypto),
        ("int_net_liquidity_at_midnight", liquidity),
    ):
        con.register("frame", frame)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM frame")
        con.unregister("frame")


def build(con, monkeypatch, reuse=True):
    """One run of the model (scan_terms calls counted); its result becomes the table `built`."""
    calls = []
    real = boot.scan_terms
    monkeypatch.setattr(boot, "scan_terms", lambda *a: calls.append(a) or real(*a))
    con.register("frame", boot.model(FakeDbt(con, reuse), con))
    con.execute("CREATE OR REPLACE TABLE built AS SELECT * FROM frame")
    con.unregister("frame")
    rows = con.execute("SELECT * EXCLUDE (inputs_sha256) FROM built ORDER BY ALL").fetchall()
    return rows, len(calls)


def test_a_rebuild_reuses_every_unchanged_row_and_equals_a_build_from_nothing(monkeypatch):
    """Same inputs: no scope is resampled again and the rows are the same. One new value on the last
    day: only the scopes holding that day are recomputed (here the full period and the newest
    window), and the table equals a build from nothing (lead_scan_reuse false) of the new inputs."""
    import duckdb

    con = duckdb.connect()
    inputs(con)
    first, n_first = build(con, monkeypatch)
    assert n_first > 12 and len(first) == n_first  # every scope computed on the first build
    again, n_again = build(con, monkeypatch)
    assert (again, n_again) == (first, 0)
    inputs(con, bump_last=0.05)
    changed, n_changed = build(con, monkeypatch)
    assert 0 < n_changed < n_first / 2
    assert changed != first
    fresh = duckdb.connect()
    inputs(fresh, bump_last=0.05)
    assert build(fresh, monkeypatch, reuse=False) == (changed, n_first)
    # reuse off on a table that exists: every row recomputed, same answer
    assert build(con, monkeypatch, reuse=False) == (changed, n_first)
