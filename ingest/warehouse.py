"""The raw layer in DuckDB: DDL, idempotent bulk upserts, watermarks and a load log.

Schema `raw` in `$LIQUIDITY_DATA_DIR/warehouse.duckdb`:
- `raw.fred_observations`, `raw.fed_ddp_observations`: one row per (series_id, observation_date),
  value as published in the source's units (DDP multiplier already applied);
- `raw.coingecko_market_chart`: one row per (coin_id, observation_date, origin), origin `api` or `export`;
- `raw.coingecko_global`: total crypto market cap, one row per (origin, snapped_at);
- `raw.treasury_dts_cash_balance`: the Daily Treasury Statement's Table I rows that hold the TGA
  balance (three labels over time), as published, one per (record date, account type), balances in
  millions USD (NULL for "null");
- `raw.series_catalog`: the series catalog as loaded by this run;
- `raw.load_log`: one row per series fetch (rows, inserted, updated, bytes, URL without secrets).

Every observation row carries `known_on` (release date, US Eastern) and `known_at` (release
instant, a TIMESTAMP in UTC without time zone, like every timestamp here; for CoinGecko rows the
snapshot instant `snapped_at`) from `ingest/calendar.py`, `fetched_at` (first fetch),
`updated_at` and `previous_value` (last revision), `source_url` (redacted) and `payload_sha256`.

Writers of the embedded file take an exclusive file lock next to the database before opening it,
so two processes queue instead of failing on DuckDB's own lock; on a DuckLake warehouse writers run
side by side, a conflicting commit is retried, and the upserts of one raw table queue on its lake
lock (ingest/backend.py, the one module that knows which backend is in use). Nothing here opens DuckDB at import time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from ingest import backend, calendar, registry, settings
from ingest.catalog import load_catalog

# The raw tables' DDL comes from the registry (one declaration per table); the load log is this module's.
DDL = (
    "CREATE SCHEMA IF NOT EXISTS raw;\n"
    + "\n".join(t.ddl for t in registry.RAW_TABLES)
    + """
CREATE TABLE IF NOT EXISTS raw.load_log (
    run_id          VARCHAR,
    source          VARCHAR   NOT NULL,
    series          VARCHAR,
    loaded_at       TIMESTAMP NOT NULL,
    mode            VARCHAR   NOT NULL,
    url             VARCHAR,
    status          VARCHAR   NOT NULL,
    rows_in_payload BIGINT,
    inserted        BIGINT,
    updated         BIGINT,
    bytes           BIGINT,
    message         VARCHAR
);
"""
)


TableSpec = registry.TableSpec
TABLES = {t.table: t.spec for t in registry.RAW_TABLES}
# The specs loaders and tests name most often.
FRED = registry.get("fred_observations").spec
MARKET_CHART = registry.get("coingecko_market_chart").spec


@contextlib.contextmanager
def connect(
    path: Path | None = None, *, read_only: bool = False, lock_timeout: float = 600
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse (`path`: a DuckDB file; default the `LIQUIDITY_WAREHOUSE` backend). Writers
    of a file hold `<db>.lock` for the whole session (one writer at a time); lake writers need none."""
    where = backend.current(path)
    if read_only:
        with where.open(read_only=True) as con:
            yield con
        return
    with where.writer_lock(timeout=lock_timeout), where.open() as con:
        migrate_known_at(con)
        where.retry_conflicts(lambda: con.execute(where.ddl(DDL)))
        yield con


