"""dbt models as Dagster assets, from a cached DbtProject (parsed by `make prepare`, or by `dagster dev`).

Groups follow the layers: staging (with the seed), intermediate, marts. dbt's materializations and
test results reach the run log while dbt runs; once dbt exits, an observation of each model it built
carries its row count and date range, marts also their headline value and a preview
(`orchestration.asset_metadata`).
"""

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from ingest import settings
from ingest import warehouse as raw_db
from orchestration.asset_metadata import safe_table_metadata
from orchestration.jobs import SKIP_UNCHANGED_TAG
from orchestration.project import DBT_PROJECT
from orchestration.resources import WarehouseResource

# Re-parses only under `dagster dev` (dagster-dbt's DAGSTER_IS_DEV_CLI); `make run` / `make test` parse
# once in `make prepare`. dbt's profile reads the warehouse and calendar start through env_var(), as for
# every dbt command; outside `dagster dev` nothing is read here.
if os.environ.get("DAGSTER_IS_DEV_CLI"):
    with settings.exported(settings.dbt_env()):
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
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """`dbt build`: seeds, staging, intermediate and marts with their data tests (tests surface as
    asset checks); dbt's unit tests run in `make test` instead (`settings.DBT_BUILD_ARGS`).

    A run that selects only some models builds those: dagster-dbt turns the selection into
    `dbt build --select`. The release sensor selects what is downstream of the raw assets with news;
    the second stage of a routine run the models whose inputs changed (`build_plan`,
    orchestration/stages.py). A run of every model tagged `SKIP_UNCHANGED_TAG` skips the build when
    nothing any mart reads changed since its last build, and that was published: see `unchanged_since`."""
    where = warehouse.backend
    # One run builds the marts at a time, on either backend.
    with warehouse.build_lock(on_wait=context.log.warning):
        inputs = model_inputs(warehouse)
        if context.run.tags.get(SKIP_UNCHANGED_TAG) == "true" and not context.is_subset:
            reason = unchanged_since(context.instance, inputs, warehouse)
            if reason:
                context.log.info("dbt build skipped: %s", reason)
                first = mart_keys()[0]
                yield dg.AssetObservation(
                    asset_key=first, metadata={DBT_SKIPPED: reason, INPUTS_FINGERPRINT: inputs[first]}
                )
                return
        # dbt's events reach the run log (and the UI) as dbt reports them. The dbt process holds
        # DuckDB's file lock until it exits, so each model's row count, date range, headline and
        # preview follow as an observation once dbt has released the file (dagster-dbt's own
        # fetch_row_counts waits for the same reason). A failed test is held back until then too, so
        # that its check result carries the failing rows.
        # On the lake the publish takes only marts this run built whole (`Backend.built_by`).
        where.mark_build(context.run_id, "building")
        built, held, error = [], [], None
        # dagster-dbt hands dbt this process's environment (copied when dbt starts): the warehouse
        # and the calendar start as resolved here.
        with settings.exported(settings.dbt_env()):
            invocation = dbt.cli(
                list(settings.DBT_BUILD_ARGS), context=context, target_path=settings.dbt_target_dir()
            )
        try:
            for event in invocation.stream():
                key = _event_key(context, event)
                if key is not None:
                    built.append(key)
                if isinstance(event, dg.AssetCheckResult) and not event.passed:
                    held.append(event)
                    continue
                yield event
        except Exception as exc:  # a failed model or test: report what was built, then fail the step
            error = exc
            # An error raised here while dbt still runs (not dbt's own failure: e.g. an event of a
            # test the loaded manifest does not know, after a YAML edit without `make prepare`)
            # stops reading dbt's output: dbt would block on the full pipe and the step hang forever.
            if invocation.process.poll() is None:
                context.log.error("stopping dbt, whose events can no longer be read: %s", exc)
                invocation.process.terminate()
        invocation.process.wait()  # even when the error came from here, dbt holds the file until it exits
        extra = _table_metadata(context, warehouse, built)
        failing = _failing_rows(context, invocation, warehouse) if held or error else {}
        if error is None:
            where.mark_build(context.run_id, "built")
        # Rebuilt tables leave free blocks behind: without this the file grew on every rerun.
        done = warehouse.compact()
        if done is not None and done.rewritten:
            context.log.info(
                "warehouse compacted: %.1f MB -> %.1f MB (%.0f%% of its blocks were free)",
                done.bytes_before / 1e6,
                done.bytes_after / 1e6,
                100 * done.free_share,
            )
    # Only a build whose every model and test passed vouches for these inputs (`unchanged_since`).
    for key in built:
        vouched = {INPUTS_FINGERPRINT: inputs[key]} if error is None and key in inputs else {}
        yield dg.AssetObservation(asset_key=key, metadata={**extra.get(key, {}), **vouched})
    yield from _with_failing_rows(held, failing)
    if error is not None:
        raise error


