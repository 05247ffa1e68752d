"""Write-audit-publish: copy the audited marts into a fresh `serving.duckdb` and swap it in atomically."""

import os
from pathlib import Path

import dagster as dg
import duckdb

from ingest import settings
from orchestration.assets.dbt import mart_keys
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource


def publish(warehouse_path: Path, serving_path: Path, tables: list[str]) -> dict[str, int]:
    """Build the serving file next to its final place, fsync it, then rename over the old one.

    Readers that opened the old file keep reading it; new readers see the new one; nobody sees a
    half-written file. Returns row counts per table.
    """
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    # Also the leftovers (file and WAL) of a publish that was killed: its pid is in their names, so
    # nothing else removes them. The caller holds the warehouse writer lock: no other publish is running.
    for stale in serving_path.parent.glob(f".{serving_path.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(tmp))
    try:
        con.execute(f"ATTACH '{warehouse_path}' AS wh (READ_ONLY)")
        for table in tables:
            con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM wh.marts.{table} ORDER BY ALL")
            counts[table] = con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0]
        con.execute("DETACH wh")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, serving_path)
    dir_fd = os.open(serving_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return counts


@dg.asset(
    key=["serving", "serving_duckdb"],
    deps=mart_keys(),
    group_name="serving",
    description="serving.duckdb: the audited marts for BI tools (read-only), replaced atomically after checks pass.",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    owners=["team:data-engineering"],
)
def serving_duckdb(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    tables = [key.path[-1] for key in mart_keys()]
    target = settings.serving_path()
    with warehouse.writer_lock():
        counts = publish(warehouse.path, target, tables)
    context.log.info("published %s to %s", ", ".join(f"{t}={n}" for t, n in counts.items()), target)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "bytes": target.stat().st_size,
            "tables": dg.MetadataValue.json(counts),
        }
    )
