"""Raw-layer assets (group `ingest`): one per source table. They call `ingest.load`, route its
progress lines to the Dagster run log, and report what they did plus the table's row count, date
range, headline value and newest rows (`orchestration.asset_metadata`)."""

import logging

import dagster as dg

from ingest import load, quality, registry
from ingest import warehouse as raw_db
from ingest.errors import NetworkUnreachable, redact
from ingest.transport import RedactingFilter
from orchestration.asset_metadata import ROW_COUNT, markdown_table, safe_table_metadata
from orchestration.jobs import FETCH_WHEN_DUE_TAG
from orchestration.resources import SourcesResource, WarehouseResource

RAW_GROUP = "ingest"
# The table's content digest (ingest.warehouse.fingerprint), also the asset's data version.
DATA_FINGERPRINT = "data_fingerprint"


def run_logger(context: dg.OpExecutionContext, keys) -> logging.Logger:
    """The run log (UI and `make run` console) for load progress, with API keys scrubbed."""
    logger = context.log
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter(keys.secrets()))
    return logger


def _materialize(
    context: dg.AssetExecutionContext,
    warehouse_res: WarehouseResource,
    sources: SourcesResource,
    name: str,
    table: str,
) -> dg.MaterializeResult:
    try:
        result, table_md = _load(context, warehouse_res, sources, name, table)
    except dg.Failure:
        raise
    except Exception as exc:
        # HTTP failures were already retried by the transport (the one retry layer for them); a bad
        # setting, a damaged file or a payload that cannot parse fails at once, the cause as the message.
        secrets = sources.api_keys().secrets()
        reason = redact(f"{name}: {type(exc).__name__}: {exc}", secrets)
        raise dg.Failure(description=reason) from exc
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
        **table_md,
        "mode": result.mode,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "requests": result.requests,
        "bytes_fetched": result.bytes,
        "seconds": round(result.seconds, 3),
        "source_urls": dg.MetadataValue.md(
            "\n".join(f"- {s.url}" for s in result.series if s.url) or "(none)"
        ),
        "loads": dg.MetadataValue.json(per_series),
    }
    if result.failures:
        # The other series are loaded and committed; this run still fails so nothing stale is published.
        context.add_output_metadata(metadata)
        failed = result.failures
        raise dg.Failure(description=f"{len(failed)} series failed: " + "; ".join(s.message for s in failed))
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(table_md[DATA_FINGERPRINT]))


def _load(
    context: dg.AssetExecutionContext,
    warehouse_res: WarehouseResource,
    sources: SourcesResource,
    name: str,
    table: str,
) -> tuple[load.SourceLoad, dict]:
    transport = sources.transport()
    keys = sources.api_keys()
    logger = run_logger(context, keys)
    with warehouse_res.get_connection() as con:
        drift = quality.schema_drift(con, table)
        if not drift.passed:
            # Loading into a changed table would fail or misplace values: stop before any write, no retry.
            raise dg.Failure(description=f"{drift.summary}: {drift.details}")
        when_due = context.run.tags.get(FETCH_WHEN_DUE_TAG) == "true"
        ctx = load.context(con, transport, context.run_id, keys, logger=logger, fetch_when_due=when_due)
        try:
            result = load.run(name, ctx)
        except NetworkUnreachable as exc:
            raise dg.Failure(description=str(exc)) from None
        table_md = safe_table_metadata(con, context.asset_key.to_user_string(), table, context.log)
        table_md[DATA_FINGERPRINT] = raw_db.fingerprint(con, table)
    return result, table_md


def _raw_asset(name: str, table: str, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        key_prefix="raw",
        group_name=RAW_GROUP,
        description=f"Ingest → `{table}`. {description}",
        kinds={"python", "duckdb"},
        owners=["team:data-engineering"],
        metadata={"table": table},
    )
    def _asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, sources: SourcesResource
    ) -> dg.MaterializeResult:
        return _materialize(context, warehouse, sources, name, table)

    return _asset


# One asset per raw table of the registry (ingest/registry.py).
TABLE_ASSETS = [_raw_asset(t.name, t.table, t.description) for t in registry.RAW_TABLES]


def raw_asset(name: str) -> dg.AssetsDefinition:
    """The asset of raw table `name` (registry name, e.g. fred_observations)."""
    return next(a for a in TABLE_ASSETS if a.key.path[-1] == name)


@dg.asset(
    key=["raw", "series_catalog"],
    group_name=RAW_GROUP,
    description="Ingest → `raw.series_catalog`. The series catalog (ingest/series_catalog.csv) as a table: "
    "units, scale, cadence, staleness.",
    kinds={"python", "duckdb"},
    owners=["team:data-engineering"],
)
def series_catalog(warehouse: WarehouseResource) -> dg.MaterializeResult:
    columns = ["source", "series_id", "concept", "units", "target_unit", "scale", "max_stale_days"]
    with warehouse.get_connection() as con:
        rows = raw_db.write_catalog(con)
        preview = con.execute(f"SELECT {', '.join(columns)} FROM raw.series_catalog ORDER BY 1, 2").fetchall()
        version = raw_db.fingerprint(con, "raw.series_catalog")
    return dg.MaterializeResult(
        metadata={
            ROW_COUNT: dg.MetadataValue.int(rows),
            "table": "raw.series_catalog",
            "preview": dg.MetadataValue.md(markdown_table(columns, preview)),
            DATA_FINGERPRINT: version,
        },
        data_version=dg.DataVersion(version),
    )


RAW_ASSETS = [*TABLE_ASSETS, series_catalog]