INPUTS_FINGERPRINT = "inputs_fingerprint"
DBT_SKIPPED = "dbt_build_skipped"
DBT_INPUTS = ("dbt_project.yml", "models", "macros", "seeds", "tests")


@functools.cache
def raw_ancestors() -> dict[dg.AssetKey, frozenset[dg.AssetKey]]:
    """Each dbt asset's raw assets: the dbt sources it reads, directly or through other models (the
    graph of the loaded manifest, so computed once per process)."""
    specs = dbt_models.specs_by_key
    found: dict[dg.AssetKey, frozenset[dg.AssetKey]] = {}

    def visit(key: dg.AssetKey) -> frozenset[dg.AssetKey]:
        if key not in found:
            deps = [d.asset_key for d in specs[key].deps]
            found[key] = frozenset(
                {d for d in deps if d not in specs and d.path[0] == "raw"}.union(
                    *(visit(d) for d in deps if d in specs)
                )
            )
        return found[key]

    for key in specs:
        visit(key)
    return found


def downstream_of(raw: list[dg.AssetKey]) -> list[dg.AssetKey]:
    """The dbt assets a change in any of these raw assets can reach."""
    changed = set(raw)
    return sorted((k for k, ancestors in raw_ancestors().items() if ancestors & changed), key=str)


def model_inputs(warehouse: WarehouseResource) -> dict[dg.AssetKey, str]:
    """What each dbt asset's build reads: the content of its raw ancestors' tables
    (ingest.warehouse.fingerprint, the raw assets' data versions) and every file of the dbt project
    (SQL, YAML, seeds, vars), as one short digest per asset."""
    tables: dict[str, str] = {}
    if warehouse.backend.exists():
        with warehouse.read_connection() as con:
            for table in raw_db.data_tables():
                try:
                    tables[table] = raw_db.fingerprint(con, table)
                except duckdb.CatalogException:
                    tables[table] = "absent"
    project = hashlib.sha256()
    root = settings.DBT_PROJECT_DIR
    for name in DBT_INPUTS:
        for file in (
            sorted(p for p in (root / name).rglob("*") if p.is_file())
            if (root / name).is_dir()
            else [root / name]
        ):
            project.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    out = {}
    for key, ancestors in raw_ancestors().items():
        digest = project.copy()
        for raw in sorted(ancestors, key=str):
            table = f"raw.{raw.path[-1]}"
            digest.update(f"{table}={tables.get(table, 'absent')};".encode())
        out[key] = digest.hexdigest()[:16]
    return out


