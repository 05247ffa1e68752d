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

from ingest import calendar, catalog, coingecko, fed_ddp, fred, settings, warehouse
from ingest.errors import InvalidIdentifier, NetworkUnreachable, SourceError
from ingest.transport import ReplayMissing, Response, Transport, install_log_redaction, make_transport

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
HISTORY_TOLERANCE = {"daily": dt.timedelta(days=6), "weekly": dt.timedelta(days=7), "quarterly": dt.timedelta(days=92)}


@dataclasses.dataclass(frozen=True)
class LoadContext:
    con: duckdb.DuckDBPyConnection
    transport: Transport
    today: dt.date
    run_id: str
    keys: settings.ApiKeys
    start: dt.date
    lookback_days: int = settings.LOOKBACK_DAYS

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
                return self.start, f"history backfill: loaded history began {first}, the source's on {expected}"
        return self.window_start(last), ""

    def window_start(self, last_loaded: dt.date | None) -> dt.date:
        if last_loaded is None:
            return self.start
        return max(self.start, last_loaded - dt.timedelta(days=self.lookback_days))


def _provenance(
    frame: pd.DataFrame, responses: list[Response], rule: str, series_id: str | None
) -> pd.DataFrame:
    main = responses[-1]
    frame = frame.copy()
    dates = frame["observation_date"]
    known = {d: calendar.known_on(rule, d, series_id) for d in dates.unique()}
    frame["known_on"] = dates.map(known)
    frame["fetched_at"] = main.fetched_at
    frame["source_url"] = main.url
    frame["payload_sha256"] = main.sha256
    return frame


