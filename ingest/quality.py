"""Data-quality rules over the warehouse that SQL tests cannot express well.

Plain functions returning a `Finding`; `orchestration/checks.py` turns them into Dagster asset
checks. Every finding says what was compared and lists the offending series or rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

import duckdb

from ingest import calendar, catalog, registry, settings, warehouse
from ingest.catalog import Series

JUMP_FACTOR = 300.0  # consecutive observations differing by ~1000x are a unit change, not a market move
DAILY_CONTINUITY_DAYS = 730  # daily series: gaps are checked over the last two years
MAX_MISSING_BUSINESS_DAYS = 1  # SOFR/EFFR skip SIFMA-only holidays such as Good Friday


@dataclasses.dataclass
class Finding:
    passed: bool
    summary: str
    details: dict = dataclasses.field(default_factory=dict)
    warning: bool = False  # a non-blocking concern (e.g. a legitimately stale optional series)


def _series_table(source: str) -> str:
    return registry.for_catalog_source(source).table


@functools.cache
def expected_columns() -> dict[str, list[tuple[str, str]]]:
    """Columns and types each raw table must have, derived from the DDL itself (one source of truth)."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(warehouse.DDL)
        return _columns(con)
    finally:
        con.close()


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'raw' ORDER BY table_name, ordinal_position"
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        out.setdefault(f"raw.{table}", []).append((column, dtype))
    return out


def schema_drift(con: duckdb.DuckDBPyConnection, table: str) -> Finding:
    expected = expected_columns()[table]
    actual = _columns(con).get(table, [])
    if actual == expected:
        return Finding(True, f"{table}: {len(actual)} columns as expected")
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    return Finding(
        False,
        f"{table}: columns differ from the DDL",
        {
            "missing_or_changed": [f"{c} {t}" for c, t in missing],
            "unexpected": [f"{c} {t}" for c, t in extra],
        },
    )


def unit_drift(con: duckdb.DuckDBPyConnection, source: str) -> Finding:
    """No ~1000x jump between consecutive raw observations of a stock series (USD bn, positive band).

    Checked on the raw table right after the load, before dbt: a rescaled response (thousands read
    as millions) shows as a jump against the rows already loaded. The catalog band itself (every
    value inside min_value..max_value in the target unit) is dbt's test `within_catalog_band` on
    staging, its one home."""
    table = _series_table(source)
    offenders: list[dict] = []
    for s in catalog.series_for(source):
        if s.target_unit != "usd_bn" or s.min_value <= 0:
            continue
        jumps = con.execute(
            f"""SELECT observation_date::VARCHAR, prev, value FROM (
                    SELECT observation_date, value, lag(value) OVER (ORDER BY observation_date) AS prev
                    FROM {table} WHERE series_id = ?)
                WHERE prev > 0 AND value > 0 AND (value / prev > ? OR prev / value > ?)
                ORDER BY observation_date LIMIT 5""",
            [s.series_id, JUMP_FACTOR, JUMP_FACTOR],
        ).fetchall()
        offenders += [
            {
                "series": s.series_id,
                "date": day,
                "previous": prev,
                "value": value,
                "ratio": round(value / prev, 6),
            }
            for day, prev, value in jumps
        ]
    if offenders:
        return Finding(
            False,
            f"{len(offenders)} values jump ~1000x: units changed upstream",
            {"offending": offenders[:20]},
        )
    return Finding(True, "no ~1000x jumps between consecutive observations")


def served(con: duckdb.DuckDBPyConnection, source: str) -> Finding:
    """Every catalog series the raw table already holds was in the source's latest load.

    A series skipped by the newest run of the source (its column gone from the DDP file, a fredgraph
    404) while earlier loads brought rows of it was renamed or discontinued upstream: the marts keep
    carrying its last value until it goes stale, so the run warns now, naming it."""
    table = _series_table(source)
    rows = con.execute(
        f"""WITH latest AS (
                SELECT run_id FROM raw.load_log WHERE source = ? ORDER BY loaded_at DESC LIMIT 1)
            SELECT l.series, l.message, max(o.observation_date)::VARCHAR
            FROM raw.load_log l JOIN {table} o ON o.series_id = l.series
            WHERE l.source = ? AND l.status = 'skipped' AND l.run_id = (SELECT run_id FROM latest)
            GROUP BY 1, 2 ORDER BY 1""",
        [source, source],
    ).fetchall()
    if rows:
        gone = [{"series": sid, "last": last, "message": message} for sid, message, last in rows]
        names = ", ".join(g["series"] for g in gone)
        return Finding(
            True,
            f"{len(gone)} catalog series no longer served by {source}: {names}",
            {"not_served": gone},
            warning=True,
        )
    return Finding(True, f"every loaded {source} series was in its latest load")


