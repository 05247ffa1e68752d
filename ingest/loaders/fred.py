"""raw.fred_observations: every FRED series of the catalog (fredgraph.csv, or the API with a key)."""

from __future__ import annotations

from ingest import catalog, fred, loading, registry, warehouse
from ingest.errors import PayloadError
from ingest.loading import LoadContext, SeriesLoad, SourceLoad, Window

TABLE = registry.get("fred_observations")


def load(ctx: LoadContext, only: list[str] | None = None, window: Window = None) -> SourceLoad:
    started, req0, bytes0 = loading.counters(ctx)
    result = SourceLoad(TABLE.source, ctx.transport.mode)
    wanted = catalog.series_for(TABLE.source)
    if only is not None:
        wanted = [s for s in wanted if s.series_id in only]
    for series in wanted:

        def work(series=series) -> SeriesLoad:
            if window is not None:
                (start, end), last, note = window, None, loading.backfill_note(window)
            else:
                first, last = warehouse.loaded_range(ctx.con, TABLE.spec, {"series_id": series.series_id})
                (start, note), end = ctx.series_window(series, first, last), None
            frame, responses = fred.fetch(ctx.transport, series, start, end, ctx.keys.fred)
            if frame.empty and series.required and window is None:
                # The window always reaches back before the last loaded observation: an empty body of
                # a required series is a damaged or changed file, not "nothing new".
                raise PayloadError("fred", series.series_id, f"no observation from {start} on in the body")
            frame = loading.provenance(frame, responses, series.release_rule, series.series_id)
            if window is None:
                loading.log_received(
                    ctx, "fred", series.series_id, frame, loading.fetch_kind(last, start, note)
                )
            loaded = loading.observation_load(
                ctx,
                TABLE.spec,
                "fred",
                series.series_id,
                frame,
                responses,
                expect_new=window is None and last is None,
            )
            loaded.message = note
            return loaded

        required = series.required or window is not None
        loading.run_series(ctx, result, TABLE.source, series.series_id, required, work, total=len(wanted))
    return loading.finish(ctx, result, started, req0, bytes0)
