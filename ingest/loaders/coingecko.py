"""raw.coingecko_market_chart: daily price, market cap and volume of every configured coin (the API's
market_chart, with the website export for the history the demo API cannot serve)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import pandas as pd

from ingest import calendar, coingecko, loading, registry, settings, warehouse
from ingest.errors import HttpError, NetworkUnreachable, SourceError, check_coin_id
from ingest.loading import LoadContext, SeriesLoad, SourceLoad, Window
from ingest.parsing import window as date_window
from ingest.transport import ReplayMissing, Response

TABLE = registry.get("coingecko_market_chart")


def _market_chart_rows(
    frame: pd.DataFrame, coin_id: str, origin: str, responses: list[Response]
) -> pd.DataFrame:
    frame = loading.provenance(frame, responses, calendar.SNAPSHOT, None)
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
    up = warehouse.upsert(ctx.con, TABLE.spec, frame, expect_new=expect_new)
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
            counts = warehouse.upsert_per(ctx.con, TABLE.spec, frame, "coin_id", expect_new=expect_new)
            for p in group:
                out[p.coin_id] = p.outcome(counts.get(p.coin_id, warehouse.UpsertResult(0, 0, 0)))
        except (ValueError, duckdb.Error):
            for p in group:
                try:
                    up = warehouse.upsert(ctx.con, TABLE.spec, p.frame, expect_new=p.expect_new)
                    out[p.coin_id] = p.outcome(up)
                except (ValueError, duckdb.Error) as exc:
                    out[p.coin_id] = exc
    return out


def load(ctx: LoadContext, only: list[str] | None = None, window: Window = None) -> SourceLoad:
    started, req0, bytes0 = loading.counters(ctx)
    result = SourceLoad("coingecko", ctx.transport.mode)
    coins = list(dict.fromkeys(only if only is not None else settings.coins()))
    if window is not None:
        for coin_id in coins:

            def backfill(coin_id=coin_id) -> SeriesLoad:
                loaded = _backfill_coin(ctx, coin_id, *window)
                loaded.message = loading.backfill_note(window)
                return loaded

            loading.run_series(ctx, result, "coingecko", coin_id, True, backfill, total=len(coins))
        return loading.finish(ctx, result, started, req0, bytes0)
    # Every coin's loaded range in one scan (a query per coin would scan the table once per coin).
    ranges = warehouse.loaded_ranges(ctx.con, TABLE.spec, "coin_id")
    pending: list[tuple[str, _PreparedCoin | SeriesLoad | Exception]] = []

    def prepare(coin_id: str) -> _PreparedCoin | SeriesLoad:
        check_coin_id(coin_id)
        last = ranges.get(coin_id, (None, None))[1]
        newest = ctx.up_to_date(last)  # today's 00:00 UTC point is loaded: nothing new before tomorrow's
        if newest is not None:
            return loading.up_to_date_load(ctx, "coingecko", coin_id, last, newest)
        days = coingecko.market_chart_days(
            last, ctx.today, ctx.lookback_days(calendar.SNAPSHOT), ctx.keys.coingecko_plan
        )
        start = None if last is None else ctx.window_start(last, calendar.SNAPSHOT)
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
        loading.log_received(ctx, "coingecko", coin_id, frame, kind)
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

                loading.run_series(ctx, result, "coingecko", coin_id, True, work, total=len(coins))
        pending.clear()

    rows = unchecked = 0
    for coin_id in coins:
        try:
            item: _PreparedCoin | SeriesLoad | Exception = prepare(coin_id)
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
    return loading.finish(ctx, result, started, req0, bytes0)


def _backfill_coin(ctx: LoadContext, coin_id: str, start: dt.date, end: dt.date) -> SeriesLoad:
    """The API part of the window (all of it on pro; the last 365 days on demo) as origin `api`;
    what the demo API cannot serve from the website export as origin `export`."""
    plan = ctx.keys.coingecko_plan
    api_first = None if plan == "pro" else ctx.today - dt.timedelta(days=coingecko.DEMO_MAX_DAYS - 1)
    frames, responses = [], []
    if api_first is not None and start < api_first:
        export_resp = ctx.transport.fetch(coingecko.export_request(coin_id))
        export = date_window(coingecko.parse_export_csv(export_resp.body, coin_id, start), None, end)
        frames.append(_market_chart_rows(export, coin_id, "export", [export_resp]))
        responses.append(export_resp)
    if api_first is None or end >= api_first:
        days = max((ctx.today - start).days + 1, 1)
        api, api_responses = coingecko.fetch_market_chart(
            ctx.transport, coin_id, days, ctx.keys.coingecko, plan, start
        )
        api = date_window(api, None, end)
        frames.append(_market_chart_rows(api, coin_id, "api", api_responses))
        responses += api_responses
    return _upsert_market_chart(ctx, coin_id, frames, responses)
