"""What a materialization shows in the Dagster UI: row count, date range, the last value of the
table's headline series and a Markdown preview of its newest rows.

The raw tables' headline series and preview columns come from the raw-table registry
(`ingest/registry.py`); `profiles()` adds the marts'. Raw assets compute this with their own connection right after loading;
the dbt asset computes it after `dbt build` has exited (the dbt process holds DuckDB's file lock
while it runs). Every query is read-only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from typing import Any

import dagster as dg
import duckdb

from ingest import registry
from ingest.registry import Headline

ROW_COUNT = "dagster/row_count"  # shown natively by the UI (table metadata)
PREVIEW_ROWS = 5
# Date columns looked for, in this order, when a table has no profile (staging, intermediate, seeds).
DATE_COLUMNS = ("date", "date_day", "observation_date", "quarter_start", "event_date")


@dataclasses.dataclass(frozen=True)
class Profile:
    table: str  # schema.table in warehouse.duckdb
    date: str  # ordering column of the preview and the headline
    headlines: tuple[Headline, ...] = ()
    preview: tuple[str, ...] = ()  # preview columns, newest rows first
    preview_where: str = "TRUE"
    preview_order: str = ""  # default: `date` DESC
    preview_limit: int = PREVIEW_ROWS
    date_range: tuple[str, str] | None = None  # (first, last) columns when not `date`
    summary_by: str = ""  # raw tables: a per-series summary (rows, first, last) grouped by this expression


def profiles() -> dict[str, Profile]:
    """Asset key (user string) -> what its materialization reports."""
    raw = {
        f"raw/{t.name}": Profile(
            t.table,
            t.date_column,
            (t.headline(),),
            t.preview,
            preview_where=t.preview_where,
            preview_order=t.preview_order,
            summary_by=t.summary_by or t.series_column,
        )
        for t in registry.RAW_TABLES
    }
    return {
        **raw,
        "marts/liquidity_daily": Profile(
            "marts.liquidity_daily",
            "date",
            (Headline("net_liquidity_bn", "net_liquidity_bn"),),
            (
                "date",
                "net_liquidity_bn",
                "net_liquidity_daily_bn",
                "fed_total_assets_bn",
                "tga_bn",
                "tga_daily_bn",
                "on_rrp_bn",
                "reserves_bn",
                "sofr_iorb_spread_bp",
                "sofr_effr_spread_bp",
                "policy_phase",
                "stale_inputs",
            ),
        ),
        "marts/crypto_vs_liquidity": Profile(
            "marts.crypto_vs_liquidity",
            "date",
            (
                Headline("btc_price_usd", "btc_price_usd"),
                Headline("net_liquidity_bn", "net_liquidity_bn"),
            ),
            (
                "date",
                "btc_price_usd",
                "total_market_cap_usd",
                "net_liquidity_bn",
                "lag_days",
                "net_liquidity_lagged_bn",
                "btc_corr_levels_365d",
                "btc_corr_changes_365d",
            ),
        ),
        "marts/crypto_vs_liquidity_by_coin": Profile(
            "marts.crypto_vs_liquidity_by_coin",
            "date",
            (Headline("net_liquidity_bn (as known at the newest snapshot)", "net_liquidity_bn"),),
            (
                "date",
                "coin_id",
                "price_usd",
                "market_cap_usd",
                "net_liquidity_bn",
                "net_liquidity_lagged_bn",
                "corr_levels_365d",
                "corr_changes_365d",
            ),
            preview_order="date DESC, coin_id",
            summary_by="coin_id",
        ),
        "marts/liquidity_signals": Profile(
            "marts.liquidity_signals",
            "date",
            (Headline("stress_score (share of evaluated flags)", "stress_score"),),
            (
                "date",
                "stress_score",
                "n_flags_true",
                "n_flags_evaluated",
                "sofr_above_iorb",
                "sofr_effr_above_p95",
                "on_rrp_below_buffer",
                "reserves_below_gdp_threshold",
                "reserve_regime_scarce",
                "standing_repo_used",
            ),
        ),
        "marts/reserve_adequacy": Profile(
            "marts.reserve_adequacy",
            "quarter_start",
            (Headline("reserves_to_gdp_pct", "reserves_to_gdp_pct"),),
            (
                "quarter_start",
                "is_complete_quarter",
                "gdp_bn",
                "reserves_avg_bn",
                "reserves_to_gdp_pct",
                "target_reserves_to_gdp_pct",
                "shortfall_or_excess_bn",
            ),
        ),
        "marts/liquidity_lag_scan": Profile(
            "marts.liquidity_lag_scan",
            "last_date",
            tuple(
                Headline(
                    f"{asset} best lead, full period (days)",
                    "best_lead_levels_days",
                    where=f"asset = '{asset}' AND period = 'full' AND is_best_levels",
                )
                for asset in ("btc", "eth", "total")
            ),
            (
                "asset",
                "period",
                "best_lead_levels_days",
                "best_corr_levels",
                "best_lead_changes_days",
                "best_corr_changes",
                "first_date",
                "last_date",
            ),
            preview_where="is_best_levels",
            preview_order="asset, period",
            preview_limit=50,
            date_range=("first_date", "last_date"),
        ),
        "marts/liquidity_lead_over_time": Profile(
            "marts.liquidity_lead_over_time",
            "window_end",
            tuple(
                Headline(
                    f"{asset} best lead, newest window, 7-day changes (days)",
                    "best_lead_changes_days",
                    where=f"asset = '{asset}'",
                )
                for asset in ("btc", "eth", "total")
            ),
            (
                "asset",
                "window_end",
                "best_lead_levels_days",
                "best_corr_levels",
                "best_lead_changes_days",
                "best_corr_changes",
                "best_lead_changes_ci_low_days",
                "best_lead_changes_ci_high_days",
            ),
            preview_order="window_end DESC, asset",
            date_range=("window_start", "window_end"),
        ),
        "marts/policy_event_windows": Profile(
            "marts.policy_event_windows",
            "event_date",
            (
                Headline(
                    "BTC +30 trading days after the newest event (log return)",
                    "cum_log_return",
                    where="asset = 'btc' AND rel_day = 30",
                ),
            ),
            ("event_date", "event_kind", "asset", "rel_day", "cum_log_return", "net_liquidity_change_bn"),
            preview_where="rel_day = 30",
            preview_order="event_date DESC, event_kind, asset",
            date_range=("event_date", "event_date"),
        ),
        "marts/liquidity_thresholds": Profile(
            "marts.liquidity_thresholds",
            "value_date",  # no date of its own; the one date var (on_rrp_zero_before) stands in
            (Headline("reserve_scarce_pct", "value", where="name = 'reserve_scarce_pct'"),),
            ("name", "value", "value_date", "unit"),
            preview_order="name",
        ),
        "marts/series_freshness": Profile(
            "marts.series_freshness",
            "as_of_date",
            (Headline("WALCL days since observation", "days_since_observation", "series_id = 'WALCL'"),),
            (
                "source",
                "series_id",
                "last_observation_date",
                "days_since_observation",
                "max_stale_days",
                "status",
            ),
            preview_where="status <> 'current'",  # what is stale or missing
            preview_order="source, series_id",
            preview_limit=50,
        ),
    }


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:,.2f}" if abs(value) >= 1000 else f"{value:.6g}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    """A GitHub-flavoured Markdown table (what `MetadataValue.md` renders)."""
    if not rows:
        return "(no rows)"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_format(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    cursor = con.execute(sql)
    return [d[0] for d in cursor.description], cursor.fetchall()


def _date_column(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    schema, name = table.split(".", 1)
    present = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        ).fetchall()
    }
    return next((c for c in DATE_COLUMNS if c in present), None)


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None


def table_metadata(con: duckdb.DuckDBPyConnection, asset_key: str, table: str) -> dict[str, Any]:
    """Metadata for one table: its profile in `profiles()`, or row count and date range only."""
    profile = profiles().get(asset_key)
    table = profile.table if profile else table
    metadata: dict[str, Any] = {
        ROW_COUNT: dg.MetadataValue.int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]),
        "table": table,
    }
    if profile is None:
        date = _date_column(con, table)
        first_col, last_col = (date, date) if date else (None, None)
    else:
        date = profile.date
        first_col, last_col = profile.date_range or (date, date)
    if first_col:
        first, last = con.execute(f"SELECT min({first_col}), max({last_col}) FROM {table}").fetchone()
        metadata["first_date"] = _iso(first) or "(none)"
        metadata["last_date"] = _iso(last) or "(none)"
    if profile is None:
        return metadata

    notes = []
    for h in profile.headlines:
        row = con.execute(
            f"SELECT {date}, {h.column} FROM {table} WHERE {h.column} IS NOT NULL AND ({h.where}) "
            f"ORDER BY {date} DESC{', ' + h.tie_break if h.tie_break else ''} LIMIT 1"
        ).fetchone()
        if row is None:
            notes.append(f"{h.name}: no value")
            continue
        value = float(row[1]) * h.scale
        metadata[h.name] = dg.MetadataValue.float(value)
        notes.append(f"{h.name} = {_format(value)} on {_iso(row[0]) or row[0]}")
    if notes:
        metadata["headline"] = "; ".join(notes)

    order = profile.preview_order or f"{date} DESC"
    columns, rows = _query(
        con,
        f"SELECT {', '.join(profile.preview)} FROM {table} WHERE {profile.preview_where} "
        f"ORDER BY {order} LIMIT {profile.preview_limit}",
    )
    metadata["preview"] = dg.MetadataValue.md(markdown_table(columns, rows))
    if profile.summary_by:
        columns, rows = _query(
            con,
            f"SELECT {profile.summary_by} AS series, count(*) AS rows, min({date}) AS first, "
            f"max({date}) AS last FROM {table} GROUP BY 1 ORDER BY 1",
        )
        metadata["series"] = dg.MetadataValue.md(markdown_table(columns, rows))
    return metadata


def safe_table_metadata(
    con: duckdb.DuckDBPyConnection, asset_key: str, table: str, log: logging.Logger
) -> dict[str, Any]:
    """`table_metadata`, but a failing metadata query is logged, never fails the materialization."""
    try:
        return table_metadata(con, asset_key, table)
    except duckdb.Error as exc:
        log.warning("no table metadata for %s (%s): %s", asset_key, table, exc)
        return {}
