"""Release calendar: when a value dated D became public.

Two answers per value: `known_on`, the US-Eastern calendar date of its release (at whose end it is
public), and `known_at`, the release INSTANT in UTC (`known_on` at the rule's time of day in
America/New_York, daylight saving time included). Comparing instants is what keeps a 00:00 UTC
crypto snapshot (19:00/20:00 New York the evening before) from seeing a release of 16:30 ET the
day after it.

Rules (catalog column `release_rule`), with their time of day (US Eastern, `RELEASE_TIME_ET`):
- ``h41``: H.4.1 Wednesday data is released Thursday 16:30 ET, the next Fed business day.
- ``h8``: H.8 data for the week ending Wednesday is released Friday of the following week
  (16:15 ET), i.e. nine days later, moved to the next business day on a holiday.
- ``next_business_day``: SOFR / EFFR for day T are published at 08:00 ET the next business day.
- ``same_day``: known on the day itself, from 13:15 ET (the ON RRP result; IORB is set in advance,
  so 13:15 is a late, safe bound for it).
- ``gdp_advance``: BEA's advance estimate, 08:30 ET about 30 days after the quarter ends.
- ``snapshot``: a market snapshot (CoinGecko) is public at its own instant: `known_at` is the
  snapshot time itself, `known_on` its UTC date.
- ``dts``: the Daily Treasury Statement for business day d is published at about 16:00 ET on the
  next business day (after a holiday, the day after it).

Known exceptions to the rules (a delayed release) live in `release_overrides.csv`; a delayed
release keeps its rule's time of day. The Fed's business days are weekdays that are not US federal
holidays. A source without a calendar uses its fetch time as `known_at` (see ingest/load.py).
"""

from __future__ import annotations

import csv
import datetime as dt
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

OVERRIDES_PATH = Path(__file__).with_name("release_overrides.csv")

NEW_YORK = ZoneInfo("America/New_York")

# Release time of day, US Eastern, per rule: `known_at` is `known_on` at this time.
RELEASE_TIME_ET = {
    "h41": dt.time(16, 30),
    "h8": dt.time(16, 15),
    "next_business_day": dt.time(8, 0),
    "same_day": dt.time(13, 15),
    "gdp_advance": dt.time(8, 30),
    "dts": dt.time(16, 0),
}


@cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("US", years=year)


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def next_business_day(day: dt.date, *, include_self: bool = False) -> dt.date:
    candidate = day if include_self else day + dt.timedelta(days=1)
    while not is_business_day(candidate):
        candidate += dt.timedelta(days=1)
    return candidate


@cache
def overrides() -> dict[tuple[str, dt.date], dt.date]:
    if not OVERRIDES_PATH.exists():
        return {}
    with OVERRIDES_PATH.open(newline="", encoding="utf-8") as fh:
        return {
            (row["series_id"], dt.date.fromisoformat(row["observation_date"])): dt.date.fromisoformat(
                row["known_on"]
            )
            for row in csv.DictReader(fh)
        }


SNAPSHOT = "snapshot"


def known_on(rule: str, observation: dt.date, series_id: str | None = None) -> dt.date:
    """The first US-Eastern calendar date at whose end the value is public."""
    if rule == SNAPSHOT:
        return observation.date() if isinstance(observation, dt.datetime) else observation
    if series_id is not None:
        override = overrides().get((series_id, observation))
        if override is not None:
            return override
    if rule == "same_day":
        return observation
    if rule in ("h41", "next_business_day", "dts"):
        return next_business_day(observation)
    if rule == "h8":
        return next_business_day(observation + dt.timedelta(days=9), include_self=True)
    if rule == "gdp_advance":
        quarter_end = _add_months(observation, 3) - dt.timedelta(days=1)
        return next_business_day(quarter_end + dt.timedelta(days=30), include_self=True)
    raise ValueError(f"unknown release rule {rule!r}")


# Rules whose releases revise observations far older than any look-back: BEA's annual GDP update
# rewrites the last several years of quarters (a comprehensive one, all of them). Such a series is
# asked for its whole history on every run (GDP: ~90 quarters, ~2 KB), so the warehouse holds the
# current vintage of every quarter as FRED does.
REVISES_HISTORY = frozenset({"gdp_advance"})


