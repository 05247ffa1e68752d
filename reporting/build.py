"""Build the report: read serving.duckdb, build the charts, write one self-contained index.html."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from ingest import settings
from reporting import charts, content, credits, html
from reporting.data import Serving, freshness, load_serving

PREVIEW_SCALE = 0.75  # the Dagster UI thumbnail: vl-convert PNG of the main chart's own spec


@dataclass(frozen=True)
class ChartFile:
    slug: str
    title: str
    data_through: dt.date
    stale_notes: tuple[str, ...]
    series: tuple[str, ...]


@dataclass(frozen=True)
class ReportResult:
    index_html: Path
    charts: tuple[ChartFile, ...]
    data_through: dt.date
    signals_date: dt.date
    signals_summary: str
    warnings: tuple[str, ...]
    preview_png: bytes  # the main chart as PNG, rendered by vl-convert from the page's spec
    page_bytes: int  # what index.html weighs, the inlined Vega bundle and every chart's data included


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def build_report(serving_path: Path | None = None, report_dir: Path | None = None) -> ReportResult:
    """Read `serving_path` (default: settings.serving_path()), write `report_dir` (default: settings.report_dir()).

    index.html is written through a temporary file and a rename, so a reader never sees a
    half-written page; a failure leaves the previous report in place. PNGs of earlier (matplotlib)
    reports are removed: the page no longer references them.
    """
    serving: Serving = load_serving(serving_path or settings.serving_path())
    out = report_dir or settings.report_dir()
    thresholds = serving.thresholds
    drawn = charts.all_charts(serving, thresholds)
    main = next(c for c in drawn if c.slug == "net_liquidity_vs_crypto")
    preview = main.png(PREVIEW_SCALE)

    signals_date, signals, summary = content.todays_signals(serving, thresholds)
    fresh = freshness(serving)
    # Cite what the page shows: series with at least one observation (not `missing` ones).
    fred_and_ddp = [f.series for f in fresh if f.source != "CoinGecko" and f.status != "missing"]
    page = html.render(
        data_through=serving.data_through,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        serving_path=str(serving.path),
        serving_modified=serving.modified.strftime("%Y-%m-%d %H:%M UTC"),
        warnings=[],
        latest=content.latest_values(serving),
        signals_date=signals_date,
        signals=signals,
        signals_summary=summary,
        charts=drawn,
        lead_intervals=content.lead_intervals(serving),
        events=content.event_table(serving),
        coin_leads=content.coin_leads(serving),
        freshness=fresh,
        citations=credits.full_citations(fred_and_ddp),
        coingecko=credits.COINGECKO,
    )
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    data = page.encode("utf-8")
    _write_atomic(index, data)
    for old in out.glob("*.png"):
        old.unlink(missing_ok=True)
    return ReportResult(
        index_html=index,
        charts=tuple(
            ChartFile(c.slug, c.title, c.data_through, tuple(c.stale_notes), tuple(c.series)) for c in drawn
        ),
        data_through=serving.data_through,
        signals_date=signals_date,
        signals_summary=summary,
        warnings=(),
        preview_png=preview,
        page_bytes=len(data),
    )
