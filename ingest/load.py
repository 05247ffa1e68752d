"""Load each source into the raw layer: incremental by watermark, one transaction per series.

Plain Python (no Dagster): `python -m ingest.load` loads every source once, and the Dagster assets
call the same `load_*` functions. A series that fails (HTTP error, bad payload) is reported with
source, series and reason, leaves the warehouse as it was, and does not stop the other series;
an unreachable network stops the source at once with one line naming LIQUIDITY_REPLAY_DIR.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import sys
import time
import uuid
from collections.abc import Callable

import duckdb
import pandas as pd

from ingest import calendar, catalog, coingecko, fed_ddp, fred, settings, treasury_dts, warehouse
from ingest.errors import (
    HttpError,
    InvalidIdentifier,
    NetworkUnreachable,
    PayloadError,
    SourceError,
    check_coin_id,
    check_series_id,
    is_transient,
)
from ingest.parsing import window
from ingest.transport import (
    ReplayMissing,
    Response,
    Transport,
    cut_date,
    install_log_redaction,
    make_transport,
)

log = logging.getLogger(__name__)


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
    transient: bool = False  # an HTTP failure that a later retry may not see (rate limit, 5xx, timeout)


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


@dataclasses.dataclass(frozen=True)
class LoadContext:
    con: duckdb.DuckDBPyConnection
    transport: Transport
    today: dt.date
    run_id: str
    keys: settings.ApiKeys
    start: dt.date
    lookback_days: int = settings.LOOKBACK_DAYS
    # Where progress goes: this module's logger, or e.g. Dagster's `context.log` so the run log shows it.
    logger: logging.Logger = log

    def series_window(
        self, series: catalog.Series, first: dt.date | None, last: dt.date | None
    ) -> tuple[dt.date, str]:
        """Where to start asking: full history on a first run or while the loaded history begins later
        than the source's (catalog `first_observation`); else the watermark minus the look-back."""
        if last is None:
            return self.start, ""
        if series.first_observation is not None:
            expected = max(self.start, series.first_observation)
            if first > expected + HISTORY_TOLERANCE[series.cadence]:
                return (
                    self.start,
                    f"history backfill: loaded history began {first}, the source's on {expected}",
                )
        return self.window_start(last), ""

    def window_start(self, last_loaded: dt.date | None) -> dt.date:
        if last_loaded is None:
            return self.start
        # A watermark past today (a future-dated row loaded before such rows were refused) must not
        # stop the series from updating; the no_future_dates check names that row until it is removed.
        last_loaded = min(last_loaded, self.today)
        return max(self.start, last_loaded - dt.timedelta(days=self.lookback_days))


def _provenance(
    frame: pd.DataFrame, responses: list[Response], rule: str | None, series_id: str | None
) -> pd.DataFrame:
    """Provenance of every raw row: `known_on` (US-Eastern release date) and `known_at` (release
    instant, naive UTC) from the release calendar (`calendar.known_at`), fetch time, URL, sha256.
    `rule` None = a source without a release calendar: it counts as public when fetched.
    Rule ``snapshot`` (CoinGecko) = public at the row's own `snapped_at`."""
    main = responses[-1]
    _refuse_future(frame, rule, series_id or main.request.series, main)
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


def _refuse_future(frame: pd.DataFrame, rule: str, series_id: str | None, response: Response) -> None:
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


def _source_says_missing(exc: BaseException) -> bool:
    """HTTP 404, or FRED's 'The series does not exist.' (sent with HTTP 400)."""
    return isinstance(exc, HttpError) and (exc.status == 404 or "The series does not exist" in exc.reason)


