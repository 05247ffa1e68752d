"""The short end-of-run summary `make run` prints: sources, checks, where the outputs are."""

from __future__ import annotations

import dagster as dg

from ingest import settings, warehouse


def print_summary(result: dg.ExecuteInProcessResult) -> None:
    print("\n=== run summary ===")
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILED'}")
    wh = settings.warehouse_path()
    if wh.exists():
        with warehouse.connect(wh, read_only=True) as con:
            rows = con.execute(
                "SELECT source, series, status, rows_in_payload, inserted, updated, message FROM raw.load_log "
                "WHERE run_id = ? ORDER BY source, series",
                [result.run_id],
            ).fetchall()
            last = dict(
                con.execute(
                    "SELECT series_id, max(observation_date)::VARCHAR FROM raw.fred_observations GROUP BY 1 "
                    "UNION ALL SELECT series_id, max(observation_date)::VARCHAR FROM raw.fed_ddp_observations GROUP BY 1 "
                    "UNION ALL SELECT coin_id, max(observation_date)::VARCHAR FROM raw.coingecko_market_chart GROUP BY 1 "
                    "UNION ALL SELECT 'global_' || origin, max(observation_date)::VARCHAR FROM raw.coingecko_global GROUP BY 1"
                ).fetchall()
            )
        if rows:
            print("sources:")
        for source, series, status, payload, inserted, updated, message in rows:
            note = f"  ({message})" if message and status != "ok" else ""
            print(
                f"  {source:10s} {series:26s} {status:7s} payload={payload or 0:>6} +{inserted or 0} ~{updated or 0} "
                f"last={last.get(series, '-')}{note}"
            )
    evaluations = result.get_asset_check_evaluations()
    if evaluations:
        print("checks:")
    for ev in sorted(evaluations, key=lambda e: (e.asset_key.to_user_string(), e.check_name)):
        if ev.passed:
            state = "pass"
        else:
            state = "WARN" if ev.severity == dg.AssetCheckSeverity.WARN else "FAIL"
        print(f"  {state:4s} {ev.asset_key.to_user_string()}:{ev.check_name}")
    for event in result.all_events:
        if event.is_step_failure:
            message = event.event_specific_data.error.message.strip().splitlines()[0]
            print(f"step failed: {event.step_key}: {message.split('Failure: ', 1)[-1]}")
    serving = settings.serving_path()
    print(f"warehouse: {wh}")
    print(f"serving:   {serving if serving.exists() else '(not published yet)'}")
