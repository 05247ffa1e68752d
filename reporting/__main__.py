"""`python -m reporting` (`make report`): redraw the report from serving.duckdb, without re-ingesting.

Exit codes: 0 written; 2 serving.duckdb does not exist yet (run `make run` first); 1 any other error.
"""

from __future__ import annotations

import sys

from ingest import settings
from reporting import ServingMissing, build_report


def main() -> int:
    try:
        result = build_report()
    except ServingMissing as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    print(f"report: {result.index_html}")
    print(f"data through {result.data_through}; {len(result.charts)} charts in {settings.report_dir()}")
    print(f"signals {result.signals_date}: {result.signals_summary}")
    for chart in result.charts:
        stale = f" (stale: {'; '.join(chart.stale_notes)})" if chart.stale_notes else ""
        print(f"  {chart.path.name}: data through {chart.data_through}{stale}")
    for warning in result.warnings:
        print(f"WARNING {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
