"""What every loader shares: the result types, the load context and its windows, provenance, and
running one series (fetch + parse + upsert) with its failure recorded and its load_log row.

The loaders themselves are one module per source in `ingest/loaders/`, each a function
`load(ctx, only=None, window=None)`: the incremental load by watermark, or, with an explicit
`window`, the same fetch for exactly that date range (what the backfill runs). `ingest/load.py`
runs them over the raw-table registry (`ingest/registry.py`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable

import duckdb
import pandas as pd

from ingest import calendar, catalog, settings, warehouse
from ingest.errors import (
    HttpError,
    InvalidIdentifier,
    NetworkUnreachable,
    PayloadError,
    SourceError,
)
from ingest.transport import ReplayMissing, Response, Transport

log = logging.getLogger("ingest.load")

# An explicit date range [start, end] to (re-)ingest; None means incremental by watermark.
Window = tuple[dt.date, dt.date] | None


@dataclasses.dataclass
class SeriesLoad:
    source: str
    series: str
    status: str  # ok | skipped | failed
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    last_date: dt.date | None = None
    url: str | None = None
    bytes: int = 0
    message: str = ""
    required: bool = True


@dataclasses.dataclass
class SourceLoad:
    source: str
    mode: str
    series: list[SeriesLoad] = dataclasses.field(default_factory=list)
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0

    @property
    def failures(self) -> list[SeriesLoad]:
        return [s for s in self.series if s.status == "failed"]

    @property
    def inserted(self) -> int:
        return sum(s.inserted for s in self.series)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.series)

    def raise_for_failures(self) -> None:
        failed = self.failures
        if failed:
            lines = "; ".join(s.message for s in failed)
            raise SourceError(self.source, None, f"{len(failed)} series failed: {lines}")


# How late after the expected first date the first observation may fall (weekends, holidays, weekly dating).
HISTORY_TOLERANCE = {
    "daily": dt.timedelta(days=6),
    "weekly": dt.timedelta(days=7),
    "quarterly": dt.timedelta(days=92),
}


HISTORY_BACKFILL = "history backfill: loaded history began "
REREAD_WHOLE = "whole history: its releases revise old observations (calendar.REVISES_HISTORY)"


@dataclasses.dataclass(frozen=True)
class LoadContext:
    con: duckdb.DuckDBPyConnection
    transport: Transport
    today: dt.date
    run_id: str
    keys: settings.ApiKeys
    start: dt.date
    # Where progress goes: this module's logger, or e.g. Dagster's `context.log` so the run log shows it.
    logger: logging.Logger = log
    # The instant (naive UTC) against which "what can have been released?" is asked; None: the end
    # of `today` (UTC), which in replay is the snapshot's cut day (its files hold that day's 00:00 UTC
    # crypto point and the DTS published at 16:00 ET on it).
    now: dt.datetime | None = None
    # Skip the incremental fetch of a series that already holds the newest observation its release
    # calendar allows by `now` (`up_to_date`): `make run` and the schedules; not a sensor's run, which
    # has seen something new, nor a materialization launched by hand.
    fetch_when_due: bool = False

    def clock(self) -> dt.datetime:
        return self.now or dt.datetime.combine(self.today, dt.time.max)

    def up_to_date(self, last: dt.date | None, series: catalog.Series | None = None) -> dt.date | None:
        """With `fetch_when_due`, the newest observation `series` can have been released with by
        `clock()` when the loaded watermark `last` already reaches it, so that nothing new can be
        asked for before its next release; else None (fetch). `series` None = a daily 00:00 UTC
        snapshot (CoinGecko), public at its own instant.

        A release that comes late leaves the watermark behind the calendar, so the series is asked
        again on every run until it arrives. A revision published between two releases is picked
        up by the look-back of the next release's fetch, not in between."""
        if not self.fetch_when_due or last is None:
            return None
        # GDP's whole history is re-read on every run: BEA's later estimates of a quarter, which
        # revise it, are not on the `gdp_advance` calendar (calendar.REVISES_HISTORY).
        if series is not None and series.release_rule in calendar.REVISES_HISTORY:
            return None
        now = self.clock()
        newest = now.date() if series is None else calendar.newest_released(series, now)
        return newest if last >= newest else None

    def series_windows(
        self, series: catalog.Series, first: dt.date | None, last: dt.date | None
    ) -> list[tuple[dt.date, dt.date | None, str]]:
        """What to ask for, as (start, end or None = to the latest, note) windows: the full history on
        a first run or for a series whose releases revise old observations (GDP), else the watermark
        minus the look-back. While the loaded history begins later than the source's (catalog
        `first_observation`), also the missing stretch before it, and only that stretch: asking the
        whole history again cost e.g. WTREGEN, DFF and TLAACBW027SBOG ~60 KB on a run that needed
        the ~4 KB before WTREGEN's first loaded week.

        A history backfill that already ran with the loaded history beginning on the same day found
        nothing earlier (the source, or a replay snapshot, starts there): it is not asked again on every
        run."""
        if last is None:
            return [(self.start, None, "")]
        if series.release_rule in calendar.REVISES_HISTORY:
            return [(self.start, None, REREAD_WHOLE)]
        windows = [(self.window_start(last, series.release_rule), None, "")]
        if series.first_observation is not None:
            expected = max(self.start, series.first_observation)
            if first > expected + HISTORY_TOLERANCE[series.cadence]:
                note = f"{HISTORY_BACKFILL}{first}, the source's on {expected}"
                tried = self.con.execute(
                    "SELECT count(*) FROM raw.load_log WHERE source = ? AND series = ? AND status = 'ok' "
                    "AND starts_with(message, ?)",
                    [series.source, series.series_id, f"{HISTORY_BACKFILL}{first},"],
                ).fetchone()[0]
                # The two windows never overlap: the gap ends where the incremental one begins.
                gap_end = min(first, windows[0][0]) - dt.timedelta(days=1)
                if not tried and gap_end >= expected:
                    windows.insert(0, (expected, gap_end, note))
        return windows

    def window_start(self, last_loaded: dt.date | None, rule: str) -> dt.date:
        """Where an incremental fetch of a series of release `rule` starts: its watermark minus the
        rule's look-back (`calendar.LOOKBACK`), never before the history start."""
        if last_loaded is None:
            return self.start
        # A watermark past today (a future-dated row loaded before such rows were refused) must not
        # stop the series from updating; the no_future_dates check names that row until it is removed.
        last_loaded = min(last_loaded, self.today)
        return max(self.start, last_loaded - calendar.LOOKBACK[rule])

    def lookback_days(self, rule: str) -> int:
        return calendar.LOOKBACK[rule].days


