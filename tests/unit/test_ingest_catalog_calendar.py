"""Series catalog (ids, required concepts, units) and the release calendar (known_on)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

from ingest import calendar, catalog, loading
from ingest.errors import check_series_id

D = dt.date.fromisoformat

# Concepts the analysts' questions need (DOMAIN.md "Series" table), by catalog concept name.
REQUIRED_CONCEPTS = {
    "fed_total_assets": ("fred", "WALCL"),
    "tga": ("fred", "WTREGEN"),
    "on_rrp": ("fred", "RRPONTSYD"),
    "reserves": ("fred", "WRESBAL"),
    "sofr": ("fred", "SOFR"),
    "iorb": ("fred", "IORB"),
    "effr": ("fred", "EFFR"),
    "gdp": ("fred", "GDP"),
    "bank_assets": ("fred", "TLAACBW027SBOG"),
    "standing_repo": ("fred", "RPONTSYD"),
    "btfp": ("fed_ddp", "RESPPALDK_N.WW"),
}


def test_catalog_loads_with_valid_unique_ids():
    series = catalog.load_catalog()
    assert len(series) >= len(REQUIRED_CONCEPTS)
    for s in series:
        assert check_series_id(s.series_id) == s.series_id
        assert s.source in catalog.SOURCES and s.cadence in catalog.CADENCES
        assert s.dating in catalog.DATINGS and s.release_rule in catalog.RELEASE_RULES
        assert s.min_value <= s.max_value and s.scale > 0 and s.max_stale_days > 0
    assert len({(s.source, s.series_id) for s in series}) == len(series)


def test_every_required_concept_is_present():
    by_concept = {s.concept: s for s in catalog.load_catalog()}
    for concept, (source, series_id) in REQUIRED_CONCEPTS.items():
        assert concept in by_concept, f"catalog lacks {concept}"
        assert (by_concept[concept].source, by_concept[concept].series_id) == (source, series_id)


def test_core_series_are_required_and_gaps_are_optional():
    required = {s.series_id for s in catalog.load_catalog() if s.required}
    assert {"WALCL", "WTREGEN", "RRPONTSYD", "WRESBAL", "SOFR", "IORB", "EFFR", "GDP"} <= required
    # Documented gaps in every snapshot must not fail a run.
    assert not {"TLAACBW027SBOG", "RPONTSYD", "RESPPALDK_N.WW"} & required


def test_units_and_dating_match_the_domain_brief():
    get = catalog.get
    assert get("fred", "WALCL").units == "Millions of U.S. Dollars" and get("fred", "WALCL").scale == 0.001
    assert (
        get("fred", "WTREGEN").dating == "week_average" and get("fred", "WALCL").dating == "wednesday_level"
    )
    assert get("fred", "RRPONTSYD").units == "Billions of U.S. Dollars"
    assert get("fred", "IORB").dating == "calendar_day"
    assert get("fred", "GDP").release_rule == "gdp_advance"
    assert get("fred", "SOFR").release_rule == "next_business_day"
    assert get("fed_ddp", "RESPPALDK_N.WW").dataset == "H41"
    assert "H41RESPPALGTRFNWW" not in {s.series_id for s in catalog.load_catalog()}  # FIMA repo, not BTFP
    with pytest.raises(KeyError, match="not in the series catalog"):
        get("fred", "NOPE")


def test_series_for_filters_by_source_and_dataset():
    assert {s.dataset for s in catalog.series_for("fed_ddp", "H8")} == {"H8"}
    assert all(s.source == "fred" for s in catalog.series_for("fred"))


def write_catalog(path: Path, rows: list[dict[str, str]]) -> Path:
    with catalog.CATALOG_PATH.open(newline="", encoding="utf-8") as fh:
        fields = next(csv.reader(fh))
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def good_row(**changes) -> dict[str, str]:
    with catalog.CATALOG_PATH.open(newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    return {**row, **changes}


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([good_row(series_id="../../etc")], "rejected series id '../../etc'"),
        ([good_row(series_id="WALCL;DROP")], "rejected series id"),
        ([good_row(cadence="hourly")], "cadence='hourly'"),
        ([good_row(source="ecb")], "source='ecb'"),
        ([good_row(scale="0")], "bad scale or magnitude band"),
        ([good_row(min_value="10", max_value="1")], "bad scale or magnitude band"),
        ([good_row(max_stale_days="x")], "line 2"),
        ([good_row(), good_row(concept="other")], "duplicate (source, series_id)"),
        ([good_row(), good_row(series_id="WALCL2")], "duplicate concept"),
    ],
)
def test_catalog_rejects_bad_rows(tmp_path: Path, rows, reason):
    path = write_catalog(tmp_path / "series_catalog.csv", rows)
    with pytest.raises(ValueError) as info:
        catalog.load_catalog(path)
    assert reason in str(info.value)


# --- release calendar ----------------------------------------------------------------------------


def test_h41_wednesday_is_known_thursday():
    assert D("2026-01-28").weekday() == 2
    assert calendar.known_on("h41", D("2026-01-28"), "WALCL") == D("2026-01-29")


def test_h41_thanksgiving_thursday_moves_to_friday():
    wednesday = D("2025-11-26")
    assert not calendar.is_business_day(D("2025-11-27"))  # Thanksgiving Day
    assert calendar.known_on("h41", wednesday, "WALCL") == D("2025-11-28")


def test_h41_christmas_thursday_moves_to_friday():
    assert calendar.known_on("h41", D("2024-12-25"), "WALCL") == D("2024-12-26")  # Wed holiday itself
    assert calendar.known_on("h41", D("2025-12-24"), "WALCL") == D("2025-12-26")  # Thu 25 is Christmas


def test_sofr_friday_before_monday_holiday_is_known_tuesday():
    friday = D("2026-01-16")
    assert not calendar.is_business_day(D("2026-01-19"))  # Martin Luther King Jr. Day
    assert calendar.known_on("next_business_day", friday, "SOFR") == D("2026-01-20")
    assert calendar.known_on("next_business_day", D("2026-01-14"), "SOFR") == D("2026-01-15")


def test_gdp_override_for_the_shutdown_delay():
    assert calendar.known_on("gdp_advance", D("2025-07-01"), "GDP") == D("2025-12-23")
    # without the series id the rule applies: ~30 days after the quarter end
    assert calendar.known_on("gdp_advance", D("2025-07-01")) == D("2025-10-30")


def test_gdp_advance_rule_and_override_file():
    assert calendar.known_on("gdp_advance", D("2025-04-01"), "GDP") == D("2025-07-30")
    assert calendar.known_on("gdp_advance", D("2024-10-01"), "GDP") == D("2025-01-30")
    assert calendar.overrides()[("GDP", D("2025-07-01"))] == D("2025-12-23")


def test_gdp_2025q4_delay_means_2025q3_is_the_latest_expected_at_the_end_of_january():
    from ingest import quality

    gdp = next(s for s in catalog.series_for("fred") if s.series_id == "GDP")
    assert calendar.known_on("gdp_advance", D("2025-10-01"), "GDP") == D("2026-02-20")
    assert quality.expected_latest(gdp, D("2026-01-31")) == D("2025-07-01")
    assert quality.expected_latest(gdp, D("2026-02-21")) == D("2025-10-01")
    # the rule alone would have expected 2025Q4 by 2026-01-31
    assert calendar.known_on("gdp_advance", D("2025-10-01")) < D("2026-01-31")


def test_h8_released_friday_of_the_following_week():
    assert calendar.known_on("h8", D("2023-04-26"), "B1151NCBD") == D("2023-05-05")
    # 2025-06-25 + 9 days = Friday 2025-07-04 (Independence Day) -> Monday 2025-07-07
    assert calendar.known_on("h8", D("2025-06-25"), "TLAACBW027SBOG") == D("2025-07-07")


def test_same_day_and_unknown_rule():
    assert calendar.known_on("same_day", D("2026-01-19"), "RRPONTSYD") == D("2026-01-19")
    with pytest.raises(ValueError, match="unknown release rule"):
        calendar.known_on("weekly", D("2026-01-19"))


def test_next_business_day_skips_weekends_and_holidays():
    assert calendar.next_business_day(D("2026-01-30")) == D("2026-02-02")
    assert calendar.next_business_day(D("2026-01-30"), include_self=True) == D("2026-01-30")
    assert calendar.next_business_day(D("2025-07-03")) == D("2025-07-07")


def test_every_catalog_rule_has_a_release_time():
    assert {s.release_rule for s in catalog.load_catalog()} <= set(calendar.RELEASE_TIME_ET)


def test_every_windowed_rule_has_a_look_back_and_the_window_starts_there():
    """Each release rule a series is fetched by window has its own look-back (GDP is re-read whole),
    and an incremental window starts at the watermark minus it, never before the history start nor
    after today (a future-dated watermark)."""
    rules = {s.release_rule for s in catalog.load_catalog()} | {calendar.SNAPSHOT}
    assert rules - calendar.REVISES_HISTORY == set(calendar.LOOKBACK)
    assert all(dt.timedelta(days=1) <= back <= dt.timedelta(days=35) for back in calendar.LOOKBACK.values())
    ctx = loading.LoadContext(None, None, dt.date(2026, 1, 31), "t", None, dt.date(2003, 1, 1))
    for rule, back in calendar.LOOKBACK.items():
        assert ctx.window_start(dt.date(2026, 1, 28), rule) == dt.date(2026, 1, 28) - back
        assert ctx.window_start(dt.date(2030, 1, 1), rule) == dt.date(2026, 1, 31) - back
        assert ctx.window_start(dt.date(2003, 1, 2), rule) == dt.date(2003, 1, 1)
        assert ctx.window_start(None, rule) == dt.date(2003, 1, 1)
    assert calendar.LOOKBACK["h41"] == dt.timedelta(days=14)  # two weekly releases


# --- release instants (known_at, naive UTC) ------------------------------------------------------


def T(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_h41_known_at_is_thursday_1630_new_york_in_utc_across_dst():
    # 2025-04-24 is daylight time (EDT, UTC-4): 16:30 ET = 20:30 UTC, after that day's 00:00 UTC crypto snapshot
    assert calendar.known_at("h41", D("2025-04-23"), "WALCL") == T("2025-04-24 20:30")
    # winter (EST, UTC-5): 21:30 UTC; and either side of the 2025-03-09 switch
    assert calendar.known_at("h41", D("2026-01-28"), "WALCL") == T("2026-01-29 21:30")
    assert calendar.known_at("h41", D("2025-03-05"), "WALCL") == T("2025-03-06 21:30")
    assert calendar.known_at("h41", D("2025-03-12"), "WALCL") == T("2025-03-13 20:30")
    # a holiday moves the day, not the time: Thanksgiving 2025 -> Friday 16:30 EST
    assert calendar.known_at("h41", D("2025-11-26"), "WALCL") == T("2025-11-28 21:30")


def test_known_at_of_the_other_rules():
    # SOFR of Friday 2026-01-16, Monday a holiday: Tuesday 08:00 EST
    assert calendar.known_at("next_business_day", D("2026-01-16"), "SOFR") == T("2026-01-20 13:00")
    # ON RRP result the same day at 13:15 ET
    assert calendar.known_at("same_day", D("2025-04-23"), "RRPONTSYD") == T("2025-04-23 17:15")
    # H.8 Friday 16:15 ET
    assert calendar.known_at("h8", D("2023-04-26"), "B1151NCBD") == T("2023-05-05 20:15")
    # GDP 08:30 ET on its (overridden, shutdown-delayed) release day
    assert calendar.known_at("gdp_advance", D("2025-07-01"), "GDP") == T("2025-12-23 13:30")
    # a snapshot is public at its own instant
    assert calendar.known_at(calendar.SNAPSHOT, T("2025-04-24 00:00")) == T("2025-04-24 00:00")
    assert calendar.known_on(calendar.SNAPSHOT, T("2025-04-24 00:00")) == D("2025-04-24")
    with pytest.raises(ValueError, match="snapshot instant"):
        calendar.known_at(calendar.SNAPSHOT, D("2025-04-24"))
    with pytest.raises(ValueError, match="unknown release rule"):
        calendar.known_at("weekly", D("2026-01-19"))
