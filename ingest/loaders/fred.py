"""raw.fred_observations: every FRED series of the catalog (fredgraph.csv, or the API with a key)."""

from __future__ import annotations

import pandas as pd

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
            newest = None
            if window is not None:
                windows, last = [(*window, loading.backfill_note(window))], None
            else:
                first, last = warehouse.loaded_range(ctx.con, TABLE.spec, {"series_id": series.series_id})
                windows = ctx.series_windows(series, first, last)
                newest = ctx.up_to_date(last, series)
                if newest is not None:
                    # Nothing new before its next release: only a history backfill (a bounded window) is due.
                    windows = [w for w in windows if w[1] is not None]
                    if not windows:
                        return loading.up_to_date_load(ctx, "fred", series.series_id, last, newest)
            frames, responses = [], []
            for start, end, note in windows:
                frame, got = fred.fetch(ctx.transport, series, start, end, ctx.keys.fred)
                if window is None:
                    kind = loading.fetch_kind(last, start, note)
                    loading.log_received(ctx, "fred", series.series_id, frame, kind)
                # Each window's rows name the payload they came from.
                frames.append(loading.provenance(frame, got, series.release_rule, series.series_id))
                responses += got
            if frame.empty and series.required and window is None and end is None:
                # The (last) window always reaches back before the last loaded observation: an empty
                # body of a required series is a damaged or changed file, not "nothing new".
                raise PayloadError("fred", series.series_id, f"no observation from {start} on in the body")
            frame = pd.concat([f for f in frames if not f.empty] or frames[-1:], ignore_index=True)
            loaded = loading.observation_load(
                ctx,
                TABLE.spec,
                "fred",
                series.series_id,
                frame,
                responses,
                expect_new=window is None and last is None,
            )
            loaded.message = "; ".join(note for *_, note in windows if note)
            if newest is not None:
                loaded.last_date = last
            return loaded

        required = series.required or window is not None
        loading.run_series(ctx, result, TABLE.source, series.series_id, required, work, total=len(wanted))
    return loading.finish(ctx, result, started, req0, bytes0)