def _run_series(
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
        status = "skipped" if not required and _source_says_missing(exc) else "failed"
        outcome = SeriesLoad(
            source, series, status, message=message, required=required, transient=is_transient(exc)
        )
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


def _finish(ctx: LoadContext, result: SourceLoad, started: float, requests0: int, bytes0: int) -> SourceLoad:
    result.requests = getattr(ctx.transport, "requests_made", 0) - requests0
    result.bytes = getattr(ctx.transport, "bytes_fetched", 0) - bytes0
    result.seconds = time.perf_counter() - started
    return result


def _counters(ctx: LoadContext) -> tuple[float, int, int]:
    return (
        time.perf_counter(),
        getattr(ctx.transport, "requests_made", 0),
        getattr(ctx.transport, "bytes_fetched", 0),
    )


def _log_received(ctx: LoadContext, source: str, series: str, frame: pd.DataFrame, kind: str) -> None:
    """One progress line per fetch: rows received, their dates, and full history vs incremental."""
    dates = frame["observation_date"]
    span = f"{len(frame):,} rows {dates.min()}..{dates.max()}" if len(frame) else "0 rows"
    ctx.logger.info("%s %s: %s (%s)", source, series, span, kind)


def _fetch_kind(last: dt.date | None, start: dt.date, note: str = "") -> str:
    return "full history" if last is None else note or f"incremental from {start}"


def _observation_load(
    ctx, spec, source, series_id, frame, responses, extra=None, expect_new: bool = False
) -> SeriesLoad:
    """Upsert one series' rows; `expect_new` when nothing of it was loaded yet (see warehouse.upsert)."""
    if extra:
        for column, value in extra.items():
            frame.insert(0, column, value)
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


def load_fred(ctx: LoadContext, series_ids: list[str] | None = None) -> SourceLoad:
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad("fred", ctx.transport.mode)
    wanted = catalog.series_for("fred")
    if series_ids is not None:
        wanted = [s for s in wanted if s.series_id in series_ids]
    for series in wanted:

        def work(series=series) -> SeriesLoad:
            first, last = warehouse.loaded_range(ctx.con, warehouse.FRED, {"series_id": series.series_id})
            start, note = ctx.series_window(series, first, last)
            frame, responses = fred.fetch(ctx.transport, series, start, None, ctx.keys.fred)
            if frame.empty and series.required:
                # The window always reaches back before the last loaded observation: an empty body of
                # a required series is a damaged or changed file, not "nothing new".
                raise PayloadError("fred", series.series_id, f"no observation from {start} on in the body")
            frame = _provenance(frame, responses, series.release_rule, series.series_id)
            _log_received(ctx, "fred", series.series_id, frame, _fetch_kind(last, start, note))
            loaded = _observation_load(
                ctx, warehouse.FRED, "fred", series.series_id, frame, responses, expect_new=last is None
            )
            loaded.message = note
            return loaded

        _run_series(ctx, result, "fred", series.series_id, series.required, work, total=len(wanted))
    return _finish(ctx, result, started, req0, bytes0)


def load_fed_ddp(ctx: LoadContext) -> SourceLoad:
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad("fed_ddp", ctx.transport.mode)
    releases = ("H41", "H8")
    for release in releases:
        wanted = catalog.series_for("fed_ddp", release)

        def work(release=release, wanted=wanted) -> SeriesLoad:
            marks = [
                warehouse.watermark(ctx.con, warehouse.FED_DDP, {"series_id": s.series_id}) for s in wanted
            ]
            # Series absent from the package (e.g. RESPPMA_N.WW in the 2021-23 H.4.1 file) do not force a full reload.
            last = min((m for m in marks if m is not None), default=None)
            start = ctx.window_start(last)
            frame, responses = fed_ddp.fetch(ctx.transport, release, wanted, start, None)
            rules = {s.series_id: s.release_rule for s in wanted}
            parts = [
                _provenance(part, responses, rules[sid], sid)
                for sid, part in frame.groupby("series_id", sort=True)
            ]
            frame = pd.concat(parts, ignore_index=True) if parts else frame
            _log_received(ctx, "fed_ddp", release, frame, _fetch_kind(last, start))
            loaded = _observation_load(
                ctx,
                warehouse.FED_DDP,
                "fed_ddp",
                release,
                frame,
                responses,
                {"release": release},
                expect_new=last is None,
            )
            present = sorted(frame["series_id"].unique()) if not frame.empty else []
            absent = [s.series_id for s in wanted if s.series_id not in present]
            if absent:
                loaded.message = f"not in this {release} file (optional): {', '.join(absent)}"
            return loaded

        _run_series(ctx, result, "fed_ddp", release, True, work, total=len(releases))
    return _finish(ctx, result, started, req0, bytes0)


def _market_chart_rows(
    frame: pd.DataFrame, coin_id: str, origin: str, responses: list[Response]
) -> pd.DataFrame:
    frame = _provenance(frame, responses, calendar.SNAPSHOT, None)
    frame.insert(0, "origin", origin)
    frame.insert(0, "coin_id", coin_id)
    return frame


def _upsert_market_chart(
    ctx: LoadContext,
    coin_id: str,
    frames: list[pd.DataFrame],
    responses: list[Response],
    expect_new: bool = False,
) -> SeriesLoad:
    frame = pd.concat(frames, ignore_index=True)
    up = warehouse.upsert(ctx.con, warehouse.MARKET_CHART, frame, expect_new=expect_new)
    last = frame["observation_date"].max() if not frame.empty else None
    nbytes = sum(len(r.body) for r in responses)
    return SeriesLoad(
        "coingecko", coin_id, "ok", up.rows, up.inserted, up.updated, last, responses[-1].url, nbytes
    )


# Coins are upserted in batches of about this many rows: a DuckDB transaction that appends at least a
# row group (122,880 rows) writes it compressed to the database file instead of the write-ahead log,
# which with hundreds of coins is most of the load's cost. Batches never change what is loaded:
# a failed coin is reported alone, as before.
COIN_BATCH_ROWS = 150_000
# ... and checkpointed every this many rows, so the memory a checkpoint needs stays bounded.
CHECKPOINT_ROWS = 500_000


@dataclasses.dataclass
class _PreparedCoin:
    """One coin fetched and parsed, waiting for its batch's upsert."""

    coin_id: str
    frame: pd.DataFrame
    responses: list[Response]
    expect_new: bool

    def outcome(self, up: warehouse.UpsertResult) -> SeriesLoad:
        last = self.frame["observation_date"].max() if not self.frame.empty else None
        nbytes = sum(len(r.body) for r in self.responses)
        return SeriesLoad(
            "coingecko",
            self.coin_id,
            "ok",
            up.rows,
            up.inserted,
            up.updated,
            last,
            self.responses[-1].url,
            nbytes,
        )


def _upsert_coins(ctx: LoadContext, prepared: list[_PreparedCoin]) -> dict[str, SeriesLoad | Exception]:
    """Upsert a batch (first-time coins and already-loaded coins separately); if a batch upsert
    fails, every coin of it is upserted on its own so that only the culprit fails."""
    out: dict[str, SeriesLoad | Exception] = {}
    for expect_new in (True, False):
        group = [p for p in prepared if p.expect_new is expect_new]
        if not group:
            continue
        try:
            frame = pd.concat([p.frame for p in group], ignore_index=True)
            counts = warehouse.upsert_per(
                ctx.con, warehouse.MARKET_CHART, frame, "coin_id", expect_new=expect_new
            )
            for p in group:
                out[p.coin_id] = p.outcome(counts.get(p.coin_id, warehouse.UpsertResult(0, 0, 0)))
        except (ValueError, duckdb.Error):
            for p in group:
                try:
                    up = warehouse.upsert(ctx.con, warehouse.MARKET_CHART, p.frame, expect_new=p.expect_new)
                    out[p.coin_id] = p.outcome(up)
                except (ValueError, duckdb.Error) as exc:
                    out[p.coin_id] = exc
    return out


def load_coingecko_market_chart(ctx: LoadContext, coin_ids: list[str] | None = None) -> SourceLoad:
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad("coingecko", ctx.transport.mode)
    coins = list(dict.fromkeys(coin_ids if coin_ids is not None else settings.coins()))
    # Every coin's loaded range in one scan (a query per coin would scan the table once per coin).
    ranges = warehouse.loaded_ranges(ctx.con, warehouse.MARKET_CHART, "coin_id")
    pending: list[tuple[str, _PreparedCoin | Exception]] = []

    def prepare(coin_id: str) -> _PreparedCoin:
        check_coin_id(coin_id)
        last = ranges.get(coin_id, (None, None))[1]
        days = coingecko.market_chart_days(last, ctx.today, ctx.lookback_days, ctx.keys.coingecko_plan)
        start = None if last is None else ctx.window_start(last)
        # The API first: it is the authority on the coin id, so a coin it does not know fails here,
        # clearly and before anything of it is fetched from the export or written.
        try:
            api, api_responses = coingecko.fetch_market_chart(
                ctx.transport, coin_id, days, ctx.keys.coingecko, ctx.keys.coingecko_plan, start
            )
        except HttpError as exc:
            if exc.status == 404 or "coin not found" in exc.reason:
                raise SourceError(
                    "coingecko",
                    coin_id,
                    f"CoinGecko does not know the coin id {coin_id!r} (HTTP {exc.status}: {exc.reason}); "
                    "fix LIQUIDITY_COINS (CoinGecko ids, e.g. bitcoin, ethereum, solana)",
                ) from None
            raise
        frames = [_market_chart_rows(api, coin_id, "api", api_responses)]
        responses = []
        if last is None:
            # First run: the website export backfills the full history the demo API cannot serve.
            try:
                export_resp = ctx.transport.fetch(coingecko.export_request(coin_id))
                export = coingecko.parse_export_csv(export_resp.body, coin_id)
                frames.insert(0, _market_chart_rows(export, coin_id, "export", [export_resp]))
                responses.append(export_resp)
            except ReplayMissing as exc:
                ctx.logger.warning("%s; no backfill beyond the API's range", exc)
        frame = pd.concat(frames, ignore_index=True)
        kind = "full history: website export + API" if last is None else f"incremental, API last {days} days"
        _log_received(ctx, "coingecko", coin_id, frame, kind)
        return _PreparedCoin(coin_id, frame, responses + api_responses, expect_new=last is None)

    def flush() -> None:
        loaded = _upsert_coins(ctx, [item for _, item in pending if isinstance(item, _PreparedCoin)])
        # One transaction for the batch's load_log rows; each coin is reported in the order asked.
        with warehouse.transaction(ctx.con):
            for coin_id, item in pending:
                outcome = loaded.get(coin_id, item)

                def work(outcome=outcome) -> SeriesLoad:
                    if isinstance(outcome, Exception):
                        raise outcome
                    return outcome

                _run_series(ctx, result, "coingecko", coin_id, True, work, total=len(coins))
        pending.clear()

    rows = unchecked = 0
    for coin_id in coins:
        try:
            item: _PreparedCoin | Exception = prepare(coin_id)
        except NetworkUnreachable:
            flush()
            raise
        except Exception as exc:  # reported (or re-raised) by _run_series in flush(), in order
            item = exc
        pending.append((coin_id, item))
        rows += len(item.frame) if isinstance(item, _PreparedCoin) else 0
        if rows >= COIN_BATCH_ROWS:
            flush()
            unchecked += rows
            rows = 0
            if unchecked >= CHECKPOINT_ROWS:
                warehouse.checkpoint(ctx.con)
                unchecked = 0
    flush()
    return _finish(ctx, result, started, req0, bytes0)


def load_coingecko_global(ctx: LoadContext) -> SourceLoad:
    """`/global` snapshot once per run; total-cap history from `/global/market_cap_chart` with a pro
    key (or from the replay snapshot when it has that file)."""
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad("coingecko", ctx.transport.mode)
    pro = ctx.keys.coingecko_plan == "pro" and bool(ctx.keys.coingecko)
    if pro or ctx.transport.mode == "replay":

        def chart() -> SeriesLoad:
            last = warehouse.watermark(ctx.con, warehouse.GLOBAL, {"origin": "market_cap_chart"})
            days = "max" if last is None else (ctx.today - last).days + ctx.lookback_days
            start = None if last is None else ctx.window_start(last)
            resp = ctx.transport.fetch(coingecko.market_cap_chart_request(days, ctx.keys.coingecko))
            frame = _provenance(
                coingecko.parse_market_cap_chart(resp.body, start), [resp], calendar.SNAPSHOT, None
            )
            frame.insert(0, "origin", "market_cap_chart")
            return _observation_load(
                ctx,
                warehouse.GLOBAL,
                "coingecko",
                "global_market_cap_chart",
                frame,
                [resp],
                expect_new=last is None,
            )

        _run_series(ctx, result, "coingecko", "global_market_cap_chart", pro, chart)
    else:
        result.series.append(
            SeriesLoad(
                "coingecko",
                "global_market_cap_chart",
                "skipped",
                message="coingecko global_market_cap_chart: paid endpoint, needs "
                "COINGECKO_PLAN=pro and COINGECKO_API_KEY",
                required=False,
            )
        )

    def snapshot() -> SeriesLoad:
        resp = ctx.transport.fetch(coingecko.global_request(ctx.keys.coingecko, ctx.keys.coingecko_plan))
        frame = _provenance(coingecko.parse_global(resp.body), [resp], calendar.SNAPSHOT, None)
        frame.insert(0, "origin", "global_snapshot")
        return _observation_load(ctx, warehouse.GLOBAL, "coingecko", "global", frame, [resp])

    # Live: required on demo, where /global is the only total-cap source; with pro the chart has the history.
    _run_series(ctx, result, "coingecko", "global", ctx.transport.mode == "live" and not pro, snapshot)
    return _finish(ctx, result, started, req0, bytes0)


def _treasury_dts_rows(
    ctx: LoadContext, start: dt.date | None, end: dt.date | None
) -> tuple[pd.DataFrame, list[Response]]:
    """Every page of the DTS answer for [start, end], each page's rows with that page's provenance
    (URL, sha256) and the DTS release date (catalog rule of DTS_TGA_CLOSE) as known_on."""
    series = catalog.get(treasury_dts.SOURCE, treasury_dts.CATALOG_SERIES)
    pages = treasury_dts.fetch(ctx.transport, start, end)
    frames = [_provenance(frame, [resp], series.release_rule, series.series_id) for frame, resp in pages]
    return pd.concat(frames, ignore_index=True), [resp for _, resp in pages]


def load_treasury_dts(ctx: LoadContext) -> SourceLoad:
    """The DTS operating cash balance, incremental: from the last record date loaded minus the
    look-back (the DTS is sometimes restated), full history on a first run."""
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad(treasury_dts.SOURCE, ctx.transport.mode)

    def work() -> SeriesLoad:
        last = warehouse.watermark(ctx.con, warehouse.TREASURY_DTS, {})
        start = ctx.window_start(last)
        frame, responses = _treasury_dts_rows(ctx, start, None)
        _log_received(ctx, treasury_dts.SOURCE, treasury_dts.DATASET, frame, _fetch_kind(last, start))
        return _observation_load(
            ctx,
            warehouse.TREASURY_DTS,
            treasury_dts.SOURCE,
            treasury_dts.DATASET,
            frame,
            responses,
            expect_new=last is None,
        )

    _run_series(ctx, result, treasury_dts.SOURCE, treasury_dts.DATASET, True, work)
    return _finish(ctx, result, started, req0, bytes0)


LOADERS: dict[str, Callable[[LoadContext], SourceLoad]] = {
    "fred_observations": load_fred,
    "fed_ddp_observations": load_fed_ddp,
    "coingecko_market_chart": load_coingecko_market_chart,
    "coingecko_global": load_coingecko_global,
    "treasury_dts_cash_balance": load_treasury_dts,
}


def build_transport(**live_options) -> Transport:
    keys = settings.api_keys()
    install_log_redaction(keys.secrets())
    return make_transport(settings.replay_dir(), settings.landing_dir(), **live_options)


def replay_today() -> dt.date | None:
    """In replay mode 'today' is the snapshot's cut date when the folder is named after it."""
    root = settings.replay_dir()
    return None if root is None else cut_date(root)


def context(
    con: duckdb.DuckDBPyConnection,
    transport: Transport,
    run_id: str | None = None,
    keys: settings.ApiKeys | None = None,
    logger: logging.Logger | None = None,
) -> LoadContext:
    today = replay_today() or dt.datetime.now(dt.UTC).date()
    return LoadContext(
        con=con,
        transport=transport,
        today=today,
        run_id=run_id or uuid.uuid4().hex[:12],
        keys=keys or settings.api_keys(),
        start=settings.history_start(),
        logger=logger or log,
    )


def load_all(run_id: str | None = None) -> list[SourceLoad]:
    transport = build_transport()
    results = []
    with warehouse.connect() as con:
        warehouse.write_catalog(con)
        ctx = context(con, transport, run_id)
        for loader in LOADERS.values():
            results.append(loader(ctx))
    return results


BACKFILL_SOURCES = ("fred", "fed_ddp", "coingecko", "treasury_dts")


def _as_date(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, not {str(value)[:40]!r}") from None


def check_backfill(source: str, series_id: str, start, end) -> tuple[catalog.Series | None, dt.date, dt.date]:
    """Validate a backfill request before anything is opened or fetched.

    fred / fed_ddp: the id must be a catalog series of that source; coingecko: a configured coin id
    (LIQUIDITY_COINS); treasury_dts: its dataset, operating_cash_balance (every row of Table I).
    Returns (catalog series or None for a coin or the DTS, start, end)."""
    if source not in BACKFILL_SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(BACKFILL_SOURCES)}")
    first, last = _as_date(start, "start"), _as_date(end, "end")
    if first > last:
        raise ValueError(f"start {first} is after end {last}")
    if source == "coingecko":
        check_coin_id(series_id)
        if series_id not in settings.coins():
            raise ValueError(
                f"coingecko {series_id}: not a configured coin (LIQUIDITY_COINS={','.join(settings.coins())})"
            )
        return None, first, last
    if source == treasury_dts.SOURCE:
        if series_id != treasury_dts.DATASET:
            raise ValueError(f"treasury_dts {series_id[:40]!r}: the only dataset is {treasury_dts.DATASET}")
        return None, first, last
    check_series_id(series_id)
    try:
        series = catalog.get(source, series_id)
    except KeyError:
        known = ", ".join(s.series_id for s in catalog.series_for(source))
        raise ValueError(f"{source} {series_id}: not in ingest/series_catalog.csv (known: {known})") from None
    return series, first, last


def _backfill_fred(ctx: LoadContext, series: catalog.Series, start: dt.date, end: dt.date) -> SeriesLoad:
    frame, responses = fred.fetch(ctx.transport, series, start, end, ctx.keys.fred)
    frame = _provenance(frame, responses, series.release_rule, series.series_id)
    return _observation_load(ctx, warehouse.FRED, "fred", series.series_id, frame, responses)


def _backfill_fed_ddp(ctx: LoadContext, series: catalog.Series, start: dt.date, end: dt.date) -> SeriesLoad:
    # The DDP serves whole packages: ask the series' release for [start, end], keep only this series.
    frame, responses = fed_ddp.fetch(ctx.transport, series.dataset, [series], start, end)
    frame = frame[frame["series_id"] == series.series_id].reset_index(drop=True)
    frame = _provenance(frame, responses, series.release_rule, series.series_id)
    return _observation_load(
        ctx, warehouse.FED_DDP, "fed_ddp", series.series_id, frame, responses, {"release": series.dataset}
    )


def _backfill_treasury_dts(ctx: LoadContext, start: dt.date, end: dt.date) -> SeriesLoad:
    frame, responses = _treasury_dts_rows(ctx, start, end)
    return _observation_load(
        ctx, warehouse.TREASURY_DTS, treasury_dts.SOURCE, treasury_dts.DATASET, frame, responses
    )


def _backfill_coingecko(ctx: LoadContext, coin_id: str, start: dt.date, end: dt.date) -> SeriesLoad:
    """The API part of the window (all of it on pro; the last 365 days on demo) as origin `api`;
    what the demo API cannot serve from the website export as origin `export`."""
    plan = ctx.keys.coingecko_plan
    api_first = None if plan == "pro" else ctx.today - dt.timedelta(days=coingecko.DEMO_MAX_DAYS - 1)
    frames, responses = [], []
    if api_first is not None and start < api_first:
        export_resp = ctx.transport.fetch(coingecko.export_request(coin_id))
        export = window(coingecko.parse_export_csv(export_resp.body, coin_id, start), None, end)
        frames.append(_market_chart_rows(export, coin_id, "export", [export_resp]))
        responses.append(export_resp)
    if api_first is None or end >= api_first:
        days = max((ctx.today - start).days + 1, 1)
        api, api_responses = coingecko.fetch_market_chart(
            ctx.transport, coin_id, days, ctx.keys.coingecko, plan, start
        )
        api = window(api, None, end)
        frames.append(_market_chart_rows(api, coin_id, "api", api_responses))
        responses += api_responses
    return _upsert_market_chart(ctx, coin_id, frames, responses)


def backfill(
    source: str,
    series_id: str,
    start: dt.date | str,
    end: dt.date | str,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
    transport: Transport | None = None,
    keys: settings.ApiKeys | None = None,
    run_id: str | None = None,
    logger: logging.Logger | None = None,
) -> SeriesLoad:
    """Re-ingest exactly [start, end] of one series and upsert it (revisions update, nothing duplicated).

    `source` is fred, fed_ddp or coingecko (`series_id` a coin id). The id is checked against the
    catalog before any connection or request. Without `con` the warehouse is opened here (taking
    the single-writer lock); without `transport` the usual live/replay transport is built. A failed
    fetch is logged and recorded in raw.load_log and returned with status `failed`.
    """
    series, first, last = check_backfill(source, series_id, start, end)
    (logger or log).info("backfill %s %s %s..%s: fetching", source, series_id, first, last)
    if con is None:
        with warehouse.connect() as own:
            return backfill(
                source,
                series_id,
                first,
                last,
                con=own,
                transport=transport,
                keys=keys,
                run_id=run_id,
                logger=logger,
            )
    ctx = context(con, transport or build_transport(), run_id, keys, logger)
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad(source, ctx.transport.mode)

    def work() -> SeriesLoad:
        if source == "fred":
            loaded = _backfill_fred(ctx, series, first, last)
        elif source == "fed_ddp":
            loaded = _backfill_fed_ddp(ctx, series, first, last)
        elif source == treasury_dts.SOURCE:
            loaded = _backfill_treasury_dts(ctx, first, last)
        else:
            loaded = _backfill_coingecko(ctx, series_id, first, last)
        loaded.message = f"backfill {first}..{last}"
        return loaded

    _run_series(ctx, result, source, series_id, True, work)
    _finish(ctx, result, started, req0, bytes0)
    outcome = result.series[-1]
    ctx.logger.info(
        "backfill %s %s %s..%s: %s, %d rows in window, %d inserted, %d updated, %d requests, %.2fs",
        source,
        series_id,
        first,
        last,
        outcome.status,
        outcome.rows,
        outcome.inserted,
        outcome.updated,
        result.requests,
        result.seconds,
    )
    return outcome


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        results = load_all()
    except NetworkUnreachable as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    failed = False
    for res in results:
        print(
            f"{res.source:10s} {res.mode:6s} requests={res.requests} bytes={res.bytes} seconds={res.seconds:.2f}"
        )
        for s in res.series:
            print(
                f"  {s.series:28s} {s.status:7s} rows={s.rows} inserted={s.inserted} updated={s.updated} "
                f"last={s.last_date} {s.message}"
            )
        failed |= bool(res.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
