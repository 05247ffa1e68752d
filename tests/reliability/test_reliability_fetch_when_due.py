"""A routine run does not ask a source for a series that already holds its newest release (#14).

`calendar.newest_released` says which observation a release calendar allows by an instant, and
`LoadContext.up_to_date` skips the fetch of a series whose watermark reaches it. Checked on the
H.4.1 release instant, then on the real 2026-01-31 replay snapshot: a rerun asks only the series
the calendar says can have something new, a series whose release is late is asked again, and a
load without the gate asks everything.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from ingest import calendar, catalog, load
from ingest.loading import HISTORY_BACKFILL, UP_TO_DATE

SECOND = "2026-01-31"


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_the_h41_wednesday_is_released_at_1630_new_york_to_the_minute():
    walcl = catalog.get("fred", "WALCL")
    # Thursday 2026-01-29 16:30 EST = 21:30 UTC carries Wednesday 2026-01-28.
    assert calendar.newest_released(walcl, utc("2026-01-29 21:29")) == dt.date(2026, 1, 21)
    assert calendar.newest_released(walcl, utc("2026-01-29 21:30")) == dt.date(2026, 1, 28)
    # In summer (EDT) the same 16:30 is 20:30 UTC.
    assert calendar.newest_released(walcl, utc("2025-07-31 20:29")) == dt.date(2025, 7, 23)
    assert calendar.newest_released(walcl, utc("2025-07-31 20:30")) == dt.date(2025, 7, 30)


def test_sofr_and_the_dts_wait_for_the_next_business_day():
    sofr = catalog.get("fred", "SOFR")
    dts = catalog.get("treasury_dts", "DTS_TGA_CLOSE")
    # Friday 2026-01-30's SOFR is published Monday 2026-02-02 08:00 EST (13:00 UTC).
    assert calendar.newest_released(sofr, utc("2026-02-02 12:59")) == dt.date(2026, 1, 29)
    assert calendar.newest_released(sofr, utc("2026-02-02 13:00")) == dt.date(2026, 1, 30)
    # The DTS of Thursday 2026-01-29 comes out Friday 16:00 EST (21:00 UTC); nothing over the weekend.
    assert calendar.newest_released(dts, utc("2026-01-30 20:59")) == dt.date(2026, 1, 28)
    assert calendar.newest_released(dts, utc("2026-02-01 23:59")) == dt.date(2026, 1, 29)


def _load(data_dir: Path, replay: Path, mp: pytest.MonkeyPatch, run_id: str, when_due: bool):
    mp.setenv("LIQUIDITY_DATA_DIR", str(data_dir))
    mp.setenv("LIQUIDITY_REPLAY_DIR", str(replay))
    results = load.load_all(run_id=run_id, fetch_when_due=when_due)
    return {(s.source, s.series): s for r in results for s in r.series}, sum(r.bytes for r in results)


VALUES = {
    "raw.fred_observations": "series_id, observation_date, value, known_at",
    "raw.coingecko_market_chart": "coin_id, observation_date, origin, price_usd, known_at",
    "raw.treasury_dts_cash_balance": "observation_date, account_type, close_today_bal, open_today_bal, known_at",
}


def _raw(data_dir: Path) -> dict[str, list]:
    """Every raw row's key, value and release instant (not its fetch provenance)."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return {
            t: con.execute(f"SELECT {cols} FROM {t} ORDER BY ALL").fetchall() for t, cols in VALUES.items()
        }


@pytest.fixture
def loaded(replay_root: Path, tmp_path: Path, monkeypatch):
    """The 2026-01-31 snapshot loaded once (first loads are never gated)."""
    data_dir = tmp_path / "data"
    outcome, first_bytes = _load(data_dir, replay_root / SECOND, monkeypatch, "first", True)
    assert not [k for k, s in outcome.items() if s.status == "failed" and s.required]
    return data_dir, first_bytes


def test_a_rerun_asks_only_what_the_calendar_says_can_be_new(loaded, replay_root, monkeypatch, scenario):
    data_dir, first_bytes = loaded
    before = _raw(data_dir)
    outcome, rerun_bytes = _load(data_dir, replay_root / SECOND, monkeypatch, "rerun", True)
    not_asked = {k for k, s in outcome.items() if s.message.startswith(UP_TO_DATE)}
    # On the cut day (end of 2026-01-31 UTC) every series holding its newest release is left alone:
    assert {
        ("fred", s) for s in ("WALCL", "WTREGEN", "WDTGAL", "WRESBAL", "RRPONTSYD", "SOFR", "IORB", "EFFR")
    } | {
        ("coingecko", "bitcoin"),
        ("coingecko", "ethereum"),
        ("treasury_dts", "operating_cash_balance"),
    } == not_asked
    # DFF holds its newest day too, but its loaded history starts in 2021: only that gap is asked.
    dff = outcome[("fred", "DFF")]
    assert dff.message.startswith(HISTORY_BACKFILL) and dff.last_date == dt.date(2026, 1, 31), dff
    # ... and asked: GDP (whole history, its later estimates are off the calendar), the H.8 bank
    # assets stale since 2021, the DDP file that ends in 2023, the total-cap chart that ends in 2025-08.
    assert outcome[("fred", "GDP")].rows > 0 and outcome[("fred", "TLAACBW027SBOG")].bytes > 0
    assert outcome[("fed_ddp", "H41")].bytes > 0 and outcome[("fed_ddp", "H8")].bytes > 0
    for key in not_asked:
        skipped = outcome[key]
        assert (skipped.status, skipped.rows, skipped.bytes, skipped.inserted) == ("ok", 0, 0, 0)
        assert skipped.last_date is not None  # the release sensor reads the watermark from it
    assert _raw(data_dir) == before
    assert outcome[("fred", "WALCL")].last_date == dt.date(2026, 1, 28)
    # (bytes here are whole replay files; `make bench` counts what a live source sends, `live_bytes`)
    asked = {k for k, s in outcome.items() if s.bytes > 0}
    assert asked == {
        ("fred", "GDP"),
        ("fred", "TLAACBW027SBOG"),
        ("fred", "DFF"),
        ("fed_ddp", "H41"),
        ("fed_ddp", "H8"),
        ("coingecko", "global_market_cap_chart"),
    }

    # A release that has not arrived: WALCL's last Wednesday removed, as if FRED had not posted it.
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        con.execute(
            "DELETE FROM raw.fred_observations WHERE series_id = 'WALCL' AND observation_date = '2026-01-28'"
        )
    late, _ = _load(data_dir, replay_root / SECOND, monkeypatch, "late", True)
    assert late[("fred", "WALCL")].inserted == 1 and late[("fred", "WALCL")].bytes > 0
    assert late[("fred", "WRESBAL")].message.startswith(UP_TO_DATE)
    assert _raw(data_dir) == before

    # Without the gate (a sensor's run, a hand-launched materialization) every series is asked.
    ungated, all_bytes = _load(data_dir, replay_root / SECOND, monkeypatch, "all", False)
    assert not [k for k, s in ungated.items() if s.message.startswith(UP_TO_DATE)]
    assert all_bytes > rerun_bytes
    scenario(
        "a rerun on the same day asks no series that holds its newest release; a late one is asked again",
        f"rerun read {len(asked)} replay files ({rerun_bytes:,} B; first load {first_bytes:,} B); "
        f"{len(not_asked)} series not asked; WALCL without its last Wednesday: asked, 1 row back; "
        f"without the gate {all_bytes:,} B",
        name="fetch when due (issue #14)",
    )