def migrate_known_at(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Raw tables written before `known_at` existed get it, in DDL column order (schema_drift
    compares the order), each in one transaction: observations from their `known_on` at the
    catalog rule's release time (`calendar.release_instant`; the fetch time for a series no longer
    in the catalog), CoinGecko rows from their own `snapped_at`. Returns the tables migrated."""
    have = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'raw'"
    ).fetchall():
        have.setdefault(f"raw.{table}", []).append(column)
    stale = [name for name in TABLES if name in have and "known_at" not in have[name]]
    rules = {(s.source, s.series_id): s.release_rule for s in load_catalog()}
    for name in stale:
        source = registry.BY_TABLE[name].source
        old = f"{name}__before_known_at"
        with transaction(con):
            con.execute(f"ALTER TABLE {name} RENAME TO {old.split('.')[1]}")
            con.execute(DDL)  # the table again, with known_at and its key
            columns = [c for c in _ddl_columns(con, name) if c != "known_at"]
            known_at, join = "o.snapped_at", ""
            if "snapped_at" not in have[name]:
                if "series_id" in have[name]:
                    pairs = con.execute(f"SELECT DISTINCT series_id, known_on FROM {old}").fetchall()
                else:  # one series per table (the DTS): the rule of the source's catalog line
                    series_id = next(sid for (src, sid) in rules if src == source)
                    pairs = [
                        (series_id, day)
                        for (day,) in con.execute(f"SELECT DISTINCT known_on FROM {old}").fetchall()
                    ]
                instants = pd.DataFrame(
                    [
                        (sid, day, calendar.release_instant(rules[(source, sid)], day))
                        for sid, day in pairs
                        if (source, sid) in rules
                    ],
                    columns=["series_id", "known_on", "known_at"],
                )
                con.register("known_instants", instants)
                known_at = "coalesce(k.known_at, o.fetched_at)"
                on = "k.series_id = o.series_id AND " if "series_id" in have[name] else ""
                join = f"LEFT JOIN known_instants k ON {on}k.known_on = o.known_on"
            select = ", ".join(f"o.{c}" for c in columns)
            con.execute(
                f"INSERT INTO {name} ({', '.join(columns)}, known_at) "
                f"SELECT {select}, {known_at} FROM {old} o {join}"
            )
            con.execute(f"DROP TABLE {old}")
        if join:
            con.unregister("known_instants")
    return stale


def _ddl_columns(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    schema, table = name.split(".")
    return [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
    ]


def lock_path(path: Path) -> Path:
    return backend.current(path).lock_path()


@contextlib.contextmanager
def writer_lock(path: Path | None = None, timeout: float = 600) -> Iterator[None]:
    """Hold the single-writer lock of a DuckDB file (`path`, default the configured warehouse):
    exclusive across processes and threads, re-entrant within one thread (one lock object per path,
    `is_singleton`). On a DuckLake warehouse there is no such lock."""
    with backend.current(path).writer_lock(timeout):
        yield


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """What a raw table holds, as a short digest: row count and the sum of its row hashes (order does
    not matter). A no-op load (nothing inserted or updated) leaves it unchanged; any changed value,
    new row or revision changes it. It is the raw asset's Dagster data version."""
    count, digest = con.execute(
        f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR FROM {table} AS t"
    ).fetchone()
    return f"{count}-{int(digest):x}"


def data_tables() -> list[str]:
    """Every raw table the marts are built from (the observation tables and the catalog)."""
    return [*TABLES, "raw.series_catalog"]


def write_catalog(con: duckdb.DuckDBPyConnection) -> int:
    frame = pd.DataFrame([dataclasses.asdict(s) for s in load_catalog()])
    con.register("catalog_frame", frame)
    try:
        # On DuckLake two runs replacing the table at once conflict (the second commit is refused): rerun it.
        backend.of(con).retry_conflicts(
            lambda: con.execute("CREATE OR REPLACE TABLE raw.series_catalog AS SELECT * FROM catalog_frame")
        )
    finally:
        con.unregister("catalog_frame")
    return len(frame)


@dataclasses.dataclass(frozen=True)
class UpsertResult:
    rows: int
    inserted: int
    updated: int


def upsert(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, frame: pd.DataFrame, *, expect_new: bool = False
) -> UpsertResult:
    """Insert new keys, update changed values (keeping the old one and when it changed), in one transaction.

    A NULL in `frame` means the payload did not carry that value (e.g. a CoinGecko `null` point): it
    is not a change and never replaces a stored value.

    `frame` holds every table column except updated_at/previous_value. A rerun with the same payload
    inserts and updates nothing; only the provenance of unchanged rows is left as first recorded.

    `expect_new=True` (nothing of this series is loaded yet, e.g. a first run) tries a plain insert
    first: no join against the whole table, which grows with every series loaded. Should a key exist
    after all, the primary key refuses the insert, it is rolled back, and the merge below runs: the
    hint only changes the speed, never the result.
    """
    if frame.empty:
        return UpsertResult(0, 0, 0)
    parts = upsert_per(con, spec, frame, spec.key[0], expect_new=expect_new).values()
    return UpsertResult(
        sum(p.rows for p in parts), sum(p.inserted for p in parts), sum(p.updated for p in parts)
    )


