"""Resources, configured from the environment (API keys through `EnvVar`, never as values)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource, EnvVar
from dagster_dbt import DbtCliResource
from dagster_duckdb import DuckDBResource
from packaging import version
from pydantic import Field

from ingest import settings, warehouse
from ingest.transport import Transport, install_log_redaction, make_transport

WAREHOUSE_POOL = "duckdb_warehouse"


class WarehouseResource(DuckDBResource):
    """The pipeline's DuckDB warehouse with a single-writer guarantee.

    Every connection first takes `<warehouse>.lock` (a file lock), so a manual materialization in
    the UI and a scheduled run queue for the file instead of failing on DuckDB's own lock. Nothing
    is opened until an asset asks for a connection. An empty `database` means
    `$LIQUIDITY_DATA_DIR/warehouse.duckdb`, resolved when the run starts, not when the code loads.
    """

    database: str = Field(default="", description="DuckDB file; empty: $LIQUIDITY_DATA_DIR/warehouse.duckdb")
    lock_timeout_seconds: float = Field(default=900.0, description="How long a writer waits for the lock.")

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else settings.warehouse_path()

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(self.path, lock_timeout=self.lock_timeout_seconds) as con:
            yield con

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with warehouse.writer_lock(self.path, timeout=self.lock_timeout_seconds):
            yield


class _LazyAdapter:
    """Stands in for the dbt adapter dagster-dbt builds before every dbt command; builds it on first
    use. Only `fetch_row_counts()` / `fetch_column_metadata()` use it, and a plain `.stream()` never
    does, so each dbt step no longer spends seconds loading dbt macros for nothing."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build
        self._adapter: Any = None
        self._lock = threading.Lock()

    def _real(self) -> Any:
        with self._lock:
            if self._adapter is None:
                self._adapter = self._build()
            return self._adapter

    @property  # dagster-dbt checks `adapter.__class__` (DuckDB) before it fetches metadata
    def __class__(self):  # type: ignore[override]
        return type(self._real())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


class PipelineDbtResource(DbtCliResource):
    """dagster-dbt's `DbtCliResource` minus two fixed costs it pays before every dbt command:

    - it runs `dbt --version` in a subprocess to learn the version: with the project's own `dbt`
      (beside this interpreter) the installed dbt-core version is read instead;
    - it builds a dbt adapter in this process (loading every dbt macro): now only when something
      asks for it (see `_LazyAdapter`).

    Together about 3-7 s of every run's dbt step on a 2-core machine (bench/README.md).
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        own = Path(sys.executable).with_name("dbt")
        if own.exists() and Path(self.dbt_executable).resolve() == own.resolve():
            return version.parse(importlib.metadata.version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]):
        build = super()._initialize_dbt_core_adapter
        project_dir = self.project_dir
        frozen = list(args)

        def real():
            with contextlib.chdir(project_dir):
                return build(frozen)

        return _LazyAdapter(real)


class SourcesResource(ConfigurableResource):
    """How sources are reached: live HTTP with optional keys, or a replay snapshot."""

    fred_api_key: str | None = Field(
        default=None, description="FRED API key (FRED_API_KEY); enables the API."
    )
    coingecko_api_key: str | None = Field(default=None, description="CoinGecko key (COINGECKO_API_KEY).")
    coingecko_plan: str = Field(default="demo", description="CoinGecko plan: demo or pro (COINGECKO_PLAN).")
    replay_dir: str | None = Field(default=None, description="Replay snapshot folder (LIQUIDITY_REPLAY_DIR).")

    def api_keys(self) -> settings.ApiKeys:
        plan = (self.coingecko_plan or "demo").lower()
        if plan not in ("demo", "pro"):
            raise ValueError(f"COINGECKO_PLAN must be 'demo' or 'pro', not {plan!r}")
        return settings.ApiKeys(
            fred=self.fred_api_key or None, coingecko=self.coingecko_api_key or None, coingecko_plan=plan
        )

    def transport(self) -> Transport:
        install_log_redaction(self.api_keys().secrets())
        replay = Path(self.replay_dir).resolve() if self.replay_dir else None
        if replay is not None and not replay.is_dir():
            raise FileNotFoundError(f"LIQUIDITY_REPLAY_DIR={self.replay_dir} is not a directory")
        return make_transport(replay, settings.landing_dir())


def _env(name: str) -> EnvVar | None:
    # An unset optional variable stays None; a set one is passed by name so its value never shows in the UI.
    return EnvVar(name) if os.environ.get(name) else None


def build_resources() -> dict:
    """Resources for the code location; nothing is opened and no path is fixed at load time."""
    return {
        "warehouse": WarehouseResource(),
        "sources": SourcesResource(
            fred_api_key=_env("FRED_API_KEY"),
            coingecko_api_key=_env("COINGECKO_API_KEY"),
            coingecko_plan=_env("COINGECKO_PLAN") or "demo",
            replay_dir=_env("LIQUIDITY_REPLAY_DIR"),
        ),
    }
