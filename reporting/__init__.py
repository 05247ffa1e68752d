"""The static liquidity report: PNG charts and index.html, drawn from serving.duckdb only.

Plain Python (no Dagster): `python -m reporting` (what `make report` runs) and the Dagster asset
`report/liquidity_report` both call `build_report()`. It opens serving.duckdb read-only and writes
`settings.report_dir()` ($LIQUIDITY_DATA_DIR/report/).
"""

from reporting.build import ChartFile, ReportResult, build_report
from reporting.data import ServingMissing

__all__ = ["ChartFile", "ReportResult", "ServingMissing", "build_report"]
