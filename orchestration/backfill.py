"""`backfill_series`: re-ingest a date range of one series from the Launchpad.

Run config (Launchpad → `backfill_series` → Config):

    ops:
      backfill_series_op:
        config: {source: fred, series: WALCL, start: "2020-01-01", end: "2020-12-31"}

Same code as `python -m orchestration.cli backfill ...` (`ingest.load.backfill`); it writes through
the `warehouse` resource (the single-writer file lock). dbt and the serving
file are not rebuilt here: run `materialize_everything` afterwards to carry the rows into the marts.
"""

import dagster as dg
from pydantic import Field

from ingest import load, registry
from ingest.errors import InvalidIdentifier, NetworkUnreachable
from orchestration.assets.raw import run_logger
from orchestration.resources import SourcesResource, WarehouseResource


class BackfillConfig(dg.Config):
    source: str = Field(description=f"one of {', '.join(registry.BACKFILL)}")
    series: str = Field(
        description="catalog series id (fred / fed_ddp), CoinGecko coin id, or operating_cash_balance "
        "(treasury_dts), e.g. WALCL"
    )
    start: str = Field(description="first date, YYYY-MM-DD (inclusive)")
    end: str = Field(description="last date, YYYY-MM-DD (inclusive)")


@dg.op(tags={"kind": "backfill"})
def backfill_series_op(
    context: dg.OpExecutionContext,
    config: BackfillConfig,
    warehouse: WarehouseResource,
    sources: SourcesResource,
) -> dg.Output[dict]:
    try:
        load.check_backfill(config.source, config.series, config.start, config.end)
    except (InvalidIdentifier, ValueError) as exc:
        raise dg.Failure(description=f"backfill rejected: {exc}") from None
    transport = sources.transport()
    with warehouse.get_connection() as con:
        try:
            outcome = load.backfill(
                config.source,
                config.series,
                config.start,
                config.end,
                con=con,
                transport=transport,
                keys=sources.api_keys(),
                run_id=context.run_id,
                logger=run_logger(context, sources.api_keys()),
            )
        except NetworkUnreachable as exc:
            raise dg.Failure(description=str(exc)) from None
    summary = {
        "source": config.source,
        "series": config.series,
        "start": config.start,
        "end": config.end,
        "status": outcome.status,
        "rows": outcome.rows,
        "inserted": outcome.inserted,
        "updated": outcome.updated,
    }
    context.log.info(
        f"backfill {config.source} {config.series} {config.start}..{config.end}: {outcome.status}, "
        f"{outcome.rows} rows, {outcome.inserted} inserted, {outcome.updated} updated"
    )
    if outcome.status != "ok":
        raise dg.Failure(description=outcome.message or "backfill failed", metadata=summary)
    context.log_event(
        dg.AssetMaterialization(
            asset_key=["raw", registry.BACKFILL[config.source].name],
            description=f"backfill {config.series} {config.start}..{config.end}",
            metadata={**summary, "url": outcome.url or ""},
        )
    )
    return dg.Output(summary, metadata=summary)


@dg.job(
    name="backfill_series",
    description="Re-ingest [start, end] of one series (config: source, series, start, end); "
    "then run materialize_everything to rebuild the marts.",
    tags={"dagster/max_retries": "0"},
)
def backfill_series() -> None:
    backfill_series_op()
