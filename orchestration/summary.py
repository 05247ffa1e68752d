"""The short end-of-run summary `make run` prints.

- per source: rows in the warehouse, what this run inserted/updated, the newest observation and the
  freshness check's verdict (with the late series when it is not a pass), plus skipped/failed series;
- checks: passes counted, every WARN and FAIL listed with its one-line reason;
- failed steps, and where the warehouse, the serving file and the report are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import dagster as dg

from ingest import settings, warehouse


@dataclass(frozen=True)
class Source:
    name: str  # as printed
    asset: str  # raw asset name (key raw/<asset>)
    table: str
    load_source: str  # raw.load_log.source
    global_series: bool | None = None  # coingecko: True = the /global series, False = coins
    freshness_check: bool = True  # the raw asset has a `freshness` asset check
    freshness_at: tuple[dg.AssetKey, str] | None = None  # (asset, check name) when it is elsewhere


SOURCES = (
    Source("fred", "fred_observations", "raw.fred_observations", "fred"),
    Source("fed_ddp", "fed_ddp_observations", "raw.fed_ddp_observations", "fed_ddp"),
    Source("coingecko", "coingecko_market_chart", "raw.coingecko_market_chart", "coingecko", False),
    Source("coingecko_global", "coingecko_global", "raw.coingecko_global", "coingecko", True, False),
    # Its freshness check reads dbt's output, so it sits on marts/liquidity_daily, not on the raw asset.
    Source(
        "treasury_dts",
        "treasury_dts_cash_balance",
        "raw.treasury_dts_cash_balance",
        "treasury_dts",
        freshness_at=(dg.AssetKey(["marts", "liquidity_daily"]), "dts_freshness"),
    ),
)
LAYERS = ("raw", "seeds", "staging", "intermediate", "marts", "serving", "report")  # printing order
SERVING_KEY = dg.AssetKey(["serving", "serving_duckdb"])
REPORT_KEY = dg.AssetKey(["report", "liquidity_report"])


def _state(ev: dg.AssetCheckEvaluation) -> str:
    if ev.passed:
        return "pass"
    return "WARN" if ev.severity == dg.AssetCheckSeverity.WARN else "FAIL"


def _json(ev: dg.AssetCheckEvaluation, key: str) -> Any:
    value = ev.metadata.get(key)
    return getattr(value, "data", getattr(value, "value", None))


def _reason(ev: dg.AssetCheckEvaluation) -> str:
    """One line saying why a check warned or failed."""
    text = ev.description or str(_json(ev, "summary") or "")
    failing_rows = _json(ev, "dagster_dbt/failed_row_count")
    if failing_rows is not None:
        rows = f"{failing_rows} failing row{'s' if failing_rows != 1 else ''}"
        text = f"{text} ({rows})" if text else f"dbt test: {rows}"
    late = _json(ev, "late_required") or _json(ev, "late") or []
    if late:
        text += ": " + ", ".join(
            f"{e.get('series') or e.get('coin')} last {e.get('last')}"
            + (f", expected {e['expected_at_least']}" if e.get("expected_at_least") else "")
            for e in late[:5]
        )
    elif ev.severity == dg.AssetCheckSeverity.WARN:
        stale = [e.get("series") for e in _json(ev, "stale_optional") or []]
        if stale:
            text += ": " + ", ".join(stale[:4]) + (f" and {len(stale) - 4} more" if len(stale) > 4 else "")
    return text or "(no description)"


def _materialized(result: dg.ExecuteInProcessResult) -> Counter:
    keys = [e.asset_key for e in result.all_events if e.is_step_materialization and e.asset_key]
    return Counter(k.path[0] for k in keys)


def _source_lines(result: dg.ExecuteInProcessResult, checks: dict) -> list[str]:
    wh = settings.warehouse_path()
    if not wh.exists():
        return []
    with warehouse.connect(wh, read_only=True) as con:
        loads = con.execute(
            "SELECT source, series, status, inserted, updated, message FROM raw.load_log "
            "WHERE run_id = ? ORDER BY source, series",
            [result.run_id],
        ).fetchall()
        stats = {
            s.name: con.execute(f"SELECT count(*), max(observation_date)::VARCHAR FROM {s.table}").fetchone()
            for s in SOURCES
        }
    lines = ["sources (rows in warehouse, this run +inserted ~updated, newest observation, freshness):"]
    for s in SOURCES:
        mine = [
            row
            for row in loads
            if row[0] == s.load_source
            and (s.global_series is None or row[1].startswith("global") == s.global_series)
        ]
        rows, last = stats[s.name]
        inserted = sum(r[3] or 0 for r in mine)
        updated = sum(r[4] or 0 for r in mine)
        ev = checks.get(s.freshness_at or (dg.AssetKey(["raw", s.asset]), "freshness"))
        if ev is not None:
            fresh = f"{_state(ev)} {_reason(ev)}"
        else:
            fresh = "freshness not checked in this run" if s.freshness_check else "(no freshness check)"
        this_run = f"+{inserted:,} ~{updated:,}" if mine else "not loaded"
        lines.append(f"  {s.name:17s}{rows:>10,} rows  {this_run:>16s}  last {last or '-':10s}  {fresh}")
        for _source, series, status, _ins, _upd, message in mine:
            if status != "ok":
                lines.append(f"      {series} {status}: {message}")
    return lines


def _check_lines(evaluations: list[dg.AssetCheckEvaluation]) -> list[str]:
    if not evaluations:
        return []
    states = Counter(_state(ev) for ev in evaluations)
    lines = [f"checks: {states['pass']} pass, {states['WARN']} WARN, {states['FAIL']} FAIL"]
    for ev in sorted(evaluations, key=lambda e: (_state(e) != "FAIL", e.asset_key.to_user_string())):
        state = _state(ev)
        if state != "pass":
            # The check name is the line's last word (scripts and tests read it).
            lines.append(f"  {state} {ev.asset_key.to_user_string()}:{ev.check_name}")
            lines.append(f"       {_reason(ev)}")
    return lines


def _where(path, built: bool, missing: str) -> str:
    if not path.exists():
        return f"{missing}; expected at {path}"
    return f"{path} ({'written by this run' if built else 'from an earlier run; not replaced by this one'})"


def print_summary(result: dg.ExecuteInProcessResult) -> None:
    print("\n=== run summary ===")
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILED'}")
    done = _materialized(result)
    if done:
        order = sorted(
            done, key=lambda layer: (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), layer)
        )
        print("materialized: " + ", ".join(f"{layer} {done[layer]}" for layer in order))
    evaluations = result.get_asset_check_evaluations()
    checks = {(ev.asset_key, ev.check_name): ev for ev in evaluations}
    for line in _source_lines(result, checks) + _check_lines(evaluations):
        print(line)
    for event in result.all_events:
        if event.is_step_failure:
            message = event.event_specific_data.error.message.strip().splitlines()[0]
            print(f"step failed: {event.step_key}: {message.split('Failure: ', 1)[-1]}")
    published = {e.asset_key for e in result.all_events if e.is_step_materialization and e.asset_key} & {
        SERVING_KEY,
        REPORT_KEY,
    }
    print(f"warehouse: {settings.warehouse_path()}")
    print(f"serving:   {_where(settings.serving_path(), SERVING_KEY in published, '(not published yet)')}")
    print(
        f"report:    {_where(settings.report_dir() / 'index.html', REPORT_KEY in published, '(not built)')}"
    )
