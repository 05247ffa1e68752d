"""Build the report: read serving.duckdb, draw the charts, write index.html and the PNGs."""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ingest import settings
from reporting import charts, content, credits, html
from reporting.data import Serving, Thresholds, freshness, load_serving, threshold_mismatches

REPORT_DPI = 120
PREVIEW_DPI = 100


@dataclass(frozen=True)
class ChartFile:
    slug: str
    title: str
    path: Path
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
    preview_png: bytes  # the main chart, small (PREVIEW_DPI, 64-colour palette) for Dagster metadata


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _small_png(png: bytes) -> bytes:
    """A palette PNG: line charts lose nothing visible and shrink about 3-4x."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def build_report(serving_path: Path | None = None, report_dir: Path | None = None) -> ReportResult:
    """Read `serving_path` (default: settings.serving_path()), write `report_dir` (default: settings.report_dir()).

    The PNGs are written first and index.html last, each through a temporary file and a rename, so a
    reader never sees a half-written file; a failure leaves the previous report in place.
    """
    serving: Serving = load_serving(serving_path or settings.serving_path())
    out = report_dir or settings.report_dir()
    thresholds = Thresholds.from_dbt_project()
    warnings = threshold_mismatches(serving, thresholds)
    if warnings:
        warnings.append(
            "serving.duckdb was built with other thresholds than dbt_project.yml has now: run `make run`"
        )

    drawn = charts.all_charts(serving, thresholds)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    preview = b""
    for chart in drawn:
        png = chart.png(REPORT_DPI)
        _write_atomic(out / chart.filename, png)
        if chart.slug == "net_liquidity_vs_crypto":
            preview = _small_png(chart.png(PREVIEW_DPI))
        files.append(
            ChartFile(
                chart.slug,
                chart.title,
                out / chart.filename,
                chart.data_through,
                tuple(chart.stale_notes),
                tuple(chart.series),
            )
        )
    for chart in drawn:
        chart.figure.clear()

    signals_date, signals, summary = content.todays_signals(serving, thresholds)
    fresh = freshness(serving)
    # Cite what the page shows: series with at least one observation (not `missing` ones).
    fred_and_ddp = [f.series for f in fresh if f.source != "CoinGecko" and f.status != "missing"]
    page = html.render(
        data_through=serving.data_through,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        serving_path=str(serving.path),
        serving_modified=serving.modified.strftime("%Y-%m-%d %H:%M UTC"),
        warnings=warnings,
        latest=content.latest_values(serving),
        signals_date=signals_date,
        signals=signals,
        signals_summary=summary,
        charts=drawn,
        coin_leads=content.coin_leads(serving),
        freshness=fresh,
        citations=credits.full_citations(fred_and_ddp),
        coingecko=credits.COINGECKO,
    )
    index = out / "index.html"
    _write_atomic(index, page.encode("utf-8"))
    return ReportResult(
        index_html=index,
        charts=tuple(files),
        data_through=serving.data_through,
        signals_date=signals_date,
        signals_summary=summary,
        warnings=tuple(warnings),
        preview_png=preview,
    )