def provenance(
    frame: pd.DataFrame, responses: list[Response], rule: str | None, series_id: str | None
) -> pd.DataFrame:
    """Provenance of every raw row: `known_on` (US-Eastern release date) and `known_at` (release
    instant, naive UTC) from the release calendar (`calendar.known_at`), fetch time, URL, sha256.
    `rule` None = a source without a release calendar: it counts as public when fetched.
    Rule ``snapshot`` (CoinGecko) = public at the row's own `snapped_at`."""
    main = responses[-1]
    refuse_future(frame, rule, series_id or main.request.series, main)
    frame = frame.copy()
    dates = frame["observation_date"]
    if rule is None:
        fetched = main.fetched_at.replace(tzinfo=dt.UTC)
        frame["known_on"] = fetched.astimezone(calendar.NEW_YORK).date()
        frame["known_at"] = main.fetched_at
    elif rule == calendar.SNAPSHOT:
        # calendar.known_at(SNAPSHOT, t) is t itself: taken column-wise, not one call per row
        frame["known_on"] = dates
        frame["known_at"] = frame["snapped_at"]
    else:
        days = dates.unique()
        frame["known_on"] = dates.map({d: calendar.known_on(rule, d, series_id) for d in days})
        frame["known_at"] = dates.map({d: calendar.known_at(rule, d, series_id) for d in days})
    frame["fetched_at"] = main.fetched_at
    frame["source_url"] = main.url
    frame["payload_sha256"] = main.sha256
    return frame


VALUE_COLUMNS = ("value", "price_usd", "total_market_cap_usd", "close_today_bal", "open_today_bal")


def refuse_future(frame: pd.DataFrame, rule: str, series_id: str | None, response: Response) -> None:
    """A body holding an observation its release calendar could not have published by the fetch
    day (the cut date in replay) is a bad payload: nothing of it is written."""
    if frame.empty or response.as_of is None or rule is None:  # no calendar: public when fetched
        return
    latest = calendar.latest_public_observation(rule, response.as_of)
    ahead = frame[frame["observation_date"] > latest]
    if ahead.empty:
        return
    row = ahead.sort_values("observation_date").iloc[0]
    column = next((c for c in VALUE_COLUMNS if c in frame.columns), None)
    value = f" = {row[column]}" if column else ""
    raise PayloadError(
        response.request.source,
        series_id,
        f"observation dated {row['observation_date']}{value} is in the future: on {response.as_of} "
        f"(the fetch day; in replay the snapshot's cut date) the {rule} release calendar allows "
        f"observations up to {latest} ({len(ahead)} such rows); nothing of this payload was written",
    )


