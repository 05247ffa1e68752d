"""The static report built by `make run` (the report/liquidity_report asset of materialize_everything)
from the 2026-01-31 replay, checked against serving.duckdb and the replay files; and the asset run
alone against a copy of that serving file (what the UI's Materialize button does)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from PIL import Image

from ingest import calendar, catalog
from reporting import build, charts
from reporting.data import load_serving
from tests.integration.conftest import replay

pytestmark = pytest.mark.integration
CUT = "2026-01-31"


class Page(HTMLParser):
    """Collects img src, link/script tags, href targets and the cells of rows keyed by data-* attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.hrefs: list[str] = []
        self.tags: set[str] = set()
        self.rows: dict[str, list[str]] = {}
        self.series: list[str] = []  # data-series keys of the freshness table, in page order
        self._row: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(a["src"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "tr":
            key = a.get("data-key") or a.get("data-flag") or a.get("data-series")
            self._row = key
            if key:
                self.rows[key] = []
            if a.get("data-series"):
                self.series.append(a["data-series"])
        if tag == "td" and self._row:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._row and self._cell is not None:
            self.rows[self._row].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def sql(data_dir: Path, query: str, params: list | None = None):
    con = duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


def last_file_value(series: str, on_or_before: str) -> tuple[str, float]:
    """Last non-empty (date, value) of fred/fredgraph/<series>.csv on or before a day, read with csv."""
    with (replay(CUT) / "fred" / "fredgraph" / f"{series}.csv").open(newline="") as fh:
        rows = [r for r in list(csv.reader(fh))[1:] if r and r[1] not in ("", ".") and r[0] <= on_or_before]
    return rows[-1][0], float(rows[-1][1])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the report `make run` leaves behind ----------------------------------------------------------


SLUGS = list(charts.SLUGS)


def chart_specs(index: Path) -> dict:
    text = index.read_text(encoding="utf-8")
    block = text.split('<script id="chart-specs" type="application/json">')[1].split("</script>")[0]
    return json.loads(block.replace("<\\/script", "</script"))


def test_run_leaves_an_index_that_shows_every_chart(fresh_dir):
    report = fresh_dir / "report"
    index = report / "index.html"
    assert index.is_file(), "materialize_everything did not write report/index.html"
    text = index.read_text(encoding="utf-8")
    for slug in SLUGS:
        assert f'id="chart-{slug}"' in text and f'id="vis-{slug}"' in text, slug
    specs = chart_specs(index)
    assert list(specs) == SLUGS
    for slug, spec in specs.items():
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6"), slug
        assert "Data through" in spec["title"]["subtitle"][0], slug
    assert list(report.glob("*.png")) == [], "the page is one file: no PNG beside it"
    # what the page weighs: the Vega bundle (~0.9 MB) plus every chart's data
    assert 1_000_000 < index.stat().st_size < 3_000_000, index.stat().st_size


def test_page_works_offline_as_a_file(fresh_dir):
    index = fresh_dir / "report" / "index.html"
    page = parse(index)
    assert not page.tags & {"link", "iframe", "img"}, page.tags
    text = index.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", text), "every script is inline"
    assert all(h.startswith("#") for h in page.hrefs), page.hrefs
    assert "@import" not in text and "@font-face" not in text


def test_latest_values_equal_the_serving_file(fresh_dir):
    page = parse(fresh_dir / "report" / "index.html")
    through = sql(fresh_dir, "SELECT max(date) FROM liquidity_daily")[0][0]
    day, net = sql(
        fresh_dir,
        "SELECT date, net_liquidity_bn FROM liquidity_daily WHERE net_liquidity_bn IS NOT NULL ORDER BY date DESC LIMIT 1",
    )[0]
    assert day == through
    # traced to the replay files: WALCL (millions) - WTREGEN (millions) - RRPONTSYD (billions)
    walcl_day, walcl = last_file_value("WALCL", through.isoformat())
    _, tga = last_file_value("WTREGEN", walcl_day)
    _, rrp = last_file_value("RRPONTSYD", through.isoformat())
    assert net == pytest.approx(walcl / 1000 - tga / 1000 - rrp, abs=1e-6)
    cells = page.rows["liquidity_daily.net_liquidity_bn"]
    assert cells[1] == f"{net:,.1f}" and cells[2] == "USD bn" and cells[3] == through.isoformat(), cells
    assert f"WALCL observation of {walcl_day}" in cells[4]

    for column, fmt in (
        ("fed_total_assets_bn", "{:,.1f}"),
        ("tga_bn", "{:,.1f}"),
        ("on_rrp_bn", "{:,.1f}"),
        ("reserves_bn", "{:,.1f}"),
        ("sofr_pct", "{:.2f}"),
        ("reserves_to_gdp_pct", "{:.2f}"),
        ("reserves_to_bank_assets_pct", "{:.2f}"),
    ):
        when, value = sql(
            fresh_dir,
            f"SELECT date, {column} FROM liquidity_daily WHERE {column} IS NOT NULL ORDER BY date DESC LIMIT 1",
        )[0]
        cells = page.rows[f"liquidity_daily.{column}"]
        assert cells[1] == fmt.format(value) and cells[3] == when.isoformat(), (column, cells)
        assert ("stale" in cells[4]) == (when < through), (column, cells)

    when, cap = sql(
        fresh_dir,
        "SELECT date, btc_market_cap_usd FROM crypto_vs_liquidity WHERE btc_market_cap_usd IS NOT NULL "
        "ORDER BY date DESC LIMIT 1",
    )[0]
    cells = page.rows["crypto_vs_liquidity.btc_market_cap_usd"]
    assert cells[1] == f"{cap / 1e9:,.1f}" and cells[3] == when.isoformat()
    assert (
        f'<strong id="data-through">{through}</strong>' in (fresh_dir / "report" / "index.html").read_text()
    )


def test_todays_signals_match_liquidity_signals(fresh_dir):
    page = parse(fresh_dir / "report" / "index.html")
    flags = (
        "sofr_above_iorb",
        "sofr_effr_above_p95",
        "on_rrp_below_buffer",
        "reserves_below_gdp_threshold",
        "reserve_regime_scarce",
        "standing_repo_used",
    )
    row = sql(fresh_dir, f"SELECT {', '.join(flags)} FROM liquidity_signals ORDER BY date DESC LIMIT 1")[0]
    for flag, value in zip(flags, row, strict=True):
        state = {True: "on", False: "off", None: "not evaluated"}[value]
        cells = page.rows[flag]
        assert cells[1] == state, (flag, cells)
        assert len(cells[3]) > 40, f"{flag}: no explanation"
        if value is None:
            assert cells[3].startswith("Cannot be evaluated today:"), cells
    rrp = sql(fresh_dir, "SELECT on_rrp_bn FROM liquidity_signals ORDER BY date DESC LIMIT 1")[0][0]
    assert f"ON RRP = {rrp:,.1f} bn" in page.rows["on_rrp_below_buffer"][2]


def series_freshness(data_dir: Path) -> dict[str, dict]:
    """series_freshness rows of the serving file, keyed by series_id (unique across sources here)."""
    con = duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True)
    try:
        cur = con.execute("SELECT * FROM series_freshness")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()
    by_id = {r["series_id"]: r for r in rows}
    assert len(by_id) == len(rows), "series_id is not unique across sources"
    return by_id


def _iso(value: dt.date | None) -> str:
    return "-" if value is None else value.isoformat()


def last_midnight_point(path: Path, *keys: str) -> tuple[dt.date, float]:
    """UTC day and value of the last 00:00 UTC [ms, value] pair of a CoinGecko chart payload (the
    parsers keep one point per day: the 00:00 one; a trailing intraday point is the day in progress)."""
    points = json.loads(path.read_text(encoding="utf-8"))
    for key in keys:
        points = points[key]
    stamps = [
        (dt.datetime.fromtimestamp(ms / 1000, dt.UTC), value)
        for ms, value in points
        if dt.datetime.fromtimestamp(ms / 1000, dt.UTC).time() == dt.time(0)
    ]
    when, value = stamps[-1]
    return when.date(), float(value)


def test_coin_table_shows_each_configured_coins_best_leads_from_the_lag_scan(fresh_dir):
    page = parse(fresh_dir / "report" / "index.html")
    best = sql(
        fresh_dir,
        "SELECT coin_id, period, best_lead_levels_days, best_corr_levels, best_lead_changes_days, "
        "best_corr_changes, min(first_date), max(last_date) FROM liquidity_lag_scan WHERE coin_id IS NOT NULL "
        "GROUP BY ALL",
    )
    assert {r[0] for r in best} == {"bitcoin", "ethereum"}
    for coin, period, lead_l, corr_l, lead_c, corr_c, first, last in best:
        cells = page.rows[f"{coin}/{period}"]
        assert cells == [
            coin,
            period,
            str(lead_l),
            f"{corr_l:.3f}",
            str(lead_c),
            f"{corr_c:.3f}",
            f"{first} .. {last}",
        ], cells
    # the same leads as the wide assets' (bitcoin = btc market cap)
    assert sql(
        fresh_dir,
        "SELECT best_lead_levels_days FROM liquidity_lag_scan WHERE asset = 'bitcoin' AND period = 'full' LIMIT 1",
    ) == sql(
        fresh_dir,
        "SELECT best_lead_levels_days FROM liquidity_lag_scan WHERE asset = 'btc' AND period = 'full' LIMIT 1",
    )


def test_freshness_table_rows_equal_the_series_freshness_mart(fresh_dir):
    page = parse(fresh_dir / "report" / "index.html")
    mart = series_freshness(fresh_dir)
    assert sorted(page.series) == sorted(mart), "the freshness table must show exactly the mart's rows"
    # catalog order first, then CoinGecko
    catalog_ids = [s.series_id for s in catalog.load_catalog()]
    assert page.series[: len(catalog_ids)] == catalog_ids
    units = {
        "usd_bn": ("USD bn", 1.0, "{:,.1f}"),
        "pct": ("%", 1.0, "{:.2f}"),
        "usd": ("USD bn", 1e-9, "{:,.1f}"),
    }
    for sid, r in mart.items():
        cells = page.rows[sid]
        unit, factor, fmt = units[r["target_unit"]]
        value = "-" if r["last_value"] is None else fmt.format(r["last_value"] * factor)
        days = "-" if r["days_since_observation"] is None else str(int(r["days_since_observation"]))
        assert cells[0] == sid and cells[2] == r["title"], cells
        assert cells[3] == f"{r['cadence']}, {r['max_stale_days']} d", cells
        assert cells[4:10] == [
            _iso(r["last_observation_date"]),
            _iso(r["last_known_on"]),
            value,
            unit,
            days,
            r["status"],
        ], (sid, cells)
        assert ("stale since " + _iso(r["stale_from_date"]) in cells[10]) == (r["status"] == "stale"), cells
        assert ("optional" in cells[10]) == (not r["is_required"]), cells
        assert ("no observation" in cells[10]) == (r["status"] == "missing"), cells


def test_series_freshness_traced_to_the_replay_files(fresh_dir):
    mart = series_freshness(fresh_dir)
    through = sql(fresh_dir, "SELECT max(date) FROM liquidity_daily")[0][0]
    assert {r["as_of_date"] for r in mart.values()} == {through}
    assert through.isoformat() == CUT  # the snapshot's newest observations are on its cut day
    # FRED: last non-empty row of fredgraph/<ID>.csv, scaled to the catalog target unit
    for sid in ("WALCL", "WTREGEN", "WRESBAL", "SOFR", "GDP"):
        s = catalog.get("fred", sid)
        day, value = last_file_value(sid, CUT)
        r = mart[sid]
        assert _iso(r["last_observation_date"]) == day, sid
        assert r["last_value"] == pytest.approx(value * s.scale, rel=1e-12), sid
        assert r["last_known_on"] == calendar.known_on(s.release_rule, dt.date.fromisoformat(day), sid)
        age = (through - dt.date.fromisoformat(day)).days
        assert r["days_since_observation"] == age
        assert r["status"] == ("stale" if age > s.max_stale_days else "current"), sid
    # WALCL: the Wednesday level of the last H.4.1 in the file (2026-01-28 in this snapshot)
    assert mart["WALCL"]["status"] == "current"
    # a catalog series the snapshot does not have at all
    assert not (replay(CUT) / "fred" / "fredgraph" / "RPONTSYD.csv").exists()
    assert mart["RPONTSYD"]["status"] == "missing" and mart["RPONTSYD"]["last_observation_date"] is None
    # CoinGecko: 1-day limit (dbt var crypto_max_stale_days, as quality.crypto_freshness)
    coins = replay(CUT) / "coingecko"
    for sid, path, keys in (
        ("bitcoin", coins / "coins" / "bitcoin" / "market_chart.json", ("market_caps",)),
        ("global", coins / "global" / "market_cap_chart.json", ("market_cap_chart", "market_cap")),
    ):
        day, value = last_midnight_point(path, *keys)
        r = mart[sid]
        assert r["last_observation_date"] == day, sid
        assert r["last_value"] == pytest.approx(value, rel=1e-12), sid
        assert r["max_stale_days"] == 1
        assert r["status"] == ("stale" if (through - day).days > 1 else "current"), sid
    assert mart["global"]["status"] == "stale"  # the recorded total-market-cap history ends months earlier


def test_series_freshness_agrees_with_the_marts_stale_and_missing_inputs(fresh_dir):
    """liquidity_daily NULLs a carried value by the same rule: its stale_inputs / missing_inputs on the
    last day list exactly the concepts the mart calls stale / missing (GDP aside: the marts carry it
    from its publication, the as-known view)."""
    stale, missing = sql(
        fresh_dir, "SELECT stale_inputs, missing_inputs FROM liquidity_daily ORDER BY date DESC LIMIT 1"
    )[0]
    stale, missing = set((stale or "").split(",")), set((missing or "").split(","))
    status = {r["concept"]: r["status"] for r in series_freshness(fresh_dir).values()}
    for concept in ("fed_total_assets", "tga", "on_rrp", "reserves", "btfp", "sofr", "iorb", "effr"):
        assert (concept in stale) == (status[concept] == "stale"), concept
        assert (concept in missing) == (status[concept] == "missing"), concept
    # bank assets: the fresher of TLAACBW027SBOG and B1151NCBD; stale when neither is current
    both = {status["bank_assets"], status["bank_assets_h8"]}
    assert ("bank_assets" in stale) == ("current" not in both and "stale" in both)
    assert "btfp" in stale and status["btfp"] == "stale"  # the recorded DDP file ends 2023-03-22


def test_net_liquidity_line_is_the_marts_lagged_series(fresh_dir):
    """The chart shifts liquidity_daily.net_liquidity_known_bn (end of the New York day) by
    crypto_vs_liquidity.lag_days + 1 (a crypto day is the 00:00 UTC snapshot, the New York evening
    before) and keeps the days it changes (a step line): on every crypto day the step's value
    equals the mart's own net_liquidity_lagged_bn."""
    from reporting import charts

    serving = load_serving(fresh_dir / "serving.duckdb")
    chart = charts.net_liquidity_vs_crypto(serving)
    steps = chart.frames["net_liquidity_shifted"].set_index("date")["nl_shifted_bn"]
    crypto = serving.crypto.dropna(subset=["net_liquidity_lagged_bn"])
    crypto = crypto[
        crypto["date"] >= serving.crypto.loc[serving.crypto["btc_market_cap_usd"].notna(), "date"].min()
    ]
    assert len(crypto) > 1000
    held = steps.reindex(crypto["date"], method="ffill")
    for day, lagged, plotted in zip(crypto["date"], crypto["net_liquidity_lagged_bn"], held, strict=True):
        assert plotted == pytest.approx(lagged, abs=1e-9), day
    assert f"shifted {serving.lag_days} days" in chart.title
    assert serving.lag_days == sql(fresh_dir, "SELECT DISTINCT lag_days FROM crypto_vs_liquidity")[0][0]


def test_daily_net_liquidity_chart_plots_the_marts_daily_and_weekly_series(fresh_dir):
    """Four series over the last 365 days: net liquidity with the weekly and with the daily TGA, and
    the two TGA series; each point is the mart's own value (NULL days are gaps, never filled)."""
    from reporting import charts

    serving = load_serving(fresh_dir / "serving.duckdb")
    chart = charts.daily_net_liquidity(serving)
    columns = ["net_liquidity_bn", "net_liquidity_daily_bn", "tga_bn", "tga_daily_bn"]
    window = serving.daily[serving.daily["date"] >= serving.daily["date"].max() - dt.timedelta(days=365)]
    assert len(window) == 366
    plotted = chart.frames["daily"]
    pd.testing.assert_frame_equal(
        plotted[["date", *columns]].reset_index(drop=True), window[["date", *columns]].reset_index(drop=True)
    )
    assert chart.series == ["WALCL", "WTREGEN", "DTS_TGA_CLOSE", "RRPONTSYD"]
    assert any("Daily Treasury Statement, Operating Cash Balance [DTS_TGA_CLOSE]" in c for c in chart.credits)
    page = (fresh_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert 'id="chart-daily_net_liquidity"' in page


def test_page_shows_lead_intervals_and_event_windows_from_the_marts(fresh_dir):
    page = parse(fresh_dir / "report" / "index.html")
    row = sql(
        fresh_dir,
        "SELECT best_lead_changes_days, best_lead_changes_ci_low_days, best_lead_changes_ci_high_days, "
        "best_corr_changes, best_corr_changes_ci_low, best_corr_changes_ci_high FROM liquidity_lag_scan "
        "WHERE asset = 'btc' AND period = '2020-2021' AND is_best_changes",
    )[0]
    cells = page.rows["btc/2020-2021/changes"]
    assert cells[3:7] == [
        str(row[0]),
        f"{row[1]} to {row[2]}",
        f"{row[3]:.3f}",
        f"{row[4]:.3f} to {row[5]:.3f}",
    ]
    ret = sql(
        fresh_dir,
        "SELECT cum_log_return FROM policy_event_windows WHERE event_date = '2025-10-29' "
        "AND event_kind = 'qt_end' AND asset = 'btc' AND rel_day = 30",
    )[0][0]
    cells = page.rows["2025-10-29/qt_end"]
    assert cells[6] == f"{ret * 100:+.1f}%"
    assert "liquidity_lead_over_time" in (fresh_dir / "report" / "index.html").read_text(encoding="utf-8")


def test_freshness_table_lists_the_dts(fresh_dir):
    page = parse(fresh_dir / "report" / "index.html")
    cells = page.rows["DTS_TGA_CLOSE"]
    assert cells[1] == "Treasury DTS"
    assert cells[4:6] == ["2026-01-29", "2026-01-30"]  # record date, and its release the next business day
    assert cells[9] == "current"


def test_stale_inputs_are_noted_on_their_charts(fresh_dir):
    serving = load_serving(fresh_dir / "serving.duckdb")
    ratio_stale = sql(
        fresh_dir,
        "SELECT reserves_to_bank_assets_pct IS NULL FROM liquidity_daily ORDER BY date DESC LIMIT 1",
    )[0][0]
    total_stale = bool(serving.crypto["total_market_cap_usd"].isna().iloc[-1])
    bank_sources = {
        r[0] for r in sql(fresh_dir, "SELECT DISTINCT bank_assets_source FROM liquidity_daily") if r[0]
    }
    page = (fresh_dir / "report" / "index.html").read_text(encoding="utf-8")
    reserve_fig = page.split('id="chart-reserve_ratios"')[1].split("</figure>")[0]
    crypto_fig = page.split('id="chart-net_liquidity_vs_crypto"')[1].split("</figure>")[0]
    assert ("Stale input: Reserves / bank assets" in reserve_fig) == ratio_stale
    assert ("Stale input: Total crypto market cap" in crypto_fig) == total_stale
    assert "Data provided by CoinGecko" in crypto_fig
    assert "retrieved from FRED, Federal Reserve Bank of St. Louis" in crypto_fig
    # the H.8 DDP credit appears exactly when the DDP series fed the bank-assets ratio
    assert ("(H.8), Data Download Program [B1151NCBD]" in reserve_fig) == ("B1151NCBD" in bank_sources)
    assert ("[WRESBAL, TLAACBW027SBOG]" in reserve_fig) == ("TLAACBW027SBOG" in bank_sources)


def test_report_draws_the_thresholds_the_serving_file_holds(fresh_dir, tmp_path):
    """The thresholds come from liquidity_thresholds in serving.duckdb (what the marts were built
    with), not from dbt_project.yml: change the row in a copy and the report follows it."""
    shutil.copy(fresh_dir / "serving.duckdb", tmp_path / "serving.duckdb")
    con = duckdb.connect(str(tmp_path / "serving.duckdb"))
    try:
        con.execute("UPDATE liquidity_thresholds SET value = 123 WHERE name = 'on_rrp_buffer_bn'")
    finally:
        con.close()
    serving = load_serving(tmp_path / "serving.duckdb")
    assert serving.thresholds.on_rrp_buffer_bn == 123
    build.build_report(tmp_path / "serving.duckdb", tmp_path / "report")
    specs = chart_specs(tmp_path / "report" / "index.html")
    assert "ON RRP buffer 123 bn" in json.dumps(specs["on_rrp_tga"])
    assert "on below 123 bn" in (tmp_path / "report" / "index.html").read_text(encoding="utf-8")


# --- the asset alone, against a copy of the serving file ----------------------------------------------


@pytest.fixture
def served_copy(fresh_dir, tmp_path, clean_env) -> Path:
    shutil.copy(fresh_dir / "serving.duckdb", tmp_path / "serving.duckdb")
    clean_env.setenv("LIQUIDITY_DATA_DIR", str(tmp_path))
    return tmp_path


def test_report_asset_alone_records_metadata_and_leaves_serving_untouched(served_copy):
    from orchestration.assets.report import liquidity_report

    before = sha256(served_copy / "serving.duckdb")
    result = dg.materialize([liquidity_report])
    assert result.success
    meta = result.asset_materializations_for_node("report__liquidity_report")[0].metadata
    assert meta["index_html"].value == str(served_copy / "report" / "index.html")
    assert (served_copy / "report" / "index.html").is_file()
    through = sql(served_copy, "SELECT max(date) FROM liquidity_daily")[0][0]
    assert meta["data_through"].value == through.isoformat()
    assert [c["chart"] for c in meta["charts"].value] == SLUGS
    assert meta["page_kb"].value == round((served_copy / "report" / "index.html").stat().st_size / 1024)
    md = meta["main_chart"].value
    match = re.fullmatch(r"!\[net liquidity vs crypto\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", md)
    assert match, md[:80]
    png = base64.b64decode(match.group(1))
    assert len(png) < 300_000, f"preview PNG is {len(png)} bytes"
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG" and 700 <= image.size[0] <= 1400, image.size
    assert sha256(served_copy / "serving.duckdb") == before


def test_failing_report_keeps_serving_and_the_previous_report(served_copy, monkeypatch):
    from orchestration.assets.report import liquidity_report

    assert dg.materialize([liquidity_report]).success
    index = served_copy / "report" / "index.html"
    previous, before = index.read_bytes(), sha256(served_copy / "serving.duckdb")

    def broken(*_args, **_kwargs):
        raise RuntimeError("chart failed")

    monkeypatch.setattr(build.charts, "all_charts", broken)
    result = dg.materialize([liquidity_report], raise_on_error=False)
    assert not result.success
    assert sha256(served_copy / "serving.duckdb") == before
    assert index.read_bytes() == previous
    con = duckdb.connect(str(served_copy / "serving.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM liquidity_daily").fetchone()[0] > 0
    finally:
        con.close()