def unchanged_since(
    instance: dg.DagsterInstance, inputs: Mapping[dg.AssetKey, str], warehouse: WarehouseResource
) -> str | None:
    """Why the build can be skipped, or None. Skipped only when every mart's last materialization came
    from a fully passing build with the inputs it has now (its raw ancestors and the dbt project:
    `model_inputs`), those builds were published since (serving/serving_duckdb materialized after
    the newest), and the mart tables are still in the warehouse."""
    from orchestration.assets.serving import SERVING_KEY

    built = {key: instance.get_latest_materialization_event(key) for key in mart_keys()}
    if not built or any(event is None for event in built.values()):
        return None
    if any(vouched_inputs(instance, event) != inputs[key] for key, event in built.items()):
        return None
    published = instance.get_latest_materialization_event(SERVING_KEY)
    if published is None or published.timestamp < max(e.timestamp for e in built.values()):
        return None
    with warehouse.read_connection() as con:
        present = {
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'"
            ).fetchall()
        }
    if not {key.path[-1] for key in mart_keys()} <= present:
        return None
    runs = sorted({e.run_id[:8] for e in built.values()})
    return (
        f"no raw table and no dbt project file changed since the build{'s' * (len(runs) > 1)} of "
        f"run{'s' * (len(runs) > 1)} {', '.join(runs)}, published by run {published.run_id[:8]}"
    )


def stale_models(
    instance: dg.DagsterInstance, inputs: Mapping[dg.AssetKey, str], warehouse: WarehouseResource
) -> list[dg.AssetKey]:
    """The dbt assets whose table would differ if built now, and every dbt asset downstream of one:
    those never materialized, whose last materialization no fully passing build vouched for with
    the inputs they have now (`model_inputs`), or whose table is gone from the warehouse."""
    specs = dbt_models.specs_by_key
    present: set[tuple[str, str]] = set()
    if warehouse.backend.exists():
        with warehouse.read_connection() as con:
            present = set(
                con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
            )
    stale = set()
    for key, spec in specs.items():
        # dagster/table_name is "<catalog>.<schema>.<table>"
        table = tuple(str(spec.metadata.get("dagster/table_name", "")).split(".")[-2:])
        event = instance.get_latest_materialization_event(key)
        if event is None or table not in present or vouched_inputs(instance, event) != inputs.get(key):
            stale.add(key)
    children: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for key, spec in specs.items():
        for dep in spec.deps:
            children.setdefault(dep.asset_key, set()).add(key)
    todo = list(stale)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in stale:
                stale.add(child)
                todo.append(child)
    return sorted(stale, key=str)


def build_plan(
    instance: dg.DagsterInstance, warehouse: WarehouseResource
) -> tuple[list[dg.AssetKey], str | None]:
    """What a routine run (`make run`) builds once its raw loads are done: (dbt assets, None), or
    ([], why nothing needs building). Nothing when `unchanged_since` says so; else the stale models
    and what is downstream of them (`stale_models`), which dagster-dbt builds as `dbt build
    --select`. Every dbt asset when none is stale but the marts were not published since their
    build: the publish takes marts its own run built (on the lake, `Backend.built_by`)."""
    inputs = model_inputs(warehouse)
    reason = unchanged_since(instance, inputs, warehouse)
    if reason:
        return [], reason
    return stale_models(instance, inputs, warehouse) or sorted(dbt_models.keys, key=str), None


def vouched_inputs(instance: dg.DagsterInstance, built: dg.EventLogEntry) -> str | None:
    """The inputs fingerprint that the observation following the materialization `built` recorded:
    set only when that build passed in full; None without such an observation."""
    records = instance.fetch_observations(built.asset_materialization.asset_key, limit=1).records
    if not records or records[0].timestamp < built.timestamp:
        return None
    metadata = records[0].asset_observation.metadata if records[0].asset_observation else {}
    return getattr(metadata.get(INPUTS_FINGERPRINT), "value", None)


FAILING_ROWS_SHOWN = 5


# Columns that say which row failed; with the tested column they are what a failing row shows.
KEY_COLUMNS = (
    "date",
    "date_day",
    "observation_date",
    "quarter_start",
    "series_id",
    "coin_id",
    "asset",
    "period",
)
# The column a multi-column test (`values_between`) names in each failing row as the one it tested.
FAILED_COLUMN = "failed_column"
MAX_FIELDS = 8


