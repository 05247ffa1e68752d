"""A BI tool in its own process: connects to PostgreSQL as the read-only role and, until the stop file
appears, reads the served marts in ONE statement (the version row and every table's row count), again
and again, with no pause. One JSON line per read: {"digest": ..., "counts": {...}} or {"error": ...}.
Usage: python pg_reader.py <conninfo> <schema> <out> <stop> <tables>"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg


def main() -> None:
    conninfo, schema, out, stop = sys.argv[1:5]
    tables = sys.argv[5].split(",")
    counts = ", ".join(f'(SELECT count(*) FROM "{schema}"."{t}")' for t in tables)
    sql = f'SELECT (SELECT digest FROM "{schema}"._publish), {counts}'
    with open(out, "a", encoding="utf-8") as sink, psycopg.connect(conninfo, autocommit=True) as con:
        while not Path(stop).exists():
            try:
                row = con.execute(sql).fetchone()
                sink.write(
                    json.dumps({"digest": row[0], "counts": dict(zip(tables, row[1:], strict=True))}) + "\n"
                )
            except psycopg.Error as exc:
                sink.write(json.dumps({"error": str(exc)[:300]}) + "\n")
            sink.flush()


if __name__ == "__main__":
    main()