# How far before its watermark an incremental fetch of a series starts, per release rule: the
# stretch in which that publisher corrects what it already published, so a revision is picked up by
# the next fetch. One generic 35 days cost most of an incremental load's bytes (a daily series asked
# for 25 rows it already held). GDP (REVISES_HISTORY) is asked for its whole history instead.
# - h41: a correction to a week's H.4.1 values appears in the next weekly release: two releases.
# - h8: the H.8 revises its recent weeks on each release, and its weeks are published ~9 days late.
# - same_day / next_business_day (ON RRP, IORB; SOFR, EFFR, DFF): the New York Fed republishes a
#   corrected rate on its publication day; a week covers a correction and a long holiday weekend.
# - dts: a statement restated by the Treasury is restated within days of its publication.
# - snapshot (CoinGecko 00:00 UTC points): the newest point is replaced by the next day's fetch.
LOOKBACK = {
    "h41": dt.timedelta(days=14),
    "h8": dt.timedelta(days=35),
    "same_day": dt.timedelta(days=7),
    "next_business_day": dt.timedelta(days=7),
    "dts": dt.timedelta(days=7),
    SNAPSHOT: dt.timedelta(days=7),
}


# The shortest delay between an observation's date and its publication that each rule allows,
# holidays ignored (they only delay): a lower bound, so early releases never look like the future.
MIN_PUBLICATION_LAG = {
    "same_day": dt.timedelta(days=0),
    "next_business_day": dt.timedelta(days=1),
    "h41": dt.timedelta(days=1),
    "h8": dt.timedelta(days=9),
    "dts": dt.timedelta(days=1),
    SNAPSHOT: dt.timedelta(days=0),
}
# `as_of` is a day, not an instant, and recorded copies (the replay snapshots among them) were cut
# inclusively, with the cut day's own Wednesday or SOFR fixing in them although its release came the
# next day. So the bound allows one day more than the rule: what it refuses is a date no release
# could explain (an observation dated after the fetch day, an H.8 week not ended a week before it).
FUTURE_TOLERANCE = dt.timedelta(days=1)


def latest_public_observation(rule: str, as_of: dt.date) -> dt.date:
    """The newest observation date that can have been published by the end of `as_of`.

    A payload holding a later one is not data but a defect (a mis-served or tampered file): the
    loader refuses it. GDP is dated the first day of its quarter and is published only after the
    quarter ends, so the newest public quarter is the one that ended by `as_of`."""
    if rule == "gdp_advance":
        quarter = dt.date(as_of.year, 3 * ((as_of.month - 1) // 3) + 1, 1)
        return _add_months(quarter, -3)
    if rule not in MIN_PUBLICATION_LAG:
        raise ValueError(f"unknown release rule {rule!r}")
    return as_of - max(MIN_PUBLICATION_LAG[rule] - FUTURE_TOLERANCE, dt.timedelta(0))


def newest_released(series, now: dt.datetime) -> dt.date:
    """The newest observation date on `series`' grid (catalog `cadence` and `dating`: Wednesdays,
    business or calendar days, quarter starts) whose release instant (`known_at`, overrides
    included) is at or before `now` (naive UTC): what a source can have published by then.

    A series already holding it cannot have anything new before its next release: the loads use
    this to skip such a fetch (`ingest.loading.LoadContext.up_to_date`), the freshness checks, with
    a day's grace, to call a series late (`ingest.quality.expected_latest`)."""
    day = now.replace(tzinfo=dt.UTC).astimezone(NEW_YORK).date()
    if series.cadence == "quarterly":
        day = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        while known_at(series.release_rule, day, series.series_id) > now:
            day = _add_months(day, -3)
        return day
    step = dt.timedelta(days=7 if series.cadence == "weekly" else 1)
    if series.cadence == "weekly":
        day -= dt.timedelta(days=(day.weekday() - 2) % 7)  # back to a Wednesday
    while (series.dating == "business_day" and not is_business_day(day)) or known_at(
        series.release_rule, day, series.series_id
    ) > now:
        day -= step
    return day


def end_of_day(day: dt.date) -> dt.datetime:
    """The last instant of US-Eastern date `day`, naive UTC."""
    local = dt.datetime.combine(day, dt.time.max, tzinfo=NEW_YORK)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def known_at(rule: str, observation: dt.date, series_id: str | None = None) -> dt.datetime:
    """The UTC instant (naive, as stored in the warehouse) at which the value became public:
    `known_on` at the rule's release time in New York, converted with daylight saving time.
    For ``snapshot`` the observation is the snapshot instant (naive UTC) and is returned as is."""
    if rule == SNAPSHOT:
        if not isinstance(observation, dt.datetime):
            raise ValueError("the snapshot rule needs the snapshot instant, not a date")
        return observation
    return release_instant(rule, known_on(rule, observation, series_id))


def release_instant(rule: str, day: dt.date) -> dt.datetime:
    """A release on US-Eastern date `day` under `rule`: its instant, naive UTC."""
    local = dt.datetime.combine(day, RELEASE_TIME_ET[rule], tzinfo=NEW_YORK)
    return local.astimezone(dt.UTC).replace(tzinfo=None)
