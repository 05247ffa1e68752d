"""The short end-of-run summary `make run` prints.

- per source: rows in the warehouse, what this run inserted/updated, the newest observation and the
  freshness check's verdict (with the late series when it is not a pass), plus skipped/failed series;
- checks: passes counted, every WARN and FAIL listed with its one-line reason;
- failed steps, and where the warehouse, the serving file and the report are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import dagster as dg
import duckdb

from ingest import backend, registry, settings
from orchestration.assets.dbt import DBT_SKIPPED
from orchestration.assets.report import REPORT_KEY
from orchestration.assets.serving import SERVING_KEY

LAYERS = ("raw", "seeds", "staging", "intermediate", "marts", "serving", "report")  # printing order


def _state(ev: dg.AssetCheckEvaluation) -> str:
    if ev.passed:
        return "pass"
    return "WARN" if ev.severity == dg.AssetCheckSeverity.WARN else "FAIL"


def _json(ev: dg.AssetCheckEvaluation, key: str) -> Any:
    value = ev.metadata.get(key)
    return getattr(value, "data", getattr(value, "value", None))


# Metadata entries that list what a check found wrong (one dict per offending row), in the order the
# summary looks for them: Python checks (ingest/quality.py) and failed dbt tests (orchestration/assets/dbt.py).
OFFENDER_KEYS = ("offending", "differences", "gaps", "future_rows", "rows", "failing_rows")
EXAMPLES_SHOWN = 3


def _examples(ev: dg.AssetCheckEvaluation) -> str:
    """The first offending rows of a failed check, e.g. `series=WALCL date=2026-01-28 value=-5.0`."""
    for key in OFFENDER_KEYS:
        entries = _json(ev, key)
        if isinstance(entries, list) and entries and all(isinstance(e, dict) for e in entries):
            shown = [" ".join(f"{k}={v}" for k, v in e.items()) for e in entries[:EXAMPLES_SHOWN]]
            more = f" (+{len(entries) - EXAMPLES_SHOWN} more)" if len(entries) > EXAMPLES_SHOWN else ""
            return "; ".join(shown) + more
    return ""


def _reason(ev: dg.AssetCheckEvaluation) -> str:
    """One line saying why a check warned or failed, then its first offending rows when it failed."""
    text = ev.description or str(_json(ev, "summary") or "")
    failing_rows = _json(ev, "dagster_dbt/failed_row_count")
    if failing_rows is not None:
        rows = f"{failing_rows} failing row{'s' if failing_rows != 1 else ''}"
        text = f"{text} ({rows})" if text else f"dbt test: {rows}"
    if _state(ev) == "FAIL":
        examples = _examples(ev)
        if examples:
            text += f": {examples}"
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


# Wrappers whose own message says nothing: the cause underneath is what failed.
_WRAPPERS = ("Exceeded max_retries", "Error occurred while executing", "RetryRequested")


def root_cause(error) -> str:
    """The first line of what really failed: never "Exceeded max_retries of 2", which Dagster puts on
    top of the error once a step's retries are used up."""
    while error.cause is not None and error.message.lstrip().startswith(_WRAPPERS):
        error = error.cause
    message = (error.message.strip().splitlines() or [""])[0]
    return message.split("Failure: ", 1)[-1]


def _materialized(events: list) -> Counter:
    keys = [e.asset_key for e in events if e.is_step_materialization and e.asset_key]
    return Counter(k.path[0] for k in keys)


def _source_lines(result: dg.ExecuteInProcessResult, checks: dict) -> list[str]:
    wh = backend.current()
    if not wh.exists():
        return []
    try:
        return _source_table(result, checks, wh)
    except duckdb.Error as exc:  # a damaged file: the failed step above says so; the summary still prints
        return [f"sources: cannot read {wh.describe()}: {backend.redact(str(exc).splitlines()[0])}"]


