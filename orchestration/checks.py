"""Python asset checks (rules in `ingest/quality.py`). Blocking checks stop the run before publication."""

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb

from ingest import load, quality, registry
from orchestration.resources import WarehouseResource

LIQUIDITY_DAILY = dg.AssetKey(["marts", "liquidity_daily"])


def as_of_today() -> dt.date:
    """The replay snapshot's cut date in replay mode, else today in New York."""
    return load.replay_today() or dt.datetime.now(ZoneInfo("America/New_York")).date()


def _result(finding: quality.Finding, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    metadata = {
        "summary": finding.summary,
        **{k: dg.MetadataValue.json(v) for k, v in finding.details.items()},
    }
    if finding.warning:
        # Passed with a concern: report it as a failed WARN so it is visible, never silent.
        return dg.AssetCheckResult(
            passed=False, severity=dg.AssetCheckSeverity.WARN, metadata=metadata, description=finding.summary
        )
    return dg.AssetCheckResult(
        passed=finding.passed, severity=severity, metadata=metadata, description=finding.summary
    )


def _check(
    asset: dg.AssetKey,
    name: str,
    description: str,
    rule: Callable[[duckdb.DuckDBPyConnection], quality.Finding],
    *,
    blocking: bool,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name=name, description=description, blocking=blocking)
    def _impl(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            return _result(rule(con), severity)

    return _impl


def _raw(name: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", name])


# The Python rules a raw table of the registry can list (`RawTable.rules`): check name -> (description,
# rule(con, table), blocking). Every raw table also gets `schema_drift`.
TABLE_RULES: dict[
    str, tuple[str, Callable[[duckdb.DuckDBPyConnection, registry.RawTable], quality.Finding], bool]
] = {
    "unit_drift": (
        "No ~1000x jump between consecutive observations of a stock series, right after the load "
        "(blocking; the catalog band is dbt's within_catalog_band test on staging).",
        lambda con, t: quality.unit_drift(con, t.source),
        True,
    ),
    "continuity": (
        "No missing Wednesday inside a weekly series; no business-day gap longer than the Fed holiday "
        "calendar allows in daily series over the last two years (blocking).",
        lambda con, t: quality.continuity(con, t.source),
        True,
    ),
    "freshness": (
        "Newest observation against the release calendar (e.g. WALCL late if no new Wednesday by the "
        "Friday after its Thursday release; a DTS record date by the next business day; a coin's daily "
        "close within dbt var crypto_max_stale_days). Required series late: error; optional stale: "
        "warning. On the raw asset, so it runs in every run, also when dbt has nothing to rebuild.",
        lambda con, t: quality.table_freshness(con, t, as_of_today()),
        False,
    ),
    "served": (
        "Every catalog series the table already holds was in the source's latest load; one that is no "
        "longer served (renamed or discontinued upstream) is a WARN naming it.",
        lambda con, t: quality.served(con, t.source),
        False,
    ),
}
ALL_CHECKS = [
    *[
        _check(
            _raw(t.name),
            "schema_drift",
            f"Columns and types of {t.table} equal its declaration in ingest/registry.py (blocking).",
            lambda con, table=t.table: quality.schema_drift(con, table),
            blocking=True,
        )
        for t in registry.RAW_TABLES
    ],
    *[
        _check(
            _raw(t.name),
            rule,
            TABLE_RULES[rule][0],
            lambda con, t=t, rule=rule: TABLE_RULES[rule][1](con, t),
            blocking=TABLE_RULES[rule][2],
        )
        for t in registry.RAW_TABLES
        for rule in t.rules
    ],
    # The DTS rules read dbt's long table (the label eras already mapped), so they sit on the mart.
    _check(
        LIQUIDITY_DAILY,
        "dts_reconciliation_with_h41",
        "The Daily Treasury Statement's TGA close equals WDTGAL and DDP RESPPLLDT_N.WW on every Wednesday "
        "(exactly, whole millions), and its Thursday-Wednesday average equals WTREGEN within $1 million "
        "(catalog reconciles_with of DTS_TGA_CLOSE; blocking).",
        quality.dts_reconciliation,
        blocking=True,
    ),
    _check(
        LIQUIDITY_DAILY,
        "dts_unit_drift",
        "No ~1000x jump between DTS record dates (blocking; the catalog band is dbt's within_catalog_band).",
        quality.dts_unit_drift,
        blocking=True,
    ),
    _check(
        LIQUIDITY_DAILY,
        "dts_continuity",
        "A DTS TGA close on every business day of the holiday calendar between the first and last record "
        "(blocking).",
        quality.dts_continuity,
        blocking=True,
    ),
    _check(
        LIQUIDITY_DAILY,
        "no_future_dates",
        "No raw observation and no liquidity_daily / crypto_vs_liquidity row is dated after the run's "
        "as-of day (today; the cut date in replay) (blocking).",
        # UTC, not New York: a CoinGecko point dated D is snapped at D 00:00 UTC, evening D-1 in New York.
        lambda con: quality.no_future_dates(con, load.replay_today() or dt.datetime.now(dt.UTC).date()),
        blocking=True,
    ),
]
