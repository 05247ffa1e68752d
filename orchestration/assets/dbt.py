"""dbt models as Dagster assets, from a cached DbtProject (parsed by `make prepare`, or by `dagster dev`).

Groups follow the layers: staging (with the seed), intermediate, marts. After `dbt build` each model's
materialization carries its row count and date range, marts also their headline value and a
preview (`orchestration.asset_metadata`).
"""

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ingest import settings
from orchestration.asset_metadata import safe_table_metadata
from orchestration.project import DBT_PROJECT
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

# Re-parses only under `dagster dev`; `make run` / `make test` parse once in `make prepare`.
DBT_PROJECT.prepare_if_dev()

LAYERS = ("staging", "intermediate", "marts")


class LiquidityTranslator(DagsterDbtTranslator):
    """Models keyed `<layer>/<model>` and grouped by layer; sources map to raw assets through `meta`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            return dg.AssetKey([self._layer(dbt_resource_props), dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # The seed (hand-kept reference data) sits with staging: the graph reads ingest -> staging -> ...
        layer = self._layer(dbt_resource_props)
        return "staging" if layer == "seeds" else layer

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        props = dbt_resource_props
        kind = (
            props["resource_type"] if props["resource_type"] != "model" else props["config"]["materialized"]
        )
        where = f"`{props['schema']}.{props.get('alias') or props['name']}`"
        return f"{self._layer(props)} · dbt {kind} {where}. {super().get_description(props)}"

    def get_owners(self, dbt_resource_props: Mapping[str, Any]):
        return ["team:analytics"]

    @staticmethod
    def _layer(props: Mapping[str, Any]) -> str:
        if props["resource_type"] == "seed":
            return "seeds"
        fqn = props.get("fqn", [])
        return next((part for part in fqn if part in LAYERS), "staging")


TRANSLATOR = LiquidityTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=DBT_PROJECT.manifest_path,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    pool=WAREHOUSE_POOL,
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """`dbt build`: seeds, staging, intermediate and marts with their tests (tests surface as asset checks)."""
    os.environ["LIQUIDITY_DATA_DIR"] = str(settings.data_dir())
    with warehouse.writer_lock():
        # The dbt process holds DuckDB's file lock until it exits, so the events are collected first
        # (as dagster-dbt's own fetch_row_counts does for DuckDB) and the tables are read afterwards.
        events, error = [], None
        try:
            for event in dbt.cli(["build"], context=context).stream():
                events.append(event)
        except Exception as exc:  # a failed model or test: report what was built, then fail the step
            error = exc
        extra = _table_metadata(context, warehouse.path, events)
    yield from _with_metadata(context, events, extra)
    if error is not None:
        raise error


def _event_key(context: dg.AssetExecutionContext, event: Any) -> dg.AssetKey | None:
    if isinstance(event, dg.Output):
        return context.asset_key_for_output(event.output_name)
    if isinstance(event, dg.AssetMaterialization):
        return event.asset_key
    return None


def _table_metadata(
    context: dg.AssetExecutionContext, path: Path, events: list[Any]
) -> dict[dg.AssetKey, dict[str, Any]]:
    """Row count, date range (and for marts headline and preview) of each model dbt built."""
    keys = [k for k in (_event_key(context, e) for e in events) if k is not None]
    if not keys or not path.exists():
        return {}
    specs = context.assets_def.specs_by_key
    out: dict[dg.AssetKey, dict[str, Any]] = {}
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        context.log.warning("no table metadata: cannot open %s read-only: %s", path, exc)
        return {}
    with con:
        for key in keys:
            # dagster/table_name is "<catalog>.<schema>.<table>"; the catalog is the file's own name.
            table = str(specs[key].metadata.get("dagster/table_name", "")).split(".", 1)[-1]
            if table:
                out[key] = safe_table_metadata(con, key.to_user_string(), table, context.log)
    return out


def _with_metadata(
    context: dg.AssetExecutionContext, events: list[Any], extra: Mapping[dg.AssetKey, dict[str, Any]]
) -> Iterator[Any]:
    for event in events:
        key = _event_key(context, event)
        if key is not None and extra.get(key):
            event = event.with_metadata({**event.metadata, **extra[key]})
        yield event


def mart_keys() -> list[dg.AssetKey]:
    return sorted((k for k in dbt_models.keys if k.path[0] == "marts"), key=lambda k: k.to_user_string())