def source_says_missing(exc: BaseException) -> bool:
    """HTTP 404, or FRED's 'The series does not exist.' (sent with HTTP 400)."""
    return isinstance(exc, HttpError) and (exc.status == 404 or "The series does not exist" in exc.reason)


def run_series(
    ctx: LoadContext,
    result: SourceLoad,
    source: str,
    series: str,
    required: bool,
    work: Callable[[], SeriesLoad],
    total: int | None = None,
) -> None:
    """Run one series' fetch+parse+upsert; failures are recorded with source, series and reason."""
    try:
        outcome = work()
    except ReplayMissing as exc:
        outcome = SeriesLoad(
            source, series, "failed" if required else "skipped", message=str(exc), required=required
        )
    except NetworkUnreachable:
        raise
    except (SourceError, InvalidIdentifier, ValueError) as exc:
        message = str(exc) if isinstance(exc, SourceError) else f"{source} {series}: {exc}"
        # Live counterpart of ReplayMissing: an optional series the source says does not exist is skipped.
        status = "skipped" if not required and source_says_missing(exc) else "failed"
        outcome = SeriesLoad(source, series, status, message=message, required=required)
    if outcome.status == "failed":
        ctx.logger.error("%s", outcome.message)
    elif outcome.status == "skipped":
        ctx.logger.warning("%s (skipped, optional)", outcome.message)
    result.series.append(outcome)
    if outcome.status == "ok":
        ctx.logger.info(
            "%s %s: %s inserted, %s updated, last %s; %s: %s series, %s rows so far",
            source,
            series,
            f"{outcome.inserted:,}",
            f"{outcome.updated:,}",
            outcome.last_date,
            source,
            f"{len(result.series)}/{total}" if total else len(result.series),
            f"{sum(s.rows for s in result.series):,}",
        )
    warehouse.log_load(
        ctx.con,
        run_id=ctx.run_id,
        source=source,
        series=series,
        loaded_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        mode=ctx.transport.mode,
        url=outcome.url,
        status=outcome.status,
        rows_in_payload=outcome.rows,
        inserted=outcome.inserted,
        updated=outcome.updated,
        bytes=outcome.bytes,
        message=outcome.message,
    )


def finish(ctx: LoadContext, result: SourceLoad, started: float, requests0: int, bytes0: int) -> SourceLoad:
    result.requests = getattr(ctx.transport, "requests_made", 0) - requests0
    result.bytes = getattr(ctx.transport, "bytes_fetched", 0) - bytes0
    result.seconds = time.perf_counter() - started
    return result


def counters(ctx: LoadContext) -> tuple[float, int, int]:
    return (
        time.perf_counter(),
        getattr(ctx.transport, "requests_made", 0),
        getattr(ctx.transport, "bytes_fetched", 0),
    )


def log_received(ctx: LoadContext, source: str, series: str, frame: pd.DataFrame, kind: str) -> None:
    """One progress line per fetch: rows received, their dates, and full history vs incremental."""
    dates = frame["observation_date"]
    span = f"{len(frame):,} rows {dates.min()}..{dates.max()}" if len(frame) else "0 rows"
    ctx.logger.info("%s %s: %s (%s)", source, series, span, kind)


def fetch_kind(last: dt.date | None, start: dt.date, note: str = "") -> str:
    return "full history" if last is None else note or f"incremental from {start}"


def observation_load(ctx, spec, source, series_id, frame, responses, expect_new: bool = False) -> SeriesLoad:
    """Upsert one series' rows; `expect_new` when nothing of it was loaded yet (see warehouse.upsert)."""
    up = warehouse.upsert(ctx.con, spec, frame, expect_new=expect_new)
    last = frame["observation_date"].max() if not frame.empty else None
    return SeriesLoad(
        source,
        series_id,
        "ok",
        up.rows,
        up.inserted,
        up.updated,
        last,
        responses[-1].url,
        sum(len(r.body) for r in responses),
    )


UP_TO_DATE = "not asked: holds "


def up_to_date_load(
    ctx: LoadContext, source: str, series_id: str, last: dt.date, newest: dt.date
) -> SeriesLoad:
    """The outcome of a series whose fetch `LoadContext.up_to_date` skipped: nothing asked or written,
    its watermark reported as its last date (the release sensor reads it from the asset's metadata)."""
    ctx.logger.info("%s %s: up to date (%s), not asked before its next release", source, series_id, last)
    return SeriesLoad(
        source,
        series_id,
        "ok",
        last_date=last,
        message=f"{UP_TO_DATE}{last}; its release calendar allows {newest} by {ctx.clock():%Y-%m-%d %H:%M} "
        "UTC: nothing new before its next release",
    )


def backfill_note(window: tuple[dt.date, dt.date]) -> str:
    return f"backfill {window[0]}..{window[1]}"
