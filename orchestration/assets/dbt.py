"""dbt models as Dagster assets, from a cached DbtProject (parsed by `make prepare`, or by `dagster dev`)."""

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ingest import settings
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
        return self._layer(dbt_resource_props)

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
        yield from dbt.cli(["build"], context=context).stream()


def mart_keys() -> list[dg.AssetKey]:
    return sorted((k for k in dbt_models.keys if k.path[0] == "marts"), key=lambda k: k.to_user_string())
