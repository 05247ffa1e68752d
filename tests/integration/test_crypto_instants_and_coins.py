"""The crypto side of the marts from replay snapshots: the join with liquidity compares instants,
both CoinGecko export layouts give the same marts, and every configured coin reaches the marts.

Values are traced to the snapshot files, read here with the plain csv/json modules. Modified
snapshots are built in tmp dirs from the real recorded files (nothing is copied into the repo):
- the 2025-11-19 snapshot with its exports rewritten into CoinGecko's 2026 layout;
- the 2025-11-19 snapshot plus a third coin, Terra LUNA (`terra-luna`), whose market_chart is the
  real recorded CoinGecko response `coingecko/api_json/XiuqinCandice_NarrativeViz/market_chart.json`
  (2019-05-08..2022-07-06; no replay snapshot records a third coin).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ingest import calendar
from tests.integration.test_pipeline import fredgraph_value, one, query, table_digest
from tests.pipeline_support import REPLAY_ROOT, replay, run_isolated, shared_run

pytestmark = pytest.mark.integration
CUT = "2025-11-19"
LUNA = REPLAY_ROOT.parent / "coingecko" / "api_json" / "XiuqinCandice_NarrativeViz" / "market_chart.json"


def serving_tables(data_dir: Path) -> list[str]:
    return sorted(r[0] for r in query(data_dir, "SELECT table_name FROM information_schema.tables"))


def snapshot_copy(root: Path) -> Path:
    """A private copy of the 2025-11-19 snapshot, named after its cut (the cut is 'today' in replay)."""
    target = root / CUT
    shutil.copytree(replay(CUT), target)
    return target


@pytest.fixture(scope="module")
def classic_dir(tmp_path_factory) -> Path:
    return shared_run(tmp_path_factory, CUT)


# --- the join compares instants -----------------------------------------------------------------


def market_chart_point(cut: str, coin: str, when: dt.datetime, key: str = "prices") -> float:
    payload = json.loads((replay(cut) / "coingecko" / "coins" / coin / "market_chart.json").read_bytes())
    stamp = int(when.replace(tzinfo=dt.UTC).timestamp() * 1000)
    return next(v for t, v in payload[key] if t == stamp)


def test_thursday_snapshot_gets_the_h41_known_at_its_instant(classic_dir):
    # BTC snapped 2025-04-24 00:00 UTC = Wednesday 2025-04-23 20:00 EDT. The H.4.1 of 2025-04-23 is
    # out Thursday 2025-04-24 16:30 EDT = 20:30 UTC, after the snapshot: the row must carry the
    # H.4.1 of 2025-04-16 and the ON RRP of 2025-04-23 (13:15 EDT), not what was known at the end
    # of Thursday in New York.
    snapped = dt.datetime(2025, 4, 24)
    assert calendar.known_at("h41", dt.date(2025, 4, 23), "WALCL") == dt.datetime(2025, 4, 24, 20, 30)
    row = one(
        classic_dir,
        "SELECT date, btc_price_usd, net_liquidity_bn, net_liquidity_as_of FROM crypto_vs_liquidity "
        "WHERE observed_at = ?",
        [snapped],
    )
    date, price, net_liquidity, as_of = row
    assert date == dt.date(2025, 4, 24)
    assert price == pytest.approx(market_chart_point(CUT, "bitcoin", snapped))  # 93,605.45
    assert as_of == dt.date(2025, 4, 16)
    walcl = fredgraph_value(CUT, "WALCL", "2025-04-16") / 1000
    tga = fredgraph_value(CUT, "WTREGEN", "2025-04-16") / 1000
    rrp = fredgraph_value(CUT, "RRPONTSYD", "2025-04-23")
    assert net_liquidity == pytest.approx(walcl - tga - rrp, abs=1e-6)  # 6,132.35 bn
    # what the row used to show, the H.4.1 of 2025-04-23 released that afternoon (5,990.29 bn),
    # is liquidity_daily's "as known at the end of the New York day" for that Thursday
    known_end_of_day = one(
        classic_dir, "SELECT net_liquidity_known_bn FROM liquidity_daily WHERE date = '2025-04-24'"
    )
    walcl_new = fredgraph_value(CUT, "WALCL", "2025-04-23") / 1000
    tga_new = fredgraph_value(CUT, "WTREGEN", "2025-04-23") / 1000
    rrp_thu = fredgraph_value(CUT, "RRPONTSYD", "2025-04-24")
    assert known_end_of_day == pytest.approx(walcl_new - tga_new - rrp_thu, abs=1e-6)
    assert abs(net_liquidity - known_end_of_day) > 100


def test_by_coin_rows_equal_the_wide_rows_for_btc(classic_dir):
    """The long mart's bitcoin rows are the wide mart's btc columns, except where the wide row was
    joined at an earlier instant: its observed_at is the earliest snapshot of the day (a few old
    BTC points were taken late in the day, e.g. 2017-06-06 23:29:55 UTC, while ETH's was at 00:00),
    and the rolling windows that contain such a day."""
    joined = """FROM crypto_vs_liquidity w
                JOIN crypto_vs_liquidity_by_coin c ON c.date = w.date AND c.coin_id = 'bitcoin'"""
    assert one(classic_dir, f"SELECT count(*) {joined}") > 5000
    assert (
        one(
            classic_dir,
            f"""SELECT count(*) {joined} WHERE c.price_usd IS DISTINCT FROM w.btc_price_usd
                OR c.market_cap_usd IS DISTINCT FROM w.btc_market_cap_usd""",
        )
        == 0
    )
    later = one(classic_dir, f"SELECT max(w.date) {joined} WHERE c.observed_at <> w.observed_at")
    assert later is not None and later < dt.date(2019, 1, 1)
    differing = one(
        classic_dir,
        f"""SELECT count(*) {joined}
            WHERE (c.observed_at = w.observed_at AND (
                       c.net_liquidity_bn IS DISTINCT FROM w.net_liquidity_bn
                    OR c.net_liquidity_lagged_bn IS DISTINCT FROM w.net_liquidity_lagged_bn))
               OR (w.date > ? + INTERVAL 365 DAY AND (
                       c.corr_levels_365d IS DISTINCT FROM w.btc_corr_levels_365d
                    OR c.corr_changes_90d IS DISTINCT FROM w.btc_corr_changes_90d))""",
        [later],
    )
    assert differing == 0


# --- both export layouts give the same marts ------------------------------------------------------


def rewrite_as_2026_layout(path: Path) -> None:
    """A classic export rewritten in CoinGecko's 2026 layout: new header, each value labelled with
    the UTC day whose close it is (snapped_at D -> event_date D-1), and a last in-progress row
    with an empty quoted price. Line endings and number text are kept."""
    text = path.read_bytes().decode()
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = [line for line in text.split(newline) if line]
    assert lines[0] == "snapped_at,price,market_cap,total_volume"
    out = ["event_date,close_price_usd,market_cap_usd,volume_usd"]
    for line in lines[1:]:
        stamp, rest = line.split(",", 1)
        day = dt.date.fromisoformat(stamp[:10]) - dt.timedelta(days=1)
        out.append(f"{day} {stamp[11:]},{rest}")  # the time of day as written (a few are not 00:00:00)
    last_day, _, cap, volume = lines[-1].split(",")
    out.append(f'{last_day[:10]} 00:00:00 UTC,"",{cap},{volume}')
    path.write_bytes((newline.join(out) + newline).encode())


def test_a_snapshot_in_the_2026_export_layout_builds_identical_marts(tmp_path, classic_dir):
    snapshot = snapshot_copy(tmp_path / "replay")
    exports = sorted((snapshot / "coingecko" / "export").glob("*-usd-max.csv"))
    assert [p.name for p in exports] == ["bitcoin-usd-max.csv", "ethereum-usd-max.csv"]
    for path in exports:
        rewrite_as_2026_layout(path)
    first = exports[0].read_text().splitlines()[:2]
    assert first[0] == "event_date,close_price_usd,market_cap_usd,volume_usd"
    data_dir = tmp_path / "data"
    result = run_isolated(data_dir, CUT, replay_dir=snapshot)
    assert result.success
    tables = serving_tables(classic_dir)
    assert "crypto_vs_liquidity_by_coin" in tables and serving_tables(data_dir) == tables
    for table in tables:
        assert table_digest(data_dir, table) == table_digest(classic_dir, table), table
    # and the raw rows: the same snapshots, instants and values, only provenance differs
    raw = (
        "SELECT coin_id, observation_date, origin, snapped_at, price_usd, market_cap_usd, "
        "total_volume_usd, known_on, known_at FROM raw.coingecko_market_chart ORDER BY ALL"
    )
    assert query(data_dir, raw, db="warehouse.duckdb") == query(classic_dir, raw, db="warehouse.duckdb")


def test_an_export_in_an_unknown_layout_fails_naming_coin_and_header(tmp_path):
    snapshot = snapshot_copy(tmp_path / "replay")
    path = snapshot / "coingecko" / "export" / "ethereum-usd-max.csv"
    body = path.read_bytes()
    path.write_bytes(b"date,close,cap,volume" + body[body.index(b"\n") :])
    data_dir = tmp_path / "data"
    result = run_isolated(data_dir, CUT, replay_dir=snapshot)
    assert not result.success
    logged = query(
        data_dir,
        "SELECT status, message FROM raw.load_log WHERE series = 'ethereum'",
        db="warehouse.duckdb",
    )
    assert [status for status, _ in logged] == ["failed"]
    assert logged[0][1].startswith("coingecko ethereum: export CSV header ['date', 'close', 'cap', 'volume']")
    # nothing of that coin was written, and nothing was published
    assert (
        one(
            data_dir,
            "SELECT count(*) FROM raw.coingecko_market_chart WHERE coin_id = 'ethereum'",
            db="warehouse.duckdb",
        )
        == 0
    )
    assert not (data_dir / "serving.duckdb").exists()


# --- every configured coin reaches the marts ----------------------------------------------------


@pytest.fixture(scope="module")
def luna_dir(tmp_path_factory) -> Path:
    if not LUNA.exists():
        pytest.skip(f"{LUNA} is absent")
    root = tmp_path_factory.mktemp("luna")
    snapshot = snapshot_copy(root / "replay")
    target = snapshot / "coingecko" / "coins" / "terra-luna" / "market_chart.json"
    target.parent.mkdir(parents=True)
    shutil.copy(LUNA, target)
    data_dir = root / "data"
    result = run_isolated(
        data_dir, CUT, replay_dir=snapshot, env={"LIQUIDITY_COINS": "bitcoin,ethereum,terra-luna"}
    )
    assert result.success
    return data_dir


def luna_points() -> dict[dt.date, tuple[float, float, float]]:
    """Every 00:00 UTC point of the recorded LUNA response: day -> (price, market cap, volume)."""
    payload = json.loads(LUNA.read_bytes())
    series = [dict(payload[k]) for k in ("prices", "market_caps", "total_volumes")]
    out = {}
    for stamp in series[0]:
        when = dt.datetime.fromtimestamp(stamp / 1000, dt.UTC)
        if when.time() == dt.time(0):
            out[when.date()] = tuple(s.get(stamp) for s in series)
    return out


def test_a_third_coin_reaches_the_long_mart_with_its_source_values(luna_dir):
    points = luna_points()
    rows = query(
        luna_dir,
        "SELECT date, observed_at, price_usd, market_cap_usd, total_volume_usd "
        "FROM crypto_vs_liquidity_by_coin WHERE coin_id = 'terra-luna' ORDER BY date",
    )
    assert [r[0] for r in rows] == sorted(points)  # one row per recorded day, the intraday point dropped
    by_day = {r[0]: r for r in rows}
    for day in (dt.date(2019, 5, 8), dt.date(2021, 4, 15), dt.date(2022, 5, 9)):
        price, cap, volume = points[day]
        _, observed, got_price, got_cap, got_volume = by_day[day]
        assert observed == dt.datetime.combine(day, dt.time(0))
        assert (got_price, got_volume) == pytest.approx((price, volume))
        # a market cap of 0.0 (LUNA's first day) is not a value: NULL
        assert got_cap == (pytest.approx(cap) if cap else None)
    # the same instant as BTC's snapshot of the day: the same liquidity as known then
    same = one(
        luna_dir,
        """SELECT count(*) FILTER (WHERE l.net_liquidity_bn IS NOT DISTINCT FROM w.net_liquidity_bn), count(*)
           FROM crypto_vs_liquidity_by_coin l JOIN crypto_vs_liquidity w USING (date)
           WHERE l.coin_id = 'terra-luna'""",
    )
    assert same[0] == same[1] == len(rows)


def test_a_third_coin_rolling_correlation_is_over_its_own_trailing_window(luna_dir):
    rows = query(
        luna_dir,
        "SELECT date, market_cap_usd, net_liquidity_lagged_bn, corr_levels_90d "
        "FROM crypto_vs_liquidity_by_coin WHERE coin_id = 'terra-luna' ORDER BY date",
    )
    day = dt.date(2021, 12, 31)
    window = [r for r in rows if day - dt.timedelta(days=89) <= r[0] <= day and None not in r[1:3]]
    expected = np.corrcoef([r[1] for r in window], [r[2] for r in window])[0, 1]
    got = next(r[3] for r in rows if r[0] == day)
    assert len(window) >= 72 and got == pytest.approx(expected, abs=1e-6)


def test_a_third_coin_is_in_the_lag_scan_under_its_coingecko_id(luna_dir):
    assets = {r[0]: r[1] for r in query(luna_dir, "SELECT DISTINCT asset, coin_id FROM liquidity_lag_scan")}
    assert assets == {
        "btc": None,
        "eth": None,
        "total": None,
        "bitcoin": "bitcoin",
        "ethereum": "ethereum",
        "terra-luna": "terra-luna",
    }
    # lead 0 over the full period: corr(LUNA market cap on day t, net liquidity known at t 00:00 UTC)
    pairs = query(
        luna_dir,
        "SELECT market_cap_usd, net_liquidity_bn FROM crypto_vs_liquidity_by_coin "
        "WHERE coin_id = 'terra-luna' AND market_cap_usd > 0 AND net_liquidity_bn > 0",
    )
    corr, n = one(
        luna_dir,
        "SELECT corr_levels, n_obs_levels FROM liquidity_lag_scan "
        "WHERE asset = 'terra-luna' AND period = 'full' AND lead_days = 0",
    )
    assert n == len(pairs)
    assert corr == pytest.approx(np.corrcoef(*zip(*pairs, strict=True))[0, 1], abs=1e-6)
    best = query(
        luna_dir,
        "SELECT period, best_lead_levels_days FROM liquidity_lag_scan "
        "WHERE asset = 'terra-luna' AND is_best_levels ORDER BY period",
    )
    assert [p for p, _ in best] == ["2020-2021", "2022-onward", "full"]


def test_freshness_lists_the_third_coin(luna_dir):
    status, last = one(
        luna_dir,
        "SELECT status, last_observation_date FROM series_freshness WHERE series_id = 'terra-luna'",
    )
    # the newest day with a market cap (the recorded LUNA caps are 0.0 after the collapse)
    newest = max(day for day, (_, cap, _) in luna_points().items() if cap)
    assert (status, last) == ("stale", newest)