def upsert_per(
    con: duckdb.DuckDBPyConnection,
    spec: TableSpec,
    frame: pd.DataFrame,
    column: str,
    *,
    expect_new: bool = False,
) -> dict[object, UpsertResult]:
    """`upsert` of several series at once (one transaction), with the counts per value of `column`
    (e.g. per coin_id). One large insert is much cheaper than many small ones: DuckDB writes a
    transaction that appends a whole row group (122,880 rows) straight to the database file instead
    of its write-ahead log."""
    if frame.empty:
        return {}
    if frame.duplicated(list(spec.key)).any():
        dupes = frame[frame.duplicated(list(spec.key), keep=False)][list(spec.key)].head(3).to_dict("records")
        raise ValueError(f"{spec.name}: duplicate keys in one load, e.g. {dupes}")
    sizes = frame.groupby(column, sort=False).size()
    columns = list(frame.columns)
    col_list = ", ".join(columns)
    # As Arrow: DuckDB reads it without converting each Python date and string object one by one.
    con.register("incoming", pa.Table.from_pandas(frame, preserve_index=False))
    where = backend.of(con)
    try:
        # Only a primary key makes the plain insert safe (DuckLake has none: always merge there).
        if expect_new and where.enforces_keys:
            try:
                with transaction(con):
                    con.execute(
                        f"INSERT INTO {spec.name} ({col_list}, updated_at, previous_value) "
                        f"SELECT {col_list}, fetched_at, NULL FROM incoming"
                    )
                return {value: UpsertResult(int(n), int(n), 0) for value, n in sizes.items()}
            except duckdb.ConstraintException:
                pass  # some keys were loaded after all: merge
        key_join = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        # NULL means "not in this payload": it never counts as a change and never overwrites a value.
        changed = " OR ".join(f"(s.{v} IS NOT NULL AND t.{v} IS DISTINCT FROM s.{v})" for v in spec.values)
        # On DuckLake one upsert of a table at a time (inserts of the same keys would both commit);
        # another writer may still commit first (e.g. the catalog): the merge is then rerun against it.
        with where.table_lock(spec.name):
            counts = where.retry_conflicts(lambda: _merge(con, spec, col_list, column, key_join, changed))
    finally:
        con.unregister("incoming")
    by_action: dict[object, dict[str, int]] = {}
    for value, action, n in counts:
        by_action.setdefault(value, {})[action] = n
    return {
        value: UpsertResult(
            int(n), by_action.get(value, {}).get("insert", 0), by_action.get(value, {}).get("update", 0)
        )
        for value, n in sizes.items()
    }


def _merge(
    con: duckdb.DuckDBPyConnection, spec: TableSpec, col_list: str, column: str, key_join: str, changed: str
) -> list[tuple]:
    """One upsert transaction from the registered `incoming` relation; the counts per (column, action)."""
    with transaction(con):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE upsert_stage AS SELECT s.*, "
            f"CASE WHEN t.{spec.key[0]} IS NULL THEN 'insert' WHEN {changed} THEN 'update' ELSE 'same' END AS _action, "
            f"t.{spec.revision_value} AS _old_value "
            f"FROM incoming s LEFT JOIN {spec.name} t ON {key_join}"
        )
        counts = con.execute(f"SELECT {column}, _action, count(*) FROM upsert_stage GROUP BY ALL").fetchall()
        con.execute(
            f"INSERT INTO {spec.name} ({col_list}, updated_at, previous_value) "
            f"SELECT {col_list}, fetched_at, NULL FROM upsert_stage WHERE _action = 'insert'"
        )
        if any(action == "update" for _, action, _ in counts):
            sets = ", ".join(f"{v} = coalesce(s.{v}, t.{v})" for v in spec.values)
            con.execute(
                f"UPDATE {spec.name} AS t SET {sets}, known_on = s.known_on, known_at = s.known_at, updated_at = s.fetched_at, "
                f"previous_value = s._old_value, source_url = s.source_url, payload_sha256 = s.payload_sha256 "
                f"FROM upsert_stage s WHERE s._action = 'update' AND {key_join}"
            )
        con.execute("DROP TABLE upsert_stage")
    return counts


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Write everything committed so far into the database file (DuckDB `CHECKPOINT`).

    DuckDB checkpoints by itself when its write-ahead log passes 16 MB, but large batches bypass
    the log (see `upsert_per`), so a long bulk load would be checkpointed only once, on close, with
    a memory peak proportional to all it loaded (1.4 GB for 4 million coin-days). Loaders call this
    every few hundred thousand rows instead; the total work is the same. On DuckLake each commit has
    already written its files: nothing to do (ingest/backend.py)."""
    backend.of(con).checkpoint(con)


def replace_atomically(tmp: Path, target: Path) -> None:
    """fsync `tmp`, rename it over `target` and fsync the folder: readers and a crash see either the
    old file or the new one, whole (the warehouse compaction and every serving publish use this)."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# Rewrite the file when more than this share of its blocks is free (see `compact`).
