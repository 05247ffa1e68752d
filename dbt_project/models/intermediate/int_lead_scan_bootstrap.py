"""Best lead of net liquidity over crypto, with moving-block bootstrap confidence intervals.

One row per scope item, asset (btc, eth, total: the wide assets of liquidity_lag_scan) and kind
(levels, changes):
  scope 'period': each period of var lag_scan_periods (liquidity_lag_scan joins it for its CIs);
  scope 'window': rolling windows of var lead_window_days calendar days of crypto dates, whose ends
                  step var lead_window_step_days from var lead_window_anchor (so a window, once
                  complete, is the same on every later build), up to the last crypto date
                  (liquidity_lead_over_time).

Pairs, as in liquidity_lag_scan: crypto market cap (level, or 7-day log change) on day t with net
liquidity as known at 00:00 UTC of day t - lead (int_net_liquidity_at_midnight), for every lead of
range(0, lag_scan_max_days + 1, lag_scan_step_days). The point estimate repeats the lag scan's
rule: Pearson r over the complete pairs of each lead, NULL under the minimum count, rounded to 6
decimals, best = highest r, ties to the shortest lead; near-best = leads within
lag_scan_near_best_tolerance of the best r.

Interval (var lead_ci_*): a moving-block bootstrap over crypto days. A resample joins
ceil(n_days / block) blocks of `block` consecutive days drawn with replacement from the scope's
days; every lead is recomputed on the same resampled days, so the whole lead curve is resampled
jointly. For each resample: r at the point estimate's best lead (the correlation interval) and the
resample's own best lead (the lead interval). Equal-tailed percentile intervals at lead_ci_level.
Random numbers: numpy PCG64 seeded with (lead_ci_seed, crc32 of scope/asset/kind/start/end), so a
build is reproducible and each row's draw does not depend on which other rows exist.

Reuse: each row is a pure function of its scope key, the model's settings and the scope's daily
(crypto, liquidity-at-lead) inputs, so the row stores a digest of those (inputs_sha256), and a build
takes the previous build's row unchanged where the digest is the same: a window that ended before
the newest data (and before the look-back the loads refresh) is not resampled again. The result is
the one a build from nothing gives (tests/unit/test_lead_bootstrap.py); var lead_scan_reuse false
recomputes every row.

Computed with block sums: for each lead, the six sums behind a Pearson r (count, x, y, x^2, y^2,
xy over complete pairs) are prefix-summed over days once; a resample is then a gather of block sums
(no per-resample pass over the data).
"""

import hashlib
import json
import zlib

import duckdb

import numpy as np
import pandas as pd
import pyarrow as pa

ASSETS = ("btc", "eth", "total")
KINDS = {"levels": ("level", "nl"), "changes": ("chg", "nl_chg")}


def _pearson(s):
    """r from the six sums (..., 6) = count, sx, sy, sxx, syy, sxy; NaN where undefined."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(s, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx = sxx - sx * sx / n
        vy = syy - sy * sy / n
        r = cov / np.sqrt(vx * vy)
    return np.where((n > 1) & (vx > 0) & (vy > 0), np.clip(r, -1.0, 1.0), np.nan), n


def _best(r, leads):
    """(index of the best lead, or -1) per row of r (..., leads): highest r, the shortest lead on ties."""
    filled = np.where(np.isnan(r), -np.inf, r)
    idx = np.argmax(filled, axis=-1)  # first maximum = shortest lead
    none = np.all(np.isnan(r), axis=-1)
    return np.where(none, -1, idx)


def pair_terms(y, x):
    """(n_days, n_leads, 6): each day's terms of the six sums, zero where a pair is incomplete.
    y: (n_days,), x: (n_days, n_leads) aligned so x[t, j] is liquidity at day t - leads[j]."""
    valid = np.isfinite(y)[:, None] & np.isfinite(x)
    yv = np.where(valid, y[:, None], 0.0)
    xv = np.where(valid, x, 0.0)
    return np.stack([valid.astype(float), xv, yv, xv * xv, yv * yv, xv * yv], axis=-1)


def scan_one(y, x, leads, min_obs, tolerance, block, resamples, level, seed_key):
    """The point estimate and intervals of one scope's days (y, x as in `pair_terms`)."""
    return scan_terms(pair_terms(y, x), leads, min_obs, tolerance, block, resamples, level, seed_key)