def _source_table(result: dg.ExecuteInProcessResult, checks: dict, wh) -> list[str]:
    with wh.open(read_only=True) as con:
        loads = con.execute(
            "SELECT source, series, status, inserted, updated, message FROM raw.load_log "
            "WHERE run_id = ? ORDER BY source, series",
            [result.run_id],
        ).fetchall()
        stats = {
            t.name: con.execute(f"SELECT count(*), max({t.date_column})::VARCHAR FROM {t.table}").fetchone()
            for t in registry.RAW_TABLES
        }
    lines = ["sources (rows in warehouse, this run +inserted ~updated, newest observation, freshness):"]
    for t in registry.RAW_TABLES:
        mine = [row for row in loads if t.owns_load(row[0], row[1])]
        rows, last = stats[t.name]
        inserted = sum(r[3] or 0 for r in mine)
        updated = sum(r[4] or 0 for r in mine)
        ev = checks.get((dg.AssetKey(["raw", t.name]), "freshness"))
        if ev is not None:
            fresh = f"{_state(ev)} {_reason(ev)}"
        else:
            fresh = "freshness not checked in this run" if "freshness" in t.rules else "(no freshness check)"
        this_run = f"+{inserted:,} ~{updated:,}" if mine else "not loaded"
        lines.append(
            f"  {t.label or t.source:17s}{rows:>10,} rows  {this_run:>16s}  last {last or '-':10s}  {fresh}"
        )
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


def _where(path, state: str | None, missing: str) -> str:
    if not path.exists():
        return f"{missing}; expected at {path}"
    return f"{path} ({state or 'from an earlier run; not replaced by this one'})"


def print_summary(*results: dg.ExecuteInProcessResult, dbt_skipped: str | None = None) -> None:
    """One summary of the runs of one `make run`: its raw loads and, when they changed something, the
    run of the models, publish and report (orchestration/cli.py `staged_runs`); the sources table is
    the first run's (the one that loaded). `dbt_skipped`: why no model needed building."""
    print("\n=== run summary ===")
    for result in results:
        print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILED'}{_scope(result, results)}")
    events = [event for result in results for event in result.all_events]
    done = _materialized(events)
    if done:
        order = sorted(
            done, key=lambda layer: (LAYERS.index(layer) if layer in LAYERS else len(LAYERS), layer)
        )
        print("materialized: " + ", ".join(f"{layer} {done[layer]}" for layer in order))
    evaluations = [ev for result in results for ev in result.get_asset_check_evaluations()]
    checks = {(ev.asset_key, ev.check_name): ev for ev in evaluations}
    for line in _source_lines(results[0], checks) + _check_lines(evaluations):
        print(line)
    for event in events:
        if event.is_step_failure:
            print(f"step failed: {event.step_key}: {root_cause(event.event_specific_data.error)}")
    built = {
        e.asset_key: e.event_specific_data.materialization.metadata
        for e in events
        if e.is_step_materialization and e.asset_key in (SERVING_KEY, REPORT_KEY)
    }
    serving_state = None
    reasons = [dbt_skipped] if dbt_skipped else []
    for event in events:
        if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            metadata = event.event_specific_data.asset_observation.metadata
            if DBT_SKIPPED in metadata:
                reasons.append(metadata[DBT_SKIPPED].value)
    for reason in reasons:
        print(f"dbt build skipped: {reason}")
        serving_state = "unchanged: nothing new since it was published"
    if SERVING_KEY in built:
        metadata = built[SERVING_KEY]
        if "publish_gate" in metadata:
            print(metadata["publish_gate"].value)
        replaced = getattr(metadata.get("replaced"), "value", True)
        serving_state = "written by this run" if replaced else "unchanged: this run's marts equal it"
    print(f"warehouse: {backend.current().describe()}")
    print(f"serving:   {_where(settings.serving_path(), serving_state, '(not published yet)')}")
    report_state = "written by this run" if REPORT_KEY in built else None
    print(f"report:    {_where(settings.report_dir() / 'index.html', report_state, '(not built)')}")


def _scope(result: dg.ExecuteInProcessResult, results: tuple) -> str:
    """What a run of a two-run `make run` covered, e.g. " (raw loads)"; nothing for a lone run."""
    if len(results) < 2:
        return ""
    keys = {e.asset_key for e in result.all_events if e.is_step_materialization and e.asset_key}
    dbt = sum(1 for k in keys if k.path[0] not in ("raw", "serving", "report"))
    return " (raw loads)" if result is results[0] else f" ({dbt} dbt assets built, publish, report)"