def continuity(con: duckdb.DuckDBPyConnection, source: str) -> Finding:
    """No missing Wednesday inside a weekly series' range; no business-day gap past the holiday calendar."""
    table = _series_table(source)
    offenders = []
    for s in catalog.series_for(source):
        dates = [
            r[0]
            for r in con.execute(
                f"SELECT observation_date FROM {table} WHERE series_id = ? ORDER BY 1", [s.series_id]
            ).fetchall()
        ]
        if len(dates) < 2:
            continue
        if s.cadence == "weekly":
            for a, b in zip(dates, dates[1:], strict=False):
                if (b - a).days != 7:
                    offenders.append(
                        {
                            "series": s.series_id,
                            "after": a.isoformat(),
                            "next": b.isoformat(),
                            "gap_days": (b - a).days,
                        }
                    )
        elif s.cadence == "daily" and s.dating == "business_day":
            since = dates[-1] - dt.timedelta(days=DAILY_CONTINUITY_DAYS)
            recent = [d for d in dates if d >= since]
            for a, b in zip(recent, recent[1:], strict=False):
                missing = _business_days_between(a, b)
                if missing > MAX_MISSING_BUSINESS_DAYS:
                    offenders.append(
                        {
                            "series": s.series_id,
                            "after": a.isoformat(),
                            "next": b.isoformat(),
                            "missing_business_days": missing,
                        }
                    )
        elif s.cadence == "daily":
            since = dates[-1] - dt.timedelta(days=DAILY_CONTINUITY_DAYS)
            recent = [d for d in dates if d >= since]
            for a, b in zip(recent, recent[1:], strict=False):
                if (b - a).days > 1:
                    offenders.append(
                        {
                            "series": s.series_id,
                            "after": a.isoformat(),
                            "next": b.isoformat(),
                            "gap_days": (b - a).days,
                        }
                    )
    if offenders:
        return Finding(False, f"{len(offenders)} gaps in {source} series", {"gaps": offenders[:20]})
    return Finding(True, f"no unexpected gaps in {source} series")


def _business_days_between(a: dt.date, b: dt.date) -> int:
    day, count = a + dt.timedelta(days=1), 0
    while day < b:
        count += calendar.is_business_day(day)
        day += dt.timedelta(days=1)
    return count


def expected_latest(s: Series, today: dt.date) -> dt.date:
    """The newest observation date that should be public (and ingested, with a day's grace) by `today`:
    released by the end of the day before (the same day for `same_day` series)."""
    grace = dt.timedelta(days=0 if s.release_rule == "same_day" else 1)
    return calendar.newest_released(s, calendar.end_of_day(today - grace))


def freshness(con: duckdb.DuckDBPyConnection, source: str, today: dt.date) -> Finding:
    """Late against the release calendar: required series fail, optional ones warn with the reason."""
    table = _series_table(source)
    late_required, late_optional = [], []
    for s in catalog.series_for(source):
        last = con.execute(
            f"SELECT max(observation_date) FROM {table} WHERE series_id = ?", [s.series_id]
        ).fetchone()[0]
        expected = expected_latest(s, today)
        if last is None or last < expected:
            entry = {
                "series": s.series_id,
                "last": last.isoformat() if last else None,
                "expected_at_least": expected.isoformat(),
                "days_behind": (expected - last).days if last else None,
            }
            if s.required:
                late_required.append(entry)
            else:
                entry["reason"] = (
                    "optional series, not updated by its source since then"
                    if last
                    else "optional series, absent from this source"
                )
                late_optional.append(entry)
    details = {"as_of": today.isoformat(), "late_required": late_required, "stale_optional": late_optional}
    if late_required:
        return Finding(False, f"{len(late_required)} required series late", details)
    if late_optional:
        return Finding(
            True,
            f"{len(late_optional)} optional series stale (reported, not blocking)",
            details,
            warning=True,
        )
    return Finding(True, f"every {source} series is current as of {today}", details)