def _failing_rows(
    context: dg.AssetExecutionContext, invocation: Any, warehouse: WarehouseResource
) -> dict[str, list[dict]]:
    """The first rows each failed dbt data test returned, by test unique_id, so that the check (and the
    run summary) names the offending dates and values, not only their count. The test's compiled
    SQL comes from dbt's run_results.json and is run read-only once dbt has released the file; each
    row keeps its key columns and the tested column (a column test's `column_name`; for a test of
    several columns, the one the row names in `failed_column`)."""
    try:
        results = json.loads((invocation.target_path / "run_results.json").read_text(encoding="utf-8"))
        results = results["results"]
        nodes = invocation.manifest["nodes"]
    except (OSError, ValueError, KeyError):
        return {}
    failed = [
        r
        for r in results
        if r.get("status") in ("fail", "error")
        and str(r.get("unique_id", "")).startswith("test.")
        and r.get("compiled_code")
    ]
    if not failed:
        return {}
    out: dict[str, list[dict]] = {}
    try:
        opened = contextlib.ExitStack()
        con = opened.enter_context(warehouse.read_connection())
    except duckdb.Error as exc:
        context.log.warning("cannot read the failing rows of dbt tests: %s", exc)
        return {}
    with opened:
        for result in failed:
            try:
                cur = con.execute(f"SELECT * FROM ({result['compiled_code']}) LIMIT {FAILING_ROWS_SHOWN}")
                columns = [d[0] for d in cur.description]
                tested = nodes.get(result["unique_id"], {}).get("column_name")
                rows = []
                for row in cur.fetchall():
                    named = dict(zip(columns, row, strict=True))
                    marks = {tested, FAILED_COLUMN, named.get(FAILED_COLUMN)}
                    keep = [c for c in columns if c in KEY_COLUMNS or c in marks] or columns
                    rows.append({c: _plain(named[c]) for c in keep[:MAX_FIELDS]})
            except duckdb.Error as exc:
                rows = [{"error": str(exc).splitlines()[0]}]
            out[result["unique_id"]] = rows
    return out


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)


def _event_key(context: dg.AssetExecutionContext, event: Any) -> dg.AssetKey | None:
    if isinstance(event, dg.Output):
        return context.asset_key_for_output(event.output_name)
    if isinstance(event, dg.AssetMaterialization):
        return event.asset_key
    return None


def _table_metadata(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, keys: list[dg.AssetKey]
) -> dict[dg.AssetKey, dict[str, Any]]:
    """Row count, date range (and for marts headline and preview) of each model dbt built."""
    if not keys or not warehouse.backend.exists():
        return {}
    specs = context.assets_def.specs_by_key
    out: dict[dg.AssetKey, dict[str, Any]] = {}
    try:
        opened = contextlib.ExitStack()
        con = opened.enter_context(warehouse.read_connection())
    except duckdb.Error as exc:
        context.log.warning("no table metadata: cannot open %s read-only: %s", warehouse.describe(), exc)
        return {}
    with opened:
        for key in keys:
            # dagster/table_name is "<catalog>.<schema>.<table>"; the catalog is the file's own name.
            table = str(specs[key].metadata.get("dagster/table_name", "")).split(".", 1)[-1]
            if table:
                out[key] = safe_table_metadata(con, key.to_user_string(), table, context.log)
    return out


def _with_failing_rows(held: list[dg.AssetCheckResult], failing: Mapping[str, list[dict]]) -> Iterator[Any]:
    """The failed dbt tests' check results, each with the first rows its query returned."""
    for event in held:
        unique_id = getattr(event.metadata.get("unique_id"), "value", None)
        if unique_id in failing:
            event = event.with_metadata(
                {**event.metadata, "failing_rows": dg.MetadataValue.json(failing[unique_id])}
            )
        yield event


def mart_keys() -> list[dg.AssetKey]:
    return sorted((k for k in dbt_models.keys if k.path[0] == "marts"), key=lambda k: k.to_user_string())
