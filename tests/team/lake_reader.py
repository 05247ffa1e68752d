"""A BI reader in its own process: attaches the DuckLake catalog read-only and, until the stop file
appears, reads every published mart in one transaction, again and again. Each read's content per
table (rows and the sum of row hashes) goes to the output file as one JSON line, every error as
{"error": ...}. Usage: LIQUIDITY_WAREHOUSE=ducklake:... LIQUIDITY_LAKE_DATA_PATH=... python lake_reader.py <out> <stop> <tables>
(the setting comes from the environment, as for a pipeline process, so no password is on a command line)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from ingest import backend


def read(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict:
    """Every published mart's rows and row-hash sum, in one transaction (one DuckLake snapshot)."""
    con.execute("BEGIN TRANSACTION")
    present = {
        t
        for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
            "current_database() AND table_schema = 'serving'"
        ).fetchall()
    }
    seen = {}
    for table in tables:
        if table in present:
            n, h = con.execute(
                f'SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM serving."{table}" t'
            ).fetchone()
            seen[table] = [n, h]
    con.execute("COMMIT")
    return seen


def main() -> None:
    out, stop = sys.argv[1:3]
    tables = sys.argv[3].split(",")
    where = backend.current()
    with open(out, "a", encoding="utf-8") as sink:
        while not Path(stop).exists():
            try:
                # A fresh read-only attach per read, as a BI tool's new connection: a read-only
                # attachment kept open did not show the serving tables committed after it (seen here).
                with where.open(read_only=True) as con:
                    sink.write(json.dumps({"tables": read(con, tables)}) + "\n")
            except duckdb.Error as exc:
                sink.write(json.dumps({"error": backend.redact(str(exc))[:500]}) + "\n")
            sink.flush()
            time.sleep(0.2)


if __name__ == "__main__":
    main()
