"""The publish gate: a candidate set of marts may replace the published one only if it does not
regress. Plain Python over two DuckDB databases (no Dagster), so every serving target uses it.

Each mart's rule lives with the mart, in its dbt YAML (`config: meta: publish_gate:`):

    publish_gate:
      date_column: date          # optional: the column whose newest value must not move back
      recent_days: 14            # optional (default 14): the window "recent" means, ending at that newest date
      required: [net_liquidity_bn, ...]   # optional: columns that must not become all NULL recently

Blocking (the serving file is not replaced, readers keep the last good data):
- a mart is empty;
- a required column has no value over the candidate's recent window, while the published version
  had one over its own recent window (on a first publish: at all);
- a mart has fewer rows than the published one, or its newest date moved back. These two are
  *shrinks*, which a deliberate change (an earlier or later `LIQUIDITY_START`, fewer coins) may
  cause: `LIQUIDITY_ALLOW_SHRINK=1` lets them through, and the result says it was used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import duckdb

DEFAULT_RECENT_DAYS = 14


@dataclasses.dataclass(frozen=True)
class MartRule:
    table: str
    date_column: str | None = None
    required: tuple[str, ...] = ()
    recent_days: int = DEFAULT_RECENT_DAYS


def rules_from_manifest(manifest_path: Path, tables: list[str]) -> dict[str, MartRule]:
    """Each mart's `publish_gate` meta from the dbt manifest; a mart without one gets the row rule only."""
    manifest = json.loads(Path(manifest_path).read_text(encoding="utf-8"))
    metas = {
        node["name"]: (node.get("config", {}).get("meta") or node.get("meta") or {}).get("publish_gate") or {}
        for node in manifest["nodes"].values()
        if node.get("resource_type") == "model"
    }
    rules = {}
    for table in tables:
        meta = metas.get(table, {})
        rules[table] = MartRule(
            table,
            meta.get("date_column"),
            tuple(meta.get("required", ())),
            int(meta.get("recent_days", DEFAULT_RECENT_DAYS)),
        )
    return rules


@dataclasses.dataclass(frozen=True)
class MartStats:
    rows: int
    last_date: dt.date | None
    recent_values: dict[str, int]  # required column -> non-NULL count over the recent window


