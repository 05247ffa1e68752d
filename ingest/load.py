"""Load each source into the raw layer: incremental by watermark, one transaction per series.

Plain Python (no Dagster): `python -m ingest.load` loads every raw table of the registry
(`ingest/registry.py`) once, and the Dagster assets call the same loaders (`run`). Each loader is a
module in `ingest/loaders/`; the shared machinery (result types, windows, provenance) is in
`ingest/loading.py`. A series that fails (HTTP error, bad payload) is reported with source, series
and reason, leaves the warehouse as it was, and does not stop the other series; an unreachable
network stops the source at once with one line naming LIQUIDITY_REPLAY_DIR. A backfill is the same
loader asked for an explicit window (`backfill`).
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import uuid

import duckdb

from ingest import catalog, registry, settings, treasury_dts, warehouse
from ingest.errors import NetworkUnreachable, check_coin_id, check_series_id
from ingest.loading import LoadContext, SeriesLoad, SourceLoad, Window, log
from ingest.transport import Transport, cut_date, install_log_redaction, make_transport

__all__ = [
    "LoadContext",
    "SeriesLoad",
    "SourceLoad",
    "backfill",
    "check_backfill",
    "context",
    "load_all",
    "run",
]


def run(name: str, ctx: LoadContext, only: list[str] | None = None, window: Window = None) -> SourceLoad:
    """The loader of raw table `name` (registry): incremental, or exactly `window` for `only` series."""
    return registry.get(name).load_module().load(ctx, only=only, window=window)


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
    fetch_when_due: bool = False,
) -> LoadContext:
    """In replay the clock is the end of the snapshot's cut day (UTC); live, the wall clock."""
    cut = replay_today()
    now = None if cut else dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return LoadContext(
        con=con,
        transport=transport,
        today=cut or now.date(),
        run_id=run_id or uuid.uuid4().hex[:12],
        keys=keys or settings.api_keys(),
        start=settings.history_start(),
        logger=logger or log,
        now=now,
        fetch_when_due=fetch_when_due,
    )


def load_all(run_id: str | None = None, fetch_when_due: bool = False) -> list[SourceLoad]:
    transport = build_transport()
    results = []
    with warehouse.connect() as con:
        warehouse.write_catalog(con)
        ctx = context(con, transport, run_id, fetch_when_due=fetch_when_due)
        for table in registry.RAW_TABLES:
            results.append(run(table.name, ctx))
    return results


BACKFILL_SOURCES = tuple(registry.BACKFILL)


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
    (LIQUIDITY_COINS); treasury_dts: its dataset, operating_cash_balance (Table I's TGA balance rows).
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

    `source` is a registry source with a backfill (fred, fed_ddp, coingecko with a coin id as
    `series_id`, treasury_dts): the same loader as the incremental load, asked for exactly that
    window. The id is checked against the catalog before any connection or request. Without `con` the warehouse is opened here (taking
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
    table = registry.BACKFILL[source]
    result = run(table.name, ctx, only=[series_id], window=(first, last))
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
