"""Write-audit-publish: copy the audited marts into a fresh `serving.duckdb`, compare it with the
published one (the publish gate, `orchestration/publish_gate.py`) and swap it in atomically."""

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb

from ingest import settings
from ingest import warehouse as raw_db
from orchestration import publish_gate
from orchestration.assets.dbt import mart_keys
from orchestration.project import DBT_PROJECT
from orchestration.resources import WarehouseResource

SERVING_KEY = dg.AssetKey(["serving", "serving_duckdb"])
Gate = Callable[[duckdb.DuckDBPyConnection, Path], publish_gate.GateResult]


class PublishBlocked(Exception):
    def __init__(self, gate: publish_gate.GateResult):
        super().__init__(gate.summary())
        self.gate = gate


@dataclasses.dataclass(frozen=True)
class Published:
    counts: dict[str, int]  # rows per table
    gate: publish_gate.GateResult | None
    replaced: bool  # False: the marts equal the published ones, whose file was left untouched


def publish(
    warehouse_path: Path, serving_path: Path, tables: list[str], gate: Gate | None = None
) -> Published:
    """Build the serving file next to its final place, let `gate` compare it with the published one,
    fsync it, then rename over the old one.

    Readers that opened the old file keep reading it; new readers see the new one; nobody sees a
    half-written file. A gate that blocks raises PublishBlocked and leaves the published file as it
    was (the candidate is removed). When the candidate's content equals the published file's
    (`publish_gate.content_digest`), the published file is left as it is (same inode and mtime, so
    readers and file watchers see nothing happen) and `replaced` is False.
    """
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    # Also the leftovers (file and WAL) of a publish that was killed: its pid is in their names, so
    # nothing else removes them. The caller holds the warehouse writer lock: no other publish is running.
    for stale in serving_path.parent.glob(f".{serving_path.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    verdict = None
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"ATTACH '{warehouse_path}' AS wh (READ_ONLY)")
        for table in tables:
            con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM wh.marts.{table} ORDER BY ALL")
            counts[table] = con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0]
        con.execute("DETACH wh")
        con.execute("CHECKPOINT")
        if gate is not None:
            verdict = gate(con, serving_path)
        unchanged = (verdict is None or verdict.passed) and publish_gate.content_digest(
            con, tables
        ) == publish_gate.published_digest(serving_path, tables)
    finally:
        con.close()
    if unchanged or (verdict is not None and not verdict.passed):
        for leftover in serving_path.parent.glob(f"{tmp.name}*"):
            leftover.unlink(missing_ok=True)
        if unchanged:
            return Published(counts, verdict, replaced=False)
        raise PublishBlocked(verdict)
    raw_db.replace_atomically(tmp, serving_path)
    return Published(counts, verdict, replaced=True)


def gate_for(tables: list[str]) -> Gate:
    """The publish gate with each mart's rule from its dbt YAML and the LIQUIDITY_ALLOW_SHRINK override."""
    rules = publish_gate.rules_from_manifest(DBT_PROJECT.manifest_path, tables)
    allow = settings.allow_shrink()

    def gate(candidate: duckdb.DuckDBPyConnection, published: Path) -> publish_gate.GateResult:
        return publish_gate.evaluate(candidate, published, rules, allow_shrink=allow)

    return gate


@dg.asset(
    key=SERVING_KEY,
    deps=mart_keys(),
    group_name="serving",
    description="serving.duckdb: the audited marts for BI tools (read-only), replaced atomically after checks pass.",
    kinds={"duckdb"},
    owners=["team:data-engineering"],
)
def serving_duckdb(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    tables = [key.path[-1] for key in mart_keys()]
    target = settings.serving_path()
    try:
        with warehouse.writer_lock():
            done = publish(warehouse.path, target, tables, gate_for(tables))
    except PublishBlocked as blocked:
        hint = ""
        if blocked.gate.shrinks and len(blocked.gate.shrinks) == len(blocked.gate.blocked):
            hint = " If the shrink is deliberate (e.g. a later LIQUIDITY_START), rerun with LIQUIDITY_ALLOW_SHRINK=1."
        raise dg.Failure(
            description=f"{blocked}. {target.name} was not replaced; BI readers keep the published version.{hint}",
            metadata={"publish_gate": dg.MetadataValue.json(blocked.gate.tables)},
        ) from None
    rows = ", ".join(f"{t}={n}" for t, n in done.counts.items())
    if done.replaced:
        context.log.info("published %s to %s", rows, target)
    else:
        context.log.info("%s left as it was: the marts equal the published ones (%s)", target, rows)
    context.log.info(done.gate.summary())
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "bytes": target.stat().st_size,
            "tables": dg.MetadataValue.json(done.counts),
            "replaced": done.replaced,
            "publish": "replaced"
            if done.replaced
            else "unchanged: the marts equal the published ones, so the file was not rewritten",
            "publish_gate": done.gate.summary(),
            "publish_gate_tables": dg.MetadataValue.json(done.gate.tables),
        }
    )
