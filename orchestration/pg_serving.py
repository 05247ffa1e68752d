"""The optional PostgreSQL serving target: the audited marts in a PostgreSQL schema any BI tool reads.

`LIQUIDITY_SERVING_POSTGRES` (a libpq conninfo of the database to write; unset means off) turns it on;
`LIQUIDITY_SERVING_POSTGRES_SCHEMA` (default `marts`) names the schema BI tools read and
`LIQUIDITY_SERVING_POSTGRES_READER` (default `liquidity_reader`) the read-only role that gets
`USAGE` on it and `SELECT` on its tables (README, Team setup: the SQL that creates the role).

The publish copies the marts of the just-published serving file (already audited by the publish gate)
into a new schema `<schema>__new` with DuckDB's postgres extension, then, in ONE PostgreSQL
transaction, grants the reader role, renames `<schema>` to `<schema>__old` and `<schema>__new` to
`<schema>`, and drops the old one. Readers' statements see the old tables or the new ones, never a
half-written table; a reader's queries during the swap wait for it, they do not fail. Every version
carries a row in `<schema>._publish` (content digest, time), and an equal digest skips the publish.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import duckdb

from ingest import backend
from orchestration import publish_gate

DEFAULT_SCHEMA = "marts"
DEFAULT_READER = "liquidity_reader"
PUBLISH_TABLE = "_publish"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")

# What a DBA runs once (README, Team setup; tests/team run exactly this): a login role that can read
# the served marts and nothing else. The publish grants it USAGE and SELECT on every new schema.
READER_ROLE_SQL = """\
CREATE ROLE {reader} LOGIN PASSWORD '{password}'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
GRANT CONNECT ON DATABASE {database} TO {reader};
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER ROLE {reader} SET default_transaction_read_only = on;
"""


@dataclasses.dataclass(frozen=True)
class PgTarget:
    conninfo: str
    schema: str = DEFAULT_SCHEMA
    reader: str = DEFAULT_READER

    def describe(self) -> str:
        return f"PostgreSQL {backend.redact(self.conninfo)} schema {self.schema}"

    def secrets(self) -> list[str]:
        password = backend.conninfo_password(self.conninfo)
        return [password] if password else []


def target() -> PgTarget | None:
    """The configured target (settings read now), None when `LIQUIDITY_SERVING_POSTGRES` is unset.
    Raises ValueError naming the setting when a name is not a plain lower-case identifier."""
    conninfo = (os.environ.get("LIQUIDITY_SERVING_POSTGRES") or "").strip()
    if not conninfo:
        return None
    schema = (os.environ.get("LIQUIDITY_SERVING_POSTGRES_SCHEMA") or DEFAULT_SCHEMA).strip()
    reader = (os.environ.get("LIQUIDITY_SERVING_POSTGRES_READER") or DEFAULT_READER).strip()
    for name, value in (
        ("LIQUIDITY_SERVING_POSTGRES_SCHEMA", schema),
        ("LIQUIDITY_SERVING_POSTGRES_READER", reader),
    ):
        if not _IDENT.match(value):
            raise ValueError(f"{name}={value[:60]!r} must be a lower-case identifier (a-z, 0-9, _)")
    return PgTarget(conninfo, schema, reader)


@dataclasses.dataclass(frozen=True)
class PgPublished:
    schema: str
    digest: str
    replaced: bool  # False: PostgreSQL already held these marts
    counts: dict[str, int]


def content_hash(serving_file: Path, tables: list[str]) -> str:
    with duckdb.connect(str(serving_file), read_only=True) as con:
        digest = publish_gate.content_digest(con, tables)
    return hashlib.sha256(json.dumps(digest, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _connect(where: PgTarget):
    import psycopg

    try:
        return psycopg.connect(where.conninfo, autocommit=True)
    except psycopg.Error as exc:  # libpq may echo the conninfo: never let the password through
        raise RuntimeError(f"cannot connect to {where.describe()}: {backend.redact(str(exc))}") from None


def published_digest(where: PgTarget) -> str | None:
    with _connect(where) as pg:
        row = pg.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [f'"{where.schema}"."{PUBLISH_TABLE}"']
        ).fetchone()
        if not row[0]:
            return None
        found = pg.execute(f'SELECT digest FROM "{where.schema}"."{PUBLISH_TABLE}"').fetchone()
        return found[0] if found else None


def publish(serving_file: Path, tables: list[str], where: PgTarget) -> PgPublished:
    """Copy the marts of `serving_file` into `where` and swap them in atomically (see the module)."""
    digest = content_hash(serving_file, tables)
    new, old = f"{where.schema}__new", f"{where.schema}__old"
    with _connect(where) as pg:
        exists = pg.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [where.reader]).fetchone()
        if not exists:
            raise RuntimeError(
                f"the read-only role {where.reader!r} does not exist in {where.describe()}: create it "
                "first (README, Team setup) or set LIQUIDITY_SERVING_POSTGRES_READER"
            )
        if published_digest(where) == digest:
            with duckdb.connect(str(serving_file), read_only=True) as con:
                counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
            return PgPublished(where.schema, digest, False, counts)
        pg.execute(f'DROP SCHEMA IF EXISTS "{new}" CASCADE')  # a publish killed before its swap
        pg.execute(f'CREATE SCHEMA "{new}"')
    counts = _copy(serving_file, tables, where, new, digest)
    with _connect(where) as pg, pg.transaction():
        # Readers keep reading the published tables until this commits; then they read the new ones.
        pg.execute(f'GRANT USAGE ON SCHEMA "{new}" TO "{where.reader}"')
        pg.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{new}" TO "{where.reader}"')
        pg.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
        present = pg.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [where.schema]).fetchone()
        if present:
            tables_now = [
                r[0]
                for r in pg.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [where.schema]
                ).fetchall()
            ]
            if tables_now:  # wait for statements reading the old tables, then hold them off
                names = ", ".join(f'"{where.schema}"."{t}"' for t in tables_now)
                pg.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
            pg.execute(f'ALTER SCHEMA "{where.schema}" RENAME TO "{old}"')
        pg.execute(f'ALTER SCHEMA "{new}" RENAME TO "{where.schema}"')
        pg.execute(f'DROP SCHEMA IF EXISTS "{old}" CASCADE')
    return PgPublished(where.schema, digest, True, counts)


def _copy(serving_file: Path, tables: list[str], where: PgTarget, schema: str, digest: str) -> dict[str, int]:
    # In memory, the serving file attached read-only: a read-only connection would make pg read-only too.
    con = duckdb.connect(":memory:", config=dict(backend.CONNECTION_CONFIG))
    counts = {}
    try:
        con.execute(f"ATTACH '{serving_file}' AS src (READ_ONLY)")
        backend.load_extensions(con, ["postgres"])
        try:
            con.execute(f"ATTACH '{where.conninfo.replace(chr(39), chr(39) * 2)}' AS pg (TYPE postgres)")
        except duckdb.Error as exc:
            raise RuntimeError(f"cannot attach {where.describe()}: {backend.redact(str(exc))}") from None
        for table in tables:
            con.execute(f'CREATE TABLE pg."{schema}"."{table}" AS SELECT * FROM src.main."{table}"')
            counts[table] = con.execute(f'SELECT count(*) FROM src.main."{table}"').fetchone()[0]
        con.execute(
            f'CREATE TABLE pg."{schema}"."{PUBLISH_TABLE}" AS SELECT ?::VARCHAR AS digest, '
            "now()::TIMESTAMPTZ AS published_at, ?::VARCHAR AS tables",
            [digest, json.dumps(counts, sort_keys=True)],
        )
        con.execute("DETACH pg")
    finally:
        con.close()
    return counts
