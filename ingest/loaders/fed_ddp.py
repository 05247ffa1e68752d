"""raw.fed_ddp_observations: the catalog's series of the Fed's DDP packages (H.4.1, H.8)."""

from __future__ import annotations

import pandas as pd

from ingest import catalog, fed_ddp, loading, registry, warehouse
from ingest.loading import LoadContext, SeriesLoad, SourceLoad, Window

TABLE = registry.get("fed_ddp_observations")
RELEASES = ("H41", "H8")


def _rows(
    ctx: LoadContext, release: str, wanted: list[catalog.Series], start, end, labels: bool = True
) -> tuple[pd.DataFrame, list]:
    frame, responses = fed_ddp.fetch(ctx.transport, release, wanted, start, end, labels)
    rules = {s.series_id: s.release_rule for s in wanted}
    parts = [
        loading.provenance(part, responses, rules[sid], sid)
        for sid, part in frame.groupby("series_id", sort=True)
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else frame
    frame.insert(0, "release", release)
    return frame, responses


def load(ctx: LoadContext, only: list[str] | None = None, window: Window = None) -> SourceLoad:
    started, req0, bytes0 = loading.counters(ctx)
    result = SourceLoad(TABLE.source, ctx.transport.mode)
    if window is not None:
        # The DDP serves whole packages: ask each series' release for the window, keep only that series.
        wanted = [s for s in catalog.series_for(TABLE.source) if only is None or s.series_id in only]
        for series in wanted:

            def backfill(series=series) -> SeriesLoad:
                frame, responses = _rows(ctx, series.dataset, [series], *window)
                frame = frame[frame["series_id"] == series.series_id].reset_index(drop=True)
                loaded = loading.observation_load(
                    ctx, TABLE.spec, TABLE.source, series.series_id, frame, responses
                )
                loaded.message = loading.backfill_note(window)
                return loaded

            loading.run_series(ctx, result, TABLE.source, series.series_id, True, backfill, total=len(wanted))
        return loading.finish(ctx, result, started, req0, bytes0)
    for release in RELEASES:
        wanted = catalog.series_for(TABLE.source, release)
        gone: dict[str, dict] = {}

        def work(release=release, wanted=wanted, gone=gone) -> SeriesLoad:
            marks = [warehouse.watermark(ctx.con, TABLE.spec, {"series_id": s.series_id}) for s in wanted]
            # Every series of a release shares its dates, so the newest watermark is the release's: a
            # series that stopped (or is absent from this package, e.g. RESPPMA_N.WW in the 2021-23
            # H.4.1 file) neither forces a full reload nor drags every request back to its last date
            # (the `served` and `freshness` checks name it).
            last = max((m for m in marks if m is not None), default=None)
            # The release's series share its calendar: the first one stands for them all.
            newest = ctx.up_to_date(last, wanted[0])
            if newest is not None:
                return loading.up_to_date_load(ctx, TABLE.source, release, last, newest)
            start = ctx.window_start(last, wanted[0].release_rule)
            # A release's first load asks for the labelled header, whose units and multipliers are
            # checked; a request that continues its loaded history omits the labels (fed_ddp). A
            # column served for the first time (a series new to the catalog, or back in the package)
            # has not been checked yet: the window is asked again with its labels.
            frame, responses = _rows(ctx, release, wanted, start, None, labels=last is None)
            unchecked = {s.series_id for s, mark in zip(wanted, marks, strict=True) if mark is None}
            if last is not None and unchecked & set(frame["series_id"]):
                frame, responses = _rows(ctx, release, wanted, start, None, labels=True)
            loading.log_received(ctx, TABLE.source, release, frame, loading.fetch_kind(last, start))
            loaded = loading.observation_load(
                ctx, TABLE.spec, TABLE.source, release, frame, responses, expect_new=last is None
            )
            present = set(frame["series_id"].unique()) if not frame.empty else set()
            absent = [s.series_id for s in wanted if s.series_id not in present]
            if absent:
                loaded.message = f"not in this {release} file (optional): {', '.join(absent)}"
            # A column this table already has rows of and the file no longer serves (renamed or
            # discontinued upstream): its own load_log row, which the `served` check turns into a WARN.
            gone[release] = {
                m: w for m, w in zip((s.series_id for s in wanted), marks, strict=True) if w and m in absent
            }
            return loaded

        loading.run_series(ctx, result, TABLE.source, release, True, work, total=len(RELEASES))
        for series_id, last in gone.get(release, {}).items():
            message = (
                f"fed_ddp {series_id}: the {release} file no longer has this column (loaded through {last}); "
                "renamed or discontinued upstream? Fix ingest/series_catalog.csv"
            )
            loading.run_series(
                ctx,
                result,
                TABLE.source,
                series_id,
                False,
                lambda message=message, series_id=series_id: SeriesLoad(
                    TABLE.source, series_id, "skipped", message=message, required=False
                ),
            )
    return loading.finish(ctx, result, started, req0, bytes0)
