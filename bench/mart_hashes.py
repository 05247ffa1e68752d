"""Ordered content hash of every table in the marts schema (and, with --all, staging and
intermediate too): `python -m bench.mart_hashes <warehouse.duckdb>` prints one JSON object.

Used to prove a dbt performance change (a materialization, threads) leaves every mart
byte-for-byte equal: rows are read in a total order (ORDER BY ALL) and hashed with SHA-256."""

from __future__ import annotations

import hashlib
import json
import sys

import duckdb


def table_hashes(path: str, schemas: tuple[str, ...] = ("marts",)) -> dict[str, str]:
    out = {}
    with duckdb.connect(path, read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE table_schema IN ({', '.join('?' for _ in schemas)}) ORDER BY 1, 2",
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
    print(json.dumps(table_hashes(sys.argv[1], schemas), indent=1, sort_keys=True))
