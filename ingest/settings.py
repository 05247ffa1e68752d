"""Every path and environment setting of the pipeline, in one place.

Values are read when a function is called, never at import time, so tests and the Dagster
resources can point the pipeline at another data dir by setting the environment.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DEFAULT_START = "2003-01-01"


def dbt_executable() -> str:
    """The `dbt` installed beside this interpreter (the project's .venv), else whatever is on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


LOOKBACK_DAYS = 35


def data_dir() -> Path:
    """`LIQUIDITY_DATA_DIR`, default `data/` in the project; always absolute."""
    return Path(os.environ.get("LIQUIDITY_DATA_DIR") or PROJECT_ROOT / "data").resolve()


def warehouse_path() -> Path:
    return data_dir() / "warehouse.duckdb"


def serving_path() -> Path:
    return data_dir() / "serving.duckdb"


def report_dir() -> Path:
    """The static HTML report and its PNG charts (`make report`, the `report/liquidity_report` asset)."""
    return data_dir() / "report"


def landing_dir() -> Path:
    return data_dir() / "landing"


def replay_dir() -> Path | None:
    """`LIQUIDITY_REPLAY_DIR`: a replay snapshot folder; None means live HTTP."""
    value = os.environ.get("LIQUIDITY_REPLAY_DIR")
    if not value:
        return None
    path = Path(value).resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"LIQUIDITY_REPLAY_DIR={value} is not a directory")
    return path


@dataclass(frozen=True)
class ApiKeys:
    fred: str | None
    coingecko: str | None
    coingecko_plan: str

    def secrets(self) -> list[str]:
        return [s for s in (self.fred, self.coingecko) if s]


def api_keys() -> ApiKeys:
    plan = (os.environ.get("COINGECKO_PLAN") or "demo").strip().lower()
    if plan not in ("demo", "pro"):
        raise ValueError(f"COINGECKO_PLAN must be 'demo' or 'pro', not {plan!r}")
    return ApiKeys(
        fred=os.environ.get("FRED_API_KEY") or None,
        coingecko=os.environ.get("COINGECKO_API_KEY") or None,
        coingecko_plan=plan,
    )


def history_start() -> str:
    """First date asked for on a first (full-history) run: `LIQUIDITY_START`, default 2003-01-01."""
    return os.environ.get("LIQUIDITY_START") or DEFAULT_START


def coins() -> list[str]:
    """CoinGecko coin ids to ingest: `LIQUIDITY_COINS` (comma separated), default bitcoin,ethereum."""
    raw = os.environ.get("LIQUIDITY_COINS") or "bitcoin,ethereum"
    return [c.strip() for c in raw.split(",") if c.strip()]