def crypto_freshness(con: duckdb.DuckDBPyConnection, coins: list[str], today: dt.date) -> Finding:
    """Every configured coin's newest daily close (raw.coingecko_market_chart) within its staleness
    limit of the run's day: dbt var `crypto_max_stale_days`, the one home of that rule, which dbt's
    `series_freshness.max_stale_days` shows too. A coin without a row (never loaded) is late."""
    limit = int(settings.dbt_var("crypto_max_stale_days"))
    rows = dict(
        con.execute(
            "SELECT coin_id, max(observation_date) FROM raw.coingecko_market_chart "
            "WHERE coin_id = ANY(?) GROUP BY coin_id",
            [coins],
        ).fetchall()
    )
    expected = today - dt.timedelta(days=limit)
    late = [
        {
            "coin": coin,
            "last": rows[coin].isoformat() if rows.get(coin) else None,
            "expected_at_least": expected.isoformat(),
        }
        for coin in coins
        if rows.get(coin) is None or rows[coin] < expected
    ]
    details = {"as_of": today.isoformat()}
    if late:
        return Finding(False, f"{len(late)} coins late (limit {limit} day)", {**details, "late": late})
    return Finding(True, f"every coin is within its staleness limit ({limit} day)", details)


FUTURE_TABLES = {
    # table: (date column, what names the series, value column): every raw table, and the two marts
    **{t.table: (t.date_column, t.series_column, t.value_sql) for t in registry.RAW_TABLES},
    "marts.liquidity_daily": ("date", None, "net_liquidity_bn"),
    "marts.crypto_vs_liquidity": ("date", None, "btc_price_usd"),
}


