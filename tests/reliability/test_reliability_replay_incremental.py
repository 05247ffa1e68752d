"""Idempotency and incremental loads on the replay snapshots, through `ingest.load.load_all()`.

Three data dirs: `first` (2025-11-19 alone), `incremental` (2025-11-19 then 2026-01-31, then
2026-01-31 again) and `fresh` (2026-01-31 alone). The incremental dir must hold exactly the first
snapshot plus what the second one adds inside the look-back window, with no duplicate key, and
agree with the fresh load on every value they share.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from ingest import calendar, catalog, load, settings, treasury_dts
from ingest.loading import HISTORY_BACKFILL as HISTORY

FIRST, SECOND = "2025-11-19", "2026-01-31"
KEYS = {
    "raw.fred_observations": ("series_id", "observation_date"),
    "raw.fed_ddp_observations": ("series_id", "observation_date"),
    "raw.coingecko_market_chart": ("coin_id", "observation_date", "origin"),
    "raw.coingecko_global": ("origin", "snapped_at"),
    "raw.treasury_dts_cash_balance": ("observation_date", "account_type"),
}
VALUES = {
    "raw.fred_observations": ("value",),
    "raw.fed_ddp_observations": ("value",),
    "raw.coingecko_market_chart": ("price_usd", "market_cap_usd", "total_volume_usd"),
    "raw.coingecko_global": ("total_market_cap_usd",),
    "raw.treasury_dts_cash_balance": (
        "close_today_bal",
        "open_today_bal",
        "open_month_bal",
        "open_fiscal_year_bal",
    ),
}
# Which key column identifies "one series" for watermarks (the look-back window is per series).
SERIES_COLUMN = {
    "raw.fred_observations": "series_id",
    "raw.fed_ddp_observations": "series_id",
    "raw.coingecko_market_chart": "coin_id",
    "raw.coingecko_global": "origin",
    # one watermark for the whole DTS table; per account type every mark is at or after it
    "raw.treasury_dts_cash_balance": "account_type",
}


def lookback(name: str, series: str) -> dt.timedelta | None:
    """The look-back of one series of raw table `name` (calendar.LOOKBACK, by its release rule);
    None: a series re-read whole on every run (GDP, calendar.REVISES_HISTORY)."""
    if name.startswith("raw.coingecko"):
        rule = calendar.SNAPSHOT
    elif name == "raw.treasury_dts_cash_balance":
        rule = catalog.get(treasury_dts.SOURCE, treasury_dts.CATALOG_SERIES).release_rule
    else:
        rule = catalog.get(
            {"raw.fred_observations": "fred", "raw.fed_ddp_observations": "fed_ddp"}[name], series
        ).release_rule
    return calendar.LOOKBACK.get(rule)


def run(
    data_dir: Path, replay: Path, mp: pytest.MonkeyPatch, run_id: str
) -> dict[tuple[str, str], load.SeriesLoad]:
    mp.setenv("LIQUIDITY_DATA_DIR", str(data_dir))
    mp.setenv("LIQUIDITY_REPLAY_DIR", str(replay))
    results = load.load_all(run_id=run_id)
    return {(s.source, s.series): s for r in results for s in r.series}


def table(data_dir: Path, name: str) -> dict[tuple, tuple]:
    keys, values = KEYS[name], VALUES[name]
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(f"SELECT {', '.join(keys + values)} FROM {name}").fetchall()
    finally:
        con.close()
    out = {r[: len(keys)]: r[len(keys) :] for r in rows}
    assert len(out) == len(rows), f"{name}: duplicate keys"
    return out


def day(key: tuple, name: str) -> dt.date:
    value = key[KEYS[name].index("snapped_at" if name == "raw.coingecko_global" else "observation_date")]
    return value.date() if isinstance(value, dt.datetime) else value


@pytest.fixture(scope="module")
def loads(replay_root: Path, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        for name in (
            "FRED_API_KEY",
            "COINGECKO_API_KEY",
            "COINGECKO_PLAN",
            "LIQUIDITY_START",
            "LIQUIDITY_COINS",
        ):
            mp.delenv(name, raising=False)
        inc_dir = tmp_path_factory.mktemp("incremental")
        fresh_dir = tmp_path_factory.mktemp("fresh")
        out = {"first": run(inc_dir, replay_root / FIRST, mp, "first")}
        out["first_tables"] = {n: table(inc_dir, n) for n in KEYS}
        out["inc_second"] = run(inc_dir, replay_root / SECOND, mp, "second")
        out["inc_tables"] = {n: table(inc_dir, n) for n in KEYS}
        out["inc_rerun"] = run(inc_dir, replay_root / SECOND, mp, "rerun")
        out["rerun_tables"] = {n: table(inc_dir, n) for n in KEYS}
        out["fresh"] = run(fresh_dir, replay_root / SECOND, mp, "fresh")
        out["fresh_tables"] = {n: table(fresh_dir, n) for n in KEYS}
        out["dirs"] = (inc_dir, fresh_dir)
    return out


def test_every_run_succeeds_and_gaps_are_only_skipped(loads):
    for name in ("first", "inc_second", "inc_rerun", "fresh"):
        for key, s in loads[name].items():
            assert s.status in ("ok", "skipped"), (name, key, s.message)
            if s.status == "skipped":
                assert not s.required and "has no" in s.message  # documented gaps (RPONTSYD, /global)


def test_rerun_of_the_same_snapshot_inserts_and_updates_nothing(loads, scenario):
    for key, s in loads["inc_rerun"].items():
        assert (s.inserted, s.updated) == (0, 0), key
    assert loads["rerun_tables"] == loads["inc_tables"]
    scenario(
        "a rerun of the same snapshot inserts and updates nothing",
        f"{len(loads['inc_rerun'])} series: 0 inserted, 0 updated; raw tables equal",
        name="loader: replay rerun (idempotent load)",
    )


def test_incremental_adds_exactly_the_new_observations(loads, scenario):
    """The second run keeps every row of the first, adds only rows of the second snapshot (all of
    them past each series' watermark), refreshes the look-back window to the second snapshot's
    values, and counts exactly those changes as inserted/updated. (Older history the second snapshot
    has beyond the first's may be backfilled or not: the key sets are compared in the next test.)"""
    inserted = sum(s.inserted for s in loads["inc_second"].values())
    updated = sum(s.updated for s in loads["inc_second"].values())
    first, second, incremental = loads["first_tables"], loads["fresh_tables"], loads["inc_tables"]
    new_keys = changed = 0
    for name in KEYS:
        col = KEYS[name].index(SERIES_COLUMN[name])
        marks: dict[str, dt.date] = {}
        for key in first[name]:
            marks[key[col]] = max(marks.get(key[col], dt.date.min), day(key, name))
        inc, old, new = incremental[name], first[name], second[name]
        assert old.keys() <= inc.keys(), f"{name}: rows of the first run lost"
        added = inc.keys() - old.keys()
        assert added <= new.keys(), f"{name}: rows that are in neither snapshot"
        new_keys += len(added)
        for key, value in new.items():
            if name == "raw.coingecko_market_chart" and key[2] == "export":
                continue  # the website export is only fetched to backfill an empty table
            mark = marks.get(key[col])
            if mark is None or day(key, name) > mark:
                assert inc.get(key) == value, f"{name}: new observation {key} not loaded"
            elif (back := lookback(name, key[col])) is None or day(key, name) >= mark - back:
                assert inc[key] == value, f"{name}: {key} not refreshed inside the look-back window"
        for key, value in inc.items():
            assert value in (old.get(key), new.get(key)), f"{name}: {key} holds a value from no snapshot"
            changed += key in old and value != old[key]
    assert inserted == new_keys > 0
    assert updated == changed
    scenario(
        "2025-11-19 then 2026-01-31: exactly the new observations added, look-back window refreshed",
        f"{inserted} inserted, {updated} updated; no row lost or duplicated",
        name="loader: replay incremental update",
    )


def test_incremental_agrees_with_a_fresh_load(loads):
    """Same values on every shared key; keys differ only where the snapshots themselves differ."""
    first, fresh, incremental = loads["first_tables"], loads["fresh_tables"], loads["inc_tables"]
    for name in KEYS:
        common = incremental[name].keys() & fresh[name].keys()
        assert common
        assert {k: incremental[name][k] for k in common} == {k: fresh[name][k] for k in common}, name
    # fred, DDP and the total-cap chart: same keys, except WTREGEN history before the first snapshot's
    # first observation (the 2025-11-19 WTREGEN download starts in 2007, the 2026-01-31 one in 2002).
    assert incremental["raw.fed_ddp_observations"] == fresh["raw.fed_ddp_observations"]
    assert incremental["raw.coingecko_global"] == fresh["raw.coingecko_global"]
    assert incremental["raw.treasury_dts_cash_balance"] == fresh["raw.treasury_dts_cash_balance"]
    missing = fresh["raw.fred_observations"].keys() - incremental["raw.fred_observations"].keys()
    assert incremental["raw.fred_observations"].keys() <= fresh["raw.fred_observations"].keys()
    first_start = {}
    for series_id, obs in first["raw.fred_observations"]:
        first_start[series_id] = min(first_start.get(series_id, obs), obs)
    assert all(obs < first_start[series_id] for series_id, obs in missing)
    assert Counter(series_id for series_id, _ in missing).keys() <= {"WTREGEN"}
    # market chart: the API window moved (2024-11-19.. vs 2025-01-31..) and the export is first-run only
    inc_chart, fresh_chart = incremental["raw.coingecko_market_chart"], fresh["raw.coingecko_market_chart"]
    assert {k for k in inc_chart if k[2] == "api"} >= {k for k in fresh_chart if k[2] == "api"}
    assert {k for k in inc_chart if k[2] == "export"} == {
        k for k in first["raw.coingecko_market_chart"] if k[2] == "export"
    }


def test_second_snapshot_brings_the_documented_new_observations(loads):
    """MANIFEST.md: new weeks, new days and one new GDP quarter (2025-07-01)."""
    second = loads["inc_second"]
    assert second[("fred", "GDP")].inserted == 1
    assert loads["inc_tables"]["raw.fred_observations"][("GDP", dt.date(2025, 7, 1))]
    for series_id in ("WALCL", "WRESBAL", "WTREGEN", "WDTGAL", "SOFR", "RRPONTSYD", "IORB", "EFFR"):
        assert second[("fred", series_id)].inserted > 0, series_id
    # DTS record dates 2025-11-19..2026-01-29, one TGA closing-balance row each (not Table I's four)
    assert second[("treasury_dts", "operating_cash_balance")].inserted == 48
    for key in (
        ("fed_ddp", "H41"),
        ("fed_ddp", "H8"),
        ("fred", "TLAACBW027SBOG"),
        ("coingecko", "global_market_cap_chart"),
    ):
        assert second[key].inserted == 0, key  # stale sources: same files in both snapshots


def test_replay_bodies_are_landed_with_matching_metadata(loads):
    inc_dir = loads["dirs"][0]
    metas = sorted((inc_dir / "landing").rglob("*.meta.json"))
    # one landed body per fetched file: FRED+DDP series, two CoinGecko files on the first run, one later
    expected = sum(
        1 for r in ("first", "inc_second", "inc_rerun") for s in loads[r].values() if s.status == "ok"
    )
    expected += sum(1 for k, s in loads["first"].items() if k[0] == "coingecko" and k[1] in settings.coins())
    # and a FRED history backfill asks for the missing stretch besides its look-back window
    expected += sum(
        1
        for r in ("first", "inc_second", "inc_rerun")
        for s in loads[r].values()
        if s.message.startswith(HISTORY)
    )
    # the DTS lands a body per TGA label era its window overlaps (all three on the first run, the
    # closing balance's on the later ones) plus the unfiltered row after the newest, not one per run
    dts = sorted((inc_dir / "landing" / "treasury_dts").rglob("*.meta.json"))
    filters = [parse_qs(urlsplit(json.loads(m.read_text())["url"]).query)["filter"][0] for m in dts]
    labelled = [f for f in filters if "account_type:eq:" in f]
    assert len(labelled) == len(treasury_dts.TGA_ROWS) + 2 and len(filters) - len(labelled) == 3, filters
    expected += len(dts) - 3
    # the load log counts every byte fetched, the probe row's too: the sizes of the landed bodies
    landed = sum(m.with_name(m.name.removesuffix(".meta.json")).stat().st_size for m in dts)
    with duckdb.connect(str(inc_dir / "warehouse.duckdb"), read_only=True) as con:
        logged = con.execute("SELECT sum(bytes) FROM raw.load_log WHERE source = 'treasury_dts'").fetchone()[
            0
        ]
    assert logged == landed
    assert len(metas) == expected
    for meta_path in metas:
        meta = json.loads(meta_path.read_text())
        body = meta_path.with_name(meta_path.name.removesuffix(".meta.json")).read_bytes()
        assert meta["sha256"] == hashlib.sha256(body).hexdigest() and meta["status"] == 200


def test_ddp_labels_are_asked_once_per_release(loads):
    """The first load of each DDP release asks for the labelled header (units and multipliers
    checked); the runs that continue it ask `label=omit`, and still change nothing (the rerun test)."""
    inc_dir = loads["dirs"][0]
    asked: dict[str, list[str]] = {"include": [], "omit": []}
    for meta_path in sorted((inc_dir / "landing" / "fed_ddp").rglob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        label = "omit" if "label=omit" in meta["url"] else "include"
        asked[label].append(meta["series"])
        body = meta_path.with_name(meta_path.name.removesuffix(".meta.json")).read_bytes()
        assert body.startswith(b'"Unique Identifier:' if label == "omit" else b'"Series Description"')
    assert sorted(asked["include"]) == ["H41", "H8"]  # the first run
    assert sorted(asked["omit"]) == ["H41", "H41", "H8", "H8"]  # the second snapshot, then its rerun


def test_a_gdp_revision_years_back_reaches_the_warehouse(replay_root: Path, tmp_path: Path):
    """BEA's annual update revises quarters years old, far outside any look-back: GDP is
    asked for its whole history on every run (calendar.REVISES_HISTORY), so a revised 2022Q1 in
    the next snapshot replaces the stored one (the old value kept as previous_value)."""
    revised = tmp_path / "replay" / SECOND
    shutil.copytree(replay_root / SECOND, revised)
    gdp = revised / "fred" / "fredgraph" / "GDP.csv"
    gdp.chmod(0o644)
    text = gdp.read_text()
    assert "\n2022-01-01,25250.347\n" in text  # the real 2026-01-31 vintage of 2022Q1
    gdp.write_text(text.replace("\n2022-01-01,25250.347\n", "\n2022-01-01,25260.000\n"))
    data_dir = tmp_path / "data"
    with pytest.MonkeyPatch.context() as mp:
        for name in ("FRED_API_KEY", "LIQUIDITY_START", "LIQUIDITY_COINS"):
            mp.delenv(name, raising=False)
        run(data_dir, replay_root / SECOND, mp, "as published")
        second = run(data_dir, revised, mp, "revised")
    assert second[("fred", "GDP")].updated == 1
    assert second[("fred", "GDP")].message.startswith("whole history")
    con = duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True)
    try:
        row = con.execute(
            "SELECT value, previous_value FROM raw.fred_observations "
            "WHERE series_id = 'GDP' AND observation_date = DATE '2022-01-01'"
        ).fetchone()
        windowed = con.execute(
            "SELECT count(*) FROM raw.load_log WHERE run_id = 'revised' AND series = 'WALCL' "
            "AND rows_in_payload < 20"
        ).fetchone()[0]
    finally:
        con.close()
    assert row == (25260.0, 25250.347)
    assert windowed == 1  # the other series still ask only for their look-back window