def _run_series(
    ctx: LoadContext,
    result: SourceLoad,
    source: str,
    series: str,
    required: bool,
    work: Callable[[], SeriesLoad],
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
        outcome = SeriesLoad(source, series, "failed", message=message, required=required)
    if outcome.status == "failed":
        log.error("%s", outcome.message)
    elif outcome.status == "skipped":
        log.warning("%s (skipped, optional)", outcome.message)
    else:
        log.info(
            "%s %s: %d rows in payload, %d inserted, %d updated, last %s",
            source,
            series,
            outcome.rows,
            outcome.inserted,
            outcome.updated,
            outcome.last_date,
        )
    result.series.append(outcome)
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


def _observation_load(ctx, spec, source, series_id, frame, responses, extra=None) -> SeriesLoad:
    if extra:
        for column, value in extra.items():
            frame.insert(0, column, value)
    up = warehouse.upsert(ctx.con, spec, frame)
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
            frame = _provenance(frame, responses, series.release_rule, series.series_id)
            loaded = _observation_load(ctx, warehouse.FRED, "fred", series.series_id, frame, responses)
            loaded.message = note
            return loaded

        _run_series(ctx, result, "fred", series.series_id, series.required, work)
    return _finish(ctx, result, started, req0, bytes0)


def load_fed_ddp(ctx: LoadContext) -> SourceLoad:
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad("fed_ddp", ctx.transport.mode)
    for release in ("H41", "H8"):
        wanted = catalog.series_for("fed_ddp", release)

        def work(release=release, wanted=wanted) -> SeriesLoad:
            marks = [
                warehouse.watermark(ctx.con, warehouse.FED_DDP, {"series_id": s.series_id}) for s in wanted
            ]
            last = min((m for m in marks if m is not None), default=None) if all(marks) else None
            start = ctx.window_start(last)
            frame, responses = fed_ddp.fetch(ctx.transport, release, wanted, start, None)
            rules = {s.series_id: s.release_rule for s in wanted}
            parts = [
                _provenance(part, responses, rules[sid], sid)
                for sid, part in frame.groupby("series_id", sort=True)
            ]
            frame = pd.concat(parts, ignore_index=True) if parts else frame
            loaded = _observation_load(
                ctx, warehouse.FED_DDP, "fed_ddp", release, frame, responses, {"release": release}
            )
            present = sorted(frame["series_id"].unique()) if not frame.empty else []
            absent = [s.series_id for s in wanted if s.series_id not in present]
            if absent:
                loaded.message = f"not in this {release} file (optional): {', '.join(absent)}"
            return loaded

        _run_series(ctx, result, "fed_ddp", release, True, work)
    return _finish(ctx, result, started, req0, bytes0)


def _market_chart_rows(
    frame: pd.DataFrame, coin_id: str, origin: str, responses: list[Response]
) -> pd.DataFrame:
    frame = _provenance(frame, responses, "same_day", None)
    frame.insert(0, "origin", origin)
    frame.insert(0, "coin_id", coin_id)
    return frame


def load_coingecko_market_chart(ctx: LoadContext, coin_ids: list[str] | None = None) -> SourceLoad:
    started, req0, bytes0 = _counters(ctx)
    result = SourceLoad("coingecko", ctx.transport.mode)
    for coin_id in coin_ids if coin_ids is not None else settings.coins():

        def work(coin_id=coin_id) -> SeriesLoad:
            from ingest.errors import check_coin_id

            check_coin_id(coin_id)
            last = warehouse.watermark(ctx.con, warehouse.MARKET_CHART, {"coin_id": coin_id})
            frames, responses = [], []
            if last is None:
                # First run: the website export backfills the full history the demo API cannot serve.
                try:
                    export_resp = ctx.transport.fetch(coingecko.export_request(coin_id))
                    export = coingecko.parse_export_csv(export_resp.body, coin_id)
                    frames.append(_market_chart_rows(export, coin_id, "export", [export_resp]))
                    responses.append(export_resp)
                except ReplayMissing as exc:
                    log.warning("%s; no backfill beyond the API's range", exc)
            days = coingecko.market_chart_days(last, ctx.today, ctx.lookback_days, ctx.keys.coingecko_plan)
            start = None if last is None else ctx.window_start(last)
            api, api_responses = coingecko.fetch_market_chart(
                ctx.transport, coin_id, days, ctx.keys.coingecko, ctx.keys.coingecko_plan, start
            )
            frames.append(_market_chart_rows(api, coin_id, "api", api_responses))
            responses += api_responses
            frame = pd.concat(frames, ignore_index=True)
            up = warehouse.upsert(ctx.con, warehouse.MARKET_CHART, frame)
            return SeriesLoad(
                "coingecko",
                coin_id,
                "ok",
                up.rows,
                up.inserted,
                up.updated,
                frame["observation_date"].max(),
                api_responses[-1].url,
                sum(len(r.body) for r in responses),
            )

        _run_series(ctx, result, "coingecko", coin_id, True, work)
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
            frame = _provenance(coingecko.parse_market_cap_chart(resp.body, start), [resp], "same_day", None)
            frame.insert(0, "origin", "market_cap_chart")
            return _observation_load(
                ctx, warehouse.GLOBAL, "coingecko", "global_market_cap_chart", frame, [resp]
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
        frame = _provenance(coingecko.parse_global(resp.body), [resp], "same_day", None)
        frame.insert(0, "origin", "global_snapshot")
        return _observation_load(ctx, warehouse.GLOBAL, "coingecko", "global", frame, [resp])

    _run_series(ctx, result, "coingecko", "global", ctx.transport.mode == "live", snapshot)
    return _finish(ctx, result, started, req0, bytes0)


LOADERS: dict[str, Callable[[LoadContext], SourceLoad]] = {
    "fred_observations": load_fred,
    "fed_ddp_observations": load_fed_ddp,
    "coingecko_market_chart": load_coingecko_market_chart,
    "coingecko_global": load_coingecko_global,
}


def build_transport(**live_options) -> Transport:
    keys = settings.api_keys()
    install_log_redaction(keys.secrets())
    return make_transport(settings.replay_dir(), settings.landing_dir(), **live_options)


def replay_today() -> dt.date | None:
    """In replay mode 'today' is the snapshot's cut date when the folder is named after it."""
    root = settings.replay_dir()
    if root is None:
        return None
    try:
        return dt.date.fromisoformat(root.name)
    except ValueError:
        return None


def context(
    con: duckdb.DuckDBPyConnection,
    transport: Transport,
    run_id: str | None = None,
    keys: settings.ApiKeys | None = None,
) -> LoadContext:
    today = replay_today() or dt.datetime.now(dt.UTC).date()
    return LoadContext(
        con=con,
        transport=transport,
        today=today,
        run_id=run_id or uuid.uuid4().hex[:12],
        keys=keys or settings.api_keys(),
        start=dt.date.fromisoformat(settings.history_start()),
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