def no_future_dates(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> Finding:
    """No raw observation and no mart row dated after the run's as-of day (today; the snapshot's cut
    date in replay). Loaders refuse such payloads; this catches rows that reached the warehouse some
    other way (an older version, a manual insert), which would otherwise stretch every mart's
    calendar into the future and freeze the series' watermark."""
    ahead, newest = [], {}
    for table, (date_col, name_col, value_col) in FUTURE_TABLES.items():
        newest[table] = con.execute(f"SELECT max({date_col})::VARCHAR FROM {table}").fetchone()[0]
        name = f"{name_col}" if name_col else "NULL"
        rows = con.execute(
            f"SELECT {name}, {date_col}::VARCHAR, {value_col} FROM {table} WHERE {date_col} > ? "
            f"ORDER BY {date_col} LIMIT 5",
            [as_of],
        ).fetchall()
        for series, day, value in rows:
            ahead.append({"table": table, "series": series, "date": day, "value": value})
    details = {"as_of": as_of.isoformat(), "newest": newest}
    if ahead:
        return Finding(False, f"rows dated after {as_of}", {**details, "future_rows": ahead[:20]})
    return Finding(True, f"nothing dated after {as_of}", details)


# --- Daily Treasury Statement: the daily TGA close (concept tga_daily, series DTS_TGA_CLOSE) -------
# These rules read dbt's staging views, where the DTS's three label eras are already one series in
# USD billions (the one home of that mapping) beside the FRED and DDP series in the same unit; they
# run as checks on marts/liquidity_daily, after dbt and before publication. Views, so the rules see
# the raw layer as it is now.

OBSERVATIONS = (
    "("
    + " UNION ALL ".join(
        f"SELECT series_id, observation_date, value FROM staging.{view}"
        for view in ("stg_treasury_dts__observations", "stg_fred__observations", "stg_fed_ddp__observations")
    )
    + ")"
)
# Wednesday level (WDTGAL, DDP RESPPLLDT_N.WW): both sides are whole millions of USD and equal
# exactly on every recorded Wednesday (232 WDTGAL weeks 2021-08..2026-01, 100 DDP weeks), so
# anything beyond rounding noise of the scaling (1e-9 bn) is a difference.
WEDNESDAY_TOLERANCE_BN = 0.0000005
# Week average (WTREGEN): the Fed averages unrounded daily balances and publishes whole millions;
# averaging the DTS's whole-million closes can differ from that by up to 0.5 (the Fed's rounding)
# + 0.5 (the mean of seven roundings) million. Recorded: at most $0.857 million on 525 weeks
# 2016-01..2026-01. A day rescaled 1000x or shifted by a day moves the average by far more.
WEEK_AVERAGE_TOLERANCE_BN = 0.001


def _dts_series() -> Series:
    return next(s for s in catalog.series_for("treasury_dts") if s.concept == "tga_daily")


def _dts_dates(con: duckdb.DuckDBPyConnection, s: Series) -> list[dt.date]:
    return [
        r[0]
        for r in con.execute(
            f"SELECT observation_date FROM {OBSERVATIONS} WHERE series_id = ? ORDER BY 1", [s.series_id]
        ).fetchall()
    ]


def dts_reconciliation(con: duckdb.DuckDBPyConnection) -> Finding:
    """The DTS close against each series in its catalog `reconciles_with`, by that series' dating:
    a Wednesday level equals the close of that Wednesday (a holiday Wednesday carries the last
    close), a week average equals the Thursday-Wednesday mean of the daily closes (weekends and
    holidays carrying the last close), over the weeks the DTS history covers in full."""
    s = _dts_series()
    compared, offenders = {}, []
    for partner_id in s.reconciles_with.split():
        partner = next(p for p in catalog.load_catalog() if p.series_id == partner_id)
        if partner.dating == "wednesday_level":
            sql = f"""
                WITH dts AS (SELECT observation_date, value FROM {OBSERVATIONS} WHERE series_id = $dts),
                     other AS (SELECT observation_date, value FROM {OBSERVATIONS} WHERE series_id = $other
                               AND observation_date BETWEEN (SELECT min(observation_date) FROM dts)
                                                        AND (SELECT max(observation_date) FROM dts))
                SELECT other.observation_date::VARCHAR, dts.value, other.value
                FROM other ASOF JOIN dts ON other.observation_date >= dts.observation_date
                ORDER BY 1"""
            tolerance = WEDNESDAY_TOLERANCE_BN
        elif partner.dating == "week_average":
            sql = f"""
                WITH dts AS (SELECT observation_date, value FROM {OBSERVATIONS} WHERE series_id = $dts),
                     other AS (SELECT observation_date, value FROM {OBSERVATIONS} WHERE series_id = $other
                               AND observation_date - 6 >= (SELECT min(observation_date) FROM dts)
                               AND observation_date <= (SELECT max(observation_date) FROM dts)),
                     days AS (SELECT other.observation_date AS week, other.value AS other_value,
                                     unnest(range(other.observation_date - 6, other.observation_date + 1,
                                                  INTERVAL 1 DAY))::DATE AS day
                              FROM other),
                     carried AS (SELECT days.week, days.other_value, dts.value
                                 FROM days ASOF JOIN dts ON days.day >= dts.observation_date)
                SELECT week::VARCHAR, avg(value), any_value(other_value) FROM carried GROUP BY week ORDER BY 1"""
            tolerance = WEEK_AVERAGE_TOLERANCE_BN
        else:
            raise ValueError(f"{partner_id}: cannot reconcile a daily close with dating {partner.dating!r}")
        rows = con.execute(sql, {"dts": s.series_id, "other": partner_id}).fetchall()
        pair = f"{s.series_id} vs {partner_id} ({partner.dating})"
        compared[pair] = len(rows)
        offenders += [
            {
                "pair": pair,
                "date": day,
                "dts_bn": round(dts, 6),
                "other_bn": round(other, 6),
                "difference_millions": round((dts - other) * 1000, 3),
            }
            for day, dts, other in rows
            if abs(dts - other) > tolerance
        ]
    details = {
        "weeks_compared": compared,
        "tolerance_millions": {
            "wednesday_level": WEDNESDAY_TOLERANCE_BN * 1000,
            "week_average": WEEK_AVERAGE_TOLERANCE_BN * 1000,
        },
    }
    if offenders:
        details["differences"] = offenders[:20]
        return Finding(
            False, f"{len(offenders)} weeks where the DTS TGA close disagrees with the H.4.1", details
        )
    if not any(compared.values()):
        return Finding(
            True, "no overlapping weeks between the DTS and the H.4.1 TGA series", details, warning=True
        )
    return Finding(
        True, f"DTS TGA close reconciles with the H.4.1 on {sum(compared.values())} weeks", details
    )


def dts_unit_drift(con: duckdb.DuckDBPyConnection) -> Finding:
    """No ~1000x jump between consecutive DTS TGA closes (the band is dbt's `within_catalog_band`)."""
    s = _dts_series()
    rows = con.execute(
        f"""SELECT observation_date::VARCHAR, prev, value FROM (
                SELECT observation_date, value, lag(value) OVER (ORDER BY observation_date) AS prev
                FROM {OBSERVATIONS} WHERE series_id = ?)
            WHERE prev > 0 AND value > 0 AND (value / prev > ? OR prev / value > ?)
            ORDER BY 1 LIMIT 20""",
        [s.series_id, JUMP_FACTOR, JUMP_FACTOR],
    ).fetchall()
    if rows:
        offending = [{"date": day, "previous_bn": prev, "value_bn": value} for day, prev, value in rows]
        return Finding(
            False, f"{len(rows)} DTS TGA closes jump ~1000x: units changed upstream", {"offending": offending}
        )
    return Finding(True, "no ~1000x jumps between DTS TGA closes")


def dts_continuity(con: duckdb.DuckDBPyConnection) -> Finding:
    """A DTS TGA close on every business day of the calendar between the first and last record."""
    s = _dts_series()
    dates = _dts_dates(con, s)
    if len(dates) < 2:
        return Finding(True, "fewer than two DTS record dates: nothing to compare", warning=not dates)
    have = set(dates)
    missing, day = [], dates[0]
    while day < dates[-1]:
        if calendar.is_business_day(day) and day not in have:
            missing.append(day.isoformat())
        day += dt.timedelta(days=1)
    details = {
        "range": {"first": dates[0].isoformat(), "last": dates[-1].isoformat(), "record_dates": len(dates)}
    }
    if missing:
        return Finding(
            False,
            f"{len(missing)} business days without a DTS TGA close",
            {**details, "missing": missing[:20]},
        )
    return Finding(True, f"a DTS TGA close on every business day {dates[0]}..{dates[-1]}", details)


def dts_freshness(con: duckdb.DuckDBPyConnection, today: dt.date) -> Finding:
    """The newest statement's record date in the raw DTS table against the DTS calendar (day d is
    published the next business day). Every statement's rows arrive together, so the table's newest
    record date is the newest statement loaded, whatever its label era."""
    s = _dts_series()
    table = registry.BY_NAME["treasury_dts_cash_balance"].table
    last = con.execute(f"SELECT max(observation_date) FROM {table}").fetchone()[0]
    expected = expected_latest(s, today)
    entry = {
        "series": s.series_id,
        "last": last.isoformat() if last else None,
        "expected_at_least": expected.isoformat(),
        "days_behind": (expected - last).days if last else None,
    }
    if last is None or last < expected:
        details = {"as_of": today.isoformat(), "late_required": [entry]}
        return Finding(False, f"{s.series_id} late: last {last}, expected {expected}", details)
    details = {"as_of": today.isoformat(), "series": entry}
    return Finding(True, f"{s.series_id} current as of {today} (last record {last})", details)


def table_freshness(con: duckdb.DuckDBPyConnection, table: registry.RawTable, today: dt.date) -> Finding:
    """The `freshness` rule of a raw table, by source: the catalog's release calendar per series
    (fred, fed_ddp), the DTS calendar, or the coins' staleness limit."""
    if table.source == "coingecko":
        return crypto_freshness(con, settings.coins(), today)
    if table.source == "treasury_dts":
        return dts_freshness(con, today)
    return freshness(con, table.source, today)
