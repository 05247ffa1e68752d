"""raw.coingecko_global: total crypto market cap (the /global snapshot, and the market-cap history of
/global/market_cap_chart with a pro key). No backfill: the snapshot has no date range."""

from __future__ import annotations

from ingest import calendar, coingecko, loading, registry, warehouse
from ingest.loading import LoadContext, SeriesLoad, SourceLoad, Window

TABLE = registry.get("coingecko_global")


def load(ctx: LoadContext, only: list[str] | None = None, window: Window = None) -> SourceLoad:
    """`/global` snapshot once per run; total-cap history from `/global/market_cap_chart` with a pro
    key (or from the replay snapshot when it has that file)."""
    started, req0, bytes0 = loading.counters(ctx)
    result = SourceLoad("coingecko", ctx.transport.mode)
    pro = ctx.keys.coingecko_plan == "pro" and bool(ctx.keys.coingecko)
    if pro or ctx.transport.mode == "replay":

        def chart() -> SeriesLoad:
            last = warehouse.watermark(ctx.con, TABLE.spec, {"origin": "market_cap_chart"})
            days = "max" if last is None else (ctx.today - last).days + ctx.lookback_days(calendar.SNAPSHOT)
            start = None if last is None else ctx.window_start(last, calendar.SNAPSHOT)
            resp = ctx.transport.fetch(coingecko.market_cap_chart_request(days, ctx.keys.coingecko))
            frame = loading.provenance(
                coingecko.parse_market_cap_chart(resp.body, start), [resp], calendar.SNAPSHOT, None
            )
            frame.insert(0, "origin", "market_cap_chart")
            return loading.observation_load(
                ctx,
                TABLE.spec,
                "coingecko",
                "global_market_cap_chart",
                frame,
                [resp],
                expect_new=last is None,
            )

        loading.run_series(ctx, result, "coingecko", "global_market_cap_chart", pro, chart)
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
        frame = loading.provenance(coingecko.parse_global(resp.body), [resp], calendar.SNAPSHOT, None)
        frame.insert(0, "origin", "global_snapshot")
        return loading.observation_load(ctx, TABLE.spec, "coingecko", "global", frame, [resp])

    # Live: required on demo, where /global is the only total-cap source; with pro the chart has the history.
    loading.run_series(ctx, result, "coingecko", "global", ctx.transport.mode == "live" and not pro, snapshot)
    return loading.finish(ctx, result, started, req0, bytes0)