def mart_stats(con: duckdb.DuckDBPyConnection, schema: str, rule: MartRule) -> MartStats | None:
    """None when the table does not exist in `schema` (of the connection's current catalog)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
        [schema, rule.table],
    ).fetchone()[0]
    if not exists:
        return None
    table = f'"{schema}"."{rule.table}"'
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if rule.date_column is None:
        return MartStats(rows, None, {})
    date = f'"{rule.date_column}"'
    last = con.execute(f"SELECT max({date})::DATE FROM {table}").fetchone()[0]
    recent: dict[str, int] = {}
    if rule.required:
        counts = ", ".join(f'count("{c}")' for c in rule.required)
        values = con.execute(
            f"SELECT {counts} FROM {table} WHERE {date} > (SELECT max({date}) FROM {table}) - ?::INTEGER",
            [rule.recent_days],
        ).fetchone()
        recent = dict(zip(rule.required, values, strict=True))
    return MartStats(rows, last, recent)


@dataclasses.dataclass
class GateResult:
    blocked: list[str] = dataclasses.field(default_factory=list)  # problems that stop the publish
    shrinks: list[str] = dataclasses.field(default_factory=list)  # those of them the override would pass
    overridden: list[str] = dataclasses.field(default_factory=list)  # shrinks let through by the override
    compared_with: str = "nothing (first publish)"
    tables: dict[str, dict] = dataclasses.field(default_factory=dict)  # per mart: candidate vs published

    @property
    def passed(self) -> bool:
        return not self.blocked

    def summary(self) -> str:
        if self.blocked:
            return "publish gate: BLOCKED: " + "; ".join(self.blocked)
        if self.overridden:
            return "publish gate: passed with LIQUIDITY_ALLOW_SHRINK=1: " + "; ".join(self.overridden)
        return f"publish gate: passed (compared with {self.compared_with})"


def _published_connection(path: Path) -> duckdb.DuckDBPyConnection | None:
    """The published serving file, read-only; None when there is none or it cannot be read (a damaged
    file is replaced as if it were absent: there is nothing in it for readers to keep)."""
    if not path.exists():
        return None
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None


def evaluate(
    candidate: duckdb.DuckDBPyConnection,
    published_path: Path,
    rules: dict[str, MartRule],
    *,
    allow_shrink: bool,
    candidate_schema: str = "main",
    published_schema: str = "main",
    published_con: duckdb.DuckDBPyConnection | None = None,
) -> GateResult:
    """`published_con` (kept open): the published marts are in `published_schema` of this connection
    (the serving schema of a DuckLake warehouse) rather than in the file `published_path`; a schema
    without the tables counts as a first publish."""
    result = GateResult()
    if published_con is not None:
        published = published_con
        present = published.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
            "AND table_schema = ?",
            [published_schema],
        ).fetchone()[0]
        if not present:
            published = None
    else:
        published = _published_connection(published_path)
    if published is not None:
        result.compared_with = str(published_path)
    try:
        for table, rule in rules.items():
            new = mart_stats(candidate, candidate_schema, rule)
            old = mart_stats(published, published_schema, rule) if published is not None else None
            result.tables[table] = {
                "candidate": _describe(new),
                "published": _describe(old) if published is not None else None,
            }
            _judge(result, rule, new, old, allow_shrink)
    except duckdb.Error as exc:
        result.blocked.append(f"cannot compare with the published marts: {exc}")
    finally:
        if published is not None and published is not published_con:
            published.close()
    return result


def _describe(stats: MartStats | None) -> dict | None:
    if stats is None:
        return None
    return {
        "rows": stats.rows,
        "last_date": stats.last_date.isoformat() if stats.last_date else None,
        "recent_non_null": stats.recent_values,
    }


def _judge(
    result: GateResult, rule: MartRule, new: MartStats | None, old: MartStats | None, allow_shrink: bool
) -> None:
    table = rule.table
    if new is None or new.rows == 0:
        result.blocked.append(f"{table} is empty" + (f" (published: {old.rows:,} rows)" if old else ""))
        return
    for column, count in new.recent_values.items():
        had = old is None or old.recent_values.get(column, 0) > 0
        if count == 0 and had:
            result.blocked.append(
                f"{table}.{column} is NULL on every row of the last {rule.recent_days} days "
                f"(to {new.last_date})"
                + (f"; published had {old.recent_values[column]} values" if old else "")
            )
    if old is None:
        return
    shrinks = []
    if new.rows < old.rows:
        shrinks.append(f"{table} would lose rows: {old.rows:,} published, {new.rows:,} now")
    if old.last_date and new.last_date and new.last_date < old.last_date:
        shrinks.append(
            f"{table} last {rule.date_column} would move back from {old.last_date} to {new.last_date}"
        )
    if allow_shrink:
        result.overridden.extend(shrinks)
    else:
        result.blocked.extend(shrinks)
        result.shrinks.extend(shrinks)


def content_digest(con: duckdb.DuckDBPyConnection, tables: list[str], schema: str = "main") -> dict | None:
    """Per table: its columns and types, row count and the sum of its row hashes (order-independent).
    Equal digests mean equal marts, so an unchanged build need not replace the published file.
    None when a table is missing."""
    out = {}
    for table in tables:
        columns = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = "
            "current_database() AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, table],
        ).fetchall()
        if not columns:
            return None
        count, digest = con.execute(
            f'SELECT count(*), sum(hash(x))::VARCHAR FROM "{schema}"."{table}" AS x'
        ).fetchone()
        out[table] = (tuple(columns), count, digest)
    return out


def published_digest(path: Path, tables: list[str]) -> dict | None:
    published = _published_connection(path)
    if published is None:
        return None
    try:
        return content_digest(published, tables)
    except duckdb.Error:
        return None
    finally:
        published.close()
