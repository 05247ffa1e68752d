"""Raw-layer assets: one per source table. They call `ingest.load` and report what they did."""

import dagster as dg

from ingest import load, quality
from ingest import warehouse as raw_db
from ingest.errors import NetworkUnreachable
from orchestration.resources import WAREHOUSE_POOL, SourcesResource, WarehouseResource

RAW_GROUP = "ingest"
INGEST_RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


def _markdown(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)"
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if r[h] is None else str(r[h]) for h in header) + " |" for r in rows]
    return "\n".join(lines)


def _table_summary(con, table: str, key: str) -> tuple[int, str]:
    total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    rows = con.execute(
        f"SELECT {key} AS series, count(*) AS rows, min(observation_date) AS first, max(observation_date) AS last "
        f"FROM {table} GROUP BY 1 ORDER BY 1"
    ).fetchall()
    preview = _markdown([dict(zip(["series", "rows", "first", "last"], r, strict=True)) for r in rows])
    return total, preview


def _materialize(
    context: dg.AssetExecutionContext,
    warehouse_res: WarehouseResource,
    sources: SourcesResource,
    name: str,
    table: str,
    key: str,
) -> dg.MaterializeResult:
    transport = sources.transport()
    with warehouse_res.get_connection() as con:
        drift = quality.schema_drift(con, table)
        if not drift.passed:
            # Loading into a changed table would fail or misplace values: stop before any write, no retry.
            raise dg.Failure(description=f"{drift.summary}: {drift.details}", allow_retries=False)
        ctx = load.context(con, transport, context.run_id, sources.api_keys())
        try:
            result = load.LOADERS[name](ctx)
        except NetworkUnreachable as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from None
        total, preview = _table_summary(con, table, key)
    per_series = {
        s.series: {
            "status": s.status,
            "rows": s.rows,
            "inserted": s.inserted,
            "updated": s.updated,
            "last": s.last_date.isoformat() if s.last_date else None,
            "message": s.message,
        }
        for s in result.series
    }
    metadata = {
        "mode": result.mode,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "table_rows": total,
        "requests": result.requests,
        "bytes_fetched": result.bytes,
        "seconds": round(result.seconds, 3),
        "source_urls": dg.MetadataValue.md(
            "\n".join(f"- {s.url}" for s in result.series if s.url) or "(none)"
        ),
        "series": dg.MetadataValue.json(per_series),
        "preview": dg.MetadataValue.md(preview),
    }
    for s in result.series:
        if s.status == "skipped":
            context.log.warning(s.message)
    if result.failures:
        # The other series are loaded and committed; this run still fails so nothing stale is published.
        context.add_output_metadata(metadata)
        failed = result.failures
        # Bad payloads fail the same way on a retry; only HTTP failures are worth the RetryPolicy.
        raise dg.Failure(
            description=f"{len(failed)} series failed: " + "; ".join(s.message for s in failed),
            allow_retries=any(s.transient for s in failed),
        )
    return dg.MaterializeResult(metadata=metadata)


def _raw_asset(name: str, table: str, key: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        key_prefix="raw",
        group_name=RAW_GROUP,
        description=description,
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_POOL,
        retry_policy=INGEST_RETRY,
        owners=["team:data-engineering"],
        metadata={"table": table},
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource
    ) -> dg.MaterializeResult:
        return _materialize(context, warehouse, sources, name, table, key)

    return _asset


fred_observations = _raw_asset(
    "fred_observations",
    "raw.fred_observations",
    "series_id",
    "FRED series from the catalog (fredgraph.csv, or the API with FRED_API_KEY), as published, with release dates.",
)
fed_ddp_observations = _raw_asset(
    "fed_ddp_observations",
    "raw.fed_ddp_observations",
    "series_id",
    "Federal Reserve DDP CSVs (H.4.1 and H.8): catalog series, multiplier applied (USD).",
)
coingecko_market_chart = _raw_asset(
    "coingecko_market_chart",
    "raw.coingecko_market_chart",
    "coin_id || '/' || origin",
    "CoinGecko daily price, market cap and volume per coin (API market_chart + website export backfill).",
)
coingecko_global = _raw_asset(
    "coingecko_global",
    "raw.coingecko_global",
    "origin",
    "Total crypto market cap: /global snapshot once per run, history from /global/market_cap_chart (pro).",
)


@dg.asset(
    key=["raw", "series_catalog"],
    group_name=RAW_GROUP,
    description="The series catalog (ingest/series_catalog.csv) as a table: units, scale, cadence, staleness.",
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    owners=["team:data-engineering"],
)
def series_catalog(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.get_connection() as con:
        rows = raw_db.write_catalog(con)
        preview = con.execute(
            "SELECT source, series_id, concept, units, target_unit, scale, max_stale_days FROM raw.series_catalog"
        ).fetchall()
    table = _markdown(
        [
            dict(
                zip(
                    ["source", "series_id", "concept", "units", "target_unit", "scale", "max_stale_days"],
                    r,
                    strict=True,
                )
            )
            for r in preview
        ]
    )
    return dg.MaterializeResult(metadata={"rows": rows, "preview": dg.MetadataValue.md(table)})


RAW_ASSETS = [
    fred_observations,
    fed_ddp_observations,
    coingecko_market_chart,
    coingecko_global,
    series_catalog,
]