def scan_terms(stats, leads, min_obs, tolerance, block, resamples, level, seed_key):
    """`scan_one` from the scope's rows of `pair_terms`: the terms are elementwise, so the model
    builds them once per asset and kind and slices each scope out of them (same values, same sums)."""
    r_point, n_point = _pearson(stats.sum(axis=0))
    r_point = np.where(n_point >= min_obs, np.round(r_point, 6), np.nan)
    j = int(_best(r_point, leads))
    out = {
        "n_obs": None,
        "best_lead_days": None,
        "best_corr": None,
        "near_best_min_days": None,
        "near_best_max_days": None,
        "corr_ci_low": None,
        "corr_ci_high": None,
        "lead_ci_low_days": None,
        "lead_ci_high_days": None,
    }
    if j < 0:
        return out
    near = leads[r_point >= r_point[j] - tolerance]
    out.update(
        n_obs=int(n_point[j]),
        best_lead_days=int(leads[j]),
        best_corr=float(r_point[j]),
        near_best_min_days=int(near.min()),
        near_best_max_days=int(near.max()),
    )
    n_days = len(stats)
    block = min(block, n_days)
    starts_available = n_days - block + 1
    n_blocks = -(-n_days // block)
    prefix = np.concatenate([np.zeros((1, *stats.shape[1:])), np.cumsum(stats, axis=0)])
    block_sums = prefix[block:] - prefix[:-block]  # (starts_available, j, 6)
    rng = np.random.Generator(np.random.PCG64(seed_key))
    starts = rng.integers(0, starts_available, size=(resamples, n_blocks))
    # in chunks of resamples, so the gathered block sums stay a few MB
    sums = np.concatenate(
        [block_sums[chunk].sum(axis=1) for chunk in np.array_split(starts, -(-resamples // 100))]
    )
    r_boot, n_boot = _pearson(sums)
    # the minimum count scales with the resample's length (n_blocks * block >= n_days)
    r_boot = np.where(n_boot >= min_obs, r_boot, np.nan)
    at_best = r_boot[:, j]
    best_boot = _best(r_boot, leads)
    tail = (1.0 - level) / 2.0
    if np.isfinite(at_best).any():
        lo, hi = np.nanquantile(at_best, [tail, 1.0 - tail])
        out.update(corr_ci_low=round(float(lo), 6), corr_ci_high=round(float(hi), 6))
    chosen = leads[best_boot[best_boot >= 0]]
    if len(chosen):
        lo, hi = np.quantile(chosen, [tail, 1.0 - tail], method="inverted_cdf")
        out.update(lead_ci_low_days=int(lo), lead_ci_high_days=int(hi))
    return out


def _scopes(cfg, first_day, last_day):
    for p in json.loads(cfg["periods"]):
        start = pd.Timestamp(p["start"]) if p.get("start") else first_day
        end = pd.Timestamp(p["end"]) if p.get("end") else last_day
        yield "period", p["name"], max(start, first_day), min(end, last_day)
    days, step = int(cfg["window_days"]), int(cfg["window_step_days"])
    anchor = pd.Timestamp(cfg["window_anchor"])
    end = anchor
    while end <= last_day:
        start = end - pd.Timedelta(days=days - 1)
        if start >= first_day:
            yield "window", None, start, end
        end += pd.Timedelta(days=step)


def day_digests(y, x):
    """One 16-byte digest per day of a scope's inputs (y[t], x[t, :]), NaN included bit for bit."""
    rows = np.ascontiguousarray(np.column_stack([y, x]), dtype=np.float64)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows]


def inputs_digest(settings, key, digests):
    """What a row is computed from: the settings, the scope key and its days' inputs."""
    h = hashlib.sha256(settings.encode())
    h.update(key.encode())
    h.update(b"".join(digests))
    return h.hexdigest()


RESULT_FIELDS = (
    "n_obs",
    "best_lead_days",
    "best_corr",
    "near_best_min_days",
    "near_best_max_days",
    "corr_ci_low",
    "corr_ci_high",
    "lead_ci_low_days",
    "lead_ci_high_days",
)


def previous_rows(session, this):
    """The previous build's results by inputs digest; empty on a first build (or one from before the
    digest column existed)."""
    try:
        rows = session.sql(f"select * from {this} where inputs_sha256 is not null").df()
    except duckdb.Error:
        return {}
    out = {}
    for row in rows.to_dict("records"):
        out[row["inputs_sha256"]] = {f: (None if pd.isna(row[f]) else row[f]) for f in RESULT_FIELDS}
    return out


# The model's columns in order, with the types an empty result must still have (counts and leads
# are nullable integers; the other numbers floats).
COLUMNS = {
    "scope": pa.string(),
    "period": pa.string(),
    "asset": pa.string(),
    "kind": pa.string(),
    "window_start": pa.date32(),
    "window_end": pa.date32(),
    "n_obs": pa.int64(),
    "best_lead_days": pa.int64(),
    "best_corr": pa.float64(),
    "near_best_min_days": pa.int64(),
    "near_best_max_days": pa.int64(),
    "corr_ci_low": pa.float64(),
    "corr_ci_high": pa.float64(),
    "lead_ci_low_days": pa.int64(),
    "lead_ci_high_days": pa.int64(),
    "ci_level": pa.float64(),
    "ci_block_days": pa.int64(),
    "ci_resamples": pa.int64(),
    "inputs_sha256": pa.string(),
}
INTEGER_COLUMNS = [col for col, kind in COLUMNS.items() if kind == pa.int64() and not col.startswith("ci_")]


def model(dbt, session):
    dbt.config(materialized="table")
    # dbt parses these calls statically: one literal key each (values set in _int_lead_scans.yml)
    cfg = {
        "periods": dbt.config.get("periods"),
        "max_days": dbt.config.get("max_days"),
        "step_days": dbt.config.get("step_days"),
        "min_obs": dbt.config.get("min_obs"),
        "tolerance": dbt.config.get("tolerance"),
        "window_days": dbt.config.get("window_days"),
        "window_step_days": dbt.config.get("window_step_days"),
        "window_anchor": dbt.config.get("window_anchor"),
        "window_min_obs_share": dbt.config.get("window_min_obs_share"),
        "block_days": dbt.config.get("block_days"),
        "resamples": dbt.config.get("resamples"),
        "ci_level": dbt.config.get("ci_level"),
        "seed": dbt.config.get("seed"),
        "reuse": dbt.config.get("reuse"),
    }
    leads = np.arange(0, int(cfg["max_days"]) + 1, int(cfg["step_days"]))
    # Only the wide assets leave DuckDB: the long table also holds every coin of LIQUIDITY_COINS
    # (3.7 M rows at 1,000 coins), and pulling it whole into pandas cost ~1.3 GB for rows dropped here.
    assets = ", ".join(f"'{a}'" for a in ASSETS)
    crypto = dbt.ref("int_crypto_market_caps_long").filter(f"coin_id IS NULL AND asset IN ({assets})").df()
    liquidity = dbt.ref("int_net_liquidity_at_midnight").df().set_index("date_day").sort_index()
    liquidity.index = pd.to_datetime(liquidity.index)
    block, resamples = int(cfg["block_days"]), int(cfg["resamples"])
    level, seed = float(cfg["ci_level"]), int(cfg["seed"])
    tolerance = float(cfg["tolerance"])
    window_min = int(np.ceil(int(cfg["window_days"]) * float(cfg["window_min_obs_share"])))
    # what every row depends on besides its scope and inputs (the "reuse" switch itself excluded)
    settings = json.dumps({k: str(v) for k, v in cfg.items() if k != "reuse"}, sort_keys=True)
    reusable = previous_rows(session, dbt.this) if str(cfg["reuse"]).lower() == "true" else {}
    rows = []
    for asset in ASSETS:
        part = crypto[crypto["asset"] == asset].copy()
        if part.empty:
            continue
        part["date_day"] = pd.to_datetime(part["date_day"])
        days = pd.date_range(part["date_day"].min(), part["date_day"].max(), freq="D")
        part = part.set_index("date_day").reindex(days)
        for kind, (ycol, xcol) in KINDS.items():
            y_all = part[ycol].to_numpy(dtype=float)
            nl = liquidity[xcol]
            x_all = np.column_stack(
                [nl.reindex(days - pd.Timedelta(days=int(lead))).to_numpy(dtype=float) for lead in leads]
            )
            terms = None  # built on the first scope that is not reused
            digests = day_digests(y_all, x_all)
            for scope, period, start, end in _scopes(cfg, days[0], days[-1]):
                if start > end:
                    continue
                i0, i1 = days.get_loc(start), days.get_loc(end) + 1
                min_obs = int(cfg["min_obs"]) if scope == "period" else max(int(cfg["min_obs"]), window_min)
                key = f"{scope}|{period}|{asset}|{kind}|{start.date()}|{end.date()}"
                digest = inputs_digest(settings, key, digests[i0:i1])
                result = reusable.get(digest)
                if result is None:
                    if terms is None:
                        terms = pair_terms(y_all, x_all)
                    result = scan_terms(
                        terms[i0:i1],
                        leads,
                        min_obs,
                        tolerance,
                        block,
                        resamples,
                        level,
                        [seed, zlib.crc32(key.encode())],
                    )
                if scope == "window" and result["best_lead_days"] is None:
                    continue
                rows.append(
                    {
                        "scope": scope,
                        "period": period,
                        "asset": asset,
                        "kind": kind,
                        "window_start": start.date(),
                        "window_end": end.date(),
                        **result,
                        "ci_level": level,
                        "ci_block_days": block,
                        "ci_resamples": resamples,
                        "inputs_sha256": digest,
                    }
                )
    if not rows:  # no crypto yet (an empty raw layer): the same columns and types, no rows
        return pa.Table.from_pylist([], schema=pa.schema(list(COLUMNS.items())))
    frame = pd.DataFrame(rows)
    for col in INTEGER_COLUMNS:
        frame[col] = frame[col].astype("Int64")
    for col in (c for c, kind in COLUMNS.items() if kind == pa.float64()):
        frame[col] = frame[col].astype("float64")  # a column of None only (too little data) stays DOUBLE
    return frame
