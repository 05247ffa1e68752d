"""raw.treasury_dts_cash_balance: the Daily Treasury Statement's Table I (operating cash balance)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ingest import catalog, loading, registry, treasury_dts, warehouse
from ingest.loading import LoadContext, SeriesLoad, SourceLoad, Window
from ingest.transport import Response

TABLE = registry.get("treasury_dts_cash_balance")


def _treasury_dts_rows(
    ctx: LoadContext, start: dt.date | None, end: dt.date | None
) -> tuple[pd.DataFrame, list[Response]]:
    """Every page of the DTS TGA balance rows for [start, end] (`treasury_dts.fetch_tga`), each
    page's rows with that page's provenance (URL, sha256) and the DTS release date (catalog rule of
    DTS_TGA_CLOSE) as known_on. The responses are the probe's (if asked) and then the pages': the
    load log counts the bytes of all and names the last page's URL."""
    series = catalog.get(treasury_dts.SOURCE, treasury_dts.CATALOG_SERIES)
    pages, probe = treasury_dts.fetch_tga(ctx.transport, start, end)
    frames = [
        loading.provenance(frame, [resp], series.release_rule, series.series_id) for frame, resp in pages
    ]
    responses = [resp for _, resp in pages]
    return pd.concat(frames, ignore_index=True), [probe, *responses] if probe else responses


def load(ctx: LoadContext, only: list[str] | None = None, window: Window = None) -> SourceLoad:
    """The DTS TGA balance rows, incremental: from the last record date loaded minus the look-back
    (the DTS is sometimes restated), full history on a first run."""
    started, req0, bytes0 = loading.counters(ctx)
    result = SourceLoad(TABLE.source, ctx.transport.mode)

    def work() -> SeriesLoad:
        if window is not None:
            frame, responses = _treasury_dts_rows(ctx, *window)
            loaded = loading.observation_load(
                ctx, TABLE.spec, TABLE.source, treasury_dts.DATASET, frame, responses
            )
            loaded.message = loading.backfill_note(window)
            return loaded
        last = warehouse.watermark(ctx.con, TABLE.spec, {})
        series = catalog.get(treasury_dts.SOURCE, treasury_dts.CATALOG_SERIES)
        newest = ctx.up_to_date(last, series)
        if newest is not None:
            return loading.up_to_date_load(ctx, TABLE.source, treasury_dts.DATASET, last, newest)
        start = ctx.window_start(last, series.release_rule)
        frame, responses = _treasury_dts_rows(ctx, start, None)
        loading.log_received(ctx, TABLE.source, treasury_dts.DATASET, frame, loading.fetch_kind(last, start))
        return loading.observation_load(
            ctx, TABLE.spec, TABLE.source, treasury_dts.DATASET, frame, responses, expect_new=last is None
        )

    loading.run_series(ctx, result, TABLE.source, treasury_dts.DATASET, True, work)
    return loading.finish(ctx, result, started, req0, bytes0)