COMPACT_FREE_SHARE = 0.10


@dataclasses.dataclass(frozen=True)
class Compaction:
    bytes_before: int
    bytes_after: int
    free_share: float  # of the blocks, before
    rewritten: bool


def compact(path: Path | None = None, *, free_share: float = COMPACT_FREE_SHARE) -> Compaction:
    """Keep the warehouse file from growing on every run.

    `dbt build` replaces every table it builds: the new one is written before the old one is
    dropped, and DuckDB reuses the freed blocks but never shrinks its file, so each rerun left it
    larger (12 MB after a first run, 22 MB after one no-op rerun). When more than `free_share` of the
    blocks are free, the database is copied into a fresh file with DuckDB's own `COPY FROM DATABASE`
    (tables, keys, views, everything) and renamed over the old one: atomic, so a crash leaves either
    file whole. Takes the single-writer lock; nobody else may have the file open."""
    path = Path(path or settings.warehouse_path())
    tmp = path.with_name(f".{path.name}.compact.tmp")
    with writer_lock(path):
        for leftover in path.parent.glob(f"{tmp.name}*"):  # from a compaction that was killed
            leftover.unlink(missing_ok=True)
        before = path.stat().st_size
        con = duckdb.connect(str(path))
        try:
            con.execute("CHECKPOINT")
            name, total, free = con.execute(
                "SELECT database_name, total_blocks, free_blocks FROM pragma_database_size() "
                "WHERE database_name = current_database()"
            ).fetchone()
            share = free / total if total else 0.0
            if share <= free_share:
                return Compaction(before, before, share, False)
            con.execute(f"ATTACH '{tmp}' AS compacted")
            con.execute(f'COPY FROM DATABASE "{name}" TO compacted')
            con.execute("DETACH compacted")
        finally:
            con.close()
        replace_atomically(tmp, path)
        return Compaction(before, path.stat().st_size, share, True)


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (re-raised)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def loaded_range(con: duckdb.DuckDBPyConnection, spec: TableSpec, where: dict[str, str]):
    """(first, last) loaded observation_date for the rows matching `where`; (None, None) if nothing loaded."""
    clause = " AND ".join(f"{k} = ?" for k in where) or "TRUE"
    row = con.execute(
        f"SELECT min(observation_date), max(observation_date) FROM {spec.name} WHERE {clause}",
        list(where.values()),
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def loaded_ranges(con: duckdb.DuckDBPyConnection, spec: TableSpec, column: str) -> dict[object, tuple]:
    """(first, last) loaded observation_date per value of `column` (e.g. per coin), in one scan."""
    rows = con.execute(
        f"SELECT {column}, min(observation_date), max(observation_date) FROM {spec.name} GROUP BY 1"
    ).fetchall()
    return {value: (first, last) for value, first, last in rows}


def watermark(con: duckdb.DuckDBPyConnection, spec: TableSpec, where: dict[str, str]):
    """Last loaded observation_date for the rows matching `where` (None if nothing loaded)."""
    return loaded_range(con, spec, where)[1]


def log_load(con: duckdb.DuckDBPyConnection, **entry) -> None:
    """One raw.load_log row. On DuckLake appends only conflict with a concurrent UPDATE or DELETE of
    the same table (nothing changes load_log rows), but a refused commit is retried like every lake
    write; inside a caller's transaction (the CoinGecko batch) a conflict could only surface at its
    COMMIT, which this does not see."""
    columns = ", ".join(entry)
    marks = ", ".join("?" for _ in entry)
    backend.of(con).retry_conflicts(
        lambda: con.execute(f"INSERT INTO raw.load_log ({columns}) VALUES ({marks})", list(entry.values()))
    )
