"""The static liquidity report (`reporting` package) as the last asset of the graph.

It only reads serving.duckdb (read-only, copied into memory, closed before drawing) and writes
$LIQUIDITY_DATA_DIR/report/, so a failing report can never un-publish or change the serving file:
the run is marked failed, BI readers keep the published data. It takes no warehouse lock and needs
no resource, so it can be materialized alone (UI, `make report`) whenever serving.duckdb exists.
"""

import base64

import dagster as dg

from ingest import settings
from orchestration.assets.serving import SERVING_KEY

REPORT_KEY = dg.AssetKey(["report", "liquidity_report"])


@dg.asset(
    key=REPORT_KEY,
    deps=[SERVING_KEY],
    group_name="report",
    owners=["team:analytics"],
    kinds={"python", "html"},
    description=(
        "Interactive offline HTML report ($LIQUIDITY_DATA_DIR/report/index.html, one file) with Vega-Altair "
        "charts from serving.duckdb only: net liquidity shifted by the configured lead vs BTC and total crypto "
        "market cap (log, policy phases), reserve ratios with threshold bands, SOFR-IORB and SOFR-EFFR spreads, "
        "ON RRP and TGA, the lag-scan curves, the best lead over rolling windows with its intervals, policy-event "
        "windows; latest values, today's signals explained, data freshness per series."
    ),
)
def liquidity_report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    # Imported here, not at module top: Altair, vl-convert and pandas then load only when the report
    # is drawn, not every time the code location (webserver, daemon, each run worker) loads definitions.
    from reporting import ServingMissing, build_report

    try:
        result = build_report(settings.serving_path(), settings.report_dir())
    except ServingMissing as exc:
        raise dg.Failure(description=str(exc)) from exc
    for warning in result.warnings:
        context.log.warning(warning)
    context.log.info(
        "report written to %s: %d charts, data through %s",
        result.index_html,
        len(result.charts),
        result.data_through,
    )
    preview = base64.b64encode(result.preview_png).decode("ascii")
    return dg.MaterializeResult(
        metadata={
            "index_html": dg.MetadataValue.path(str(result.index_html)),
            "data_through": dg.MetadataValue.text(result.data_through.isoformat()),
            "charts": dg.MetadataValue.json(
                [
                    {
                        "chart": c.slug,
                        "title": c.title,
                        "data_through": c.data_through.isoformat(),
                        "series": list(c.series),
                        "stale_inputs": list(c.stale_notes),
                    }
                    for c in result.charts
                ]
            ),
            "signals": dg.MetadataValue.text(f"{result.signals_date}: {result.signals_summary}"),
            "page_kb": dg.MetadataValue.int(round(result.page_bytes / 1024)),
            "main_chart": dg.MetadataValue.md(f"![net liquidity vs crypto](data:image/png;base64,{preview})"),
        }
    )
