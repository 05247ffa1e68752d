"""Ordered content hash of every table in the marts schema (and, with --all, staging and
intermediate too): `python -m bench.mart_hashes <warehouse>` prints one JSON object. `<warehouse>`
is a DuckDB file or a `LIQUIDITY_WAREHOUSE` DuckLake value (`ducklake:postgres:...`, with
`LIQUIDITY_LAKE_DATA_PATH`), so an embedded and a lake build compare table for table; `--schema
serving` hashes a lake's published marts.

Used to prove a dbt performance change (a materialization, threads) leaves every mart
byte-for-byte equal: rows are read in a total order (ORDER BY ALL) and hashed with SHA-256."""

from __future__ import annotations

import hashlib
import json
import os
import sys

from ingest import backend


def table_hashes(
    where: str, schemas: tuple[str, ...] = ("marts",), *, data_path: str | None = None
) -> dict[str, str]:
    out = {}
    source = (
        backend.parse(where, data_path=data_path or os.environ.get("LIQUIDITY_LAKE_DATA_PATH"))
        if where.startswith(backend.LAKE_PREFIX)
        else backend.current(where)
    )
    with source.open(read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = "
            f"current_database() AND table_schema IN ({', '.join('?' for _ in schemas)}) ORDER BY 1, 2",
            list(schemas),
        ).fetchall()
        for schema, table in tables:
            digest = hashlib.sha256()
            cur = con.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL')
            while batch := cur.fetchmany(10_000):
                for row in batch:
                    digest.update(repr(row).encode())
            out[f"{schema}.{table}"] = digest.hexdigest()
    return out


if __name__ == "__main__":
    schemas = ("marts", "intermediate", "staging") if "--all" in sys.argv else ("marts",)
    if "--schema" in sys.argv:
        schemas = (sys.argv[sys.argv.index("--schema") + 1],)
    print(json.dumps(table_hashes(sys.argv[1], schemas), indent=1, sort_keys=True))
