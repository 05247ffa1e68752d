"""Resources: every setting is read from the environment when a run starts (ingest.settings)."""

from __future__ import annotations

import contextlib
import importlib.metadata
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
from dagster import ConfigurableResource
from dagster_dbt import DbtCliResource
from packaging import version
from pydantic import Field

from ingest import backend, settings, warehouse
from ingest.transport import Transport, install_log_redaction, make_transport


class WarehouseResource(ConfigurableResource):
    """The pipeline's warehouse: the embedded DuckDB file (single writer) or a DuckLake catalog.

    `LIQUIDITY_WAREHOUSE` (ingest/backend.py, the one module that knows which backend is in use),
    read when the run starts: the one setting that dbt also follows (`settings.dbt_env()`), so there
    is no second knob here that could point ingest and dbt at different places. On the file every
    writing connection first takes `<warehouse>.lock` (the one single-writer mechanism, for every
    process, Dagster or not), so a manual materialization in the UI and a
    scheduled run queue for the file instead of failing on DuckDB's own lock; on the lake writers run
    side by side and a conflicting commit is retried, while building and publishing the marts is
    one run's at a time (`build_lock`). Nothing is opened until an asset asks.
    """

    lock_timeout_seconds: float = Field(default=900.0, description="How long a writer waits for the lock.")

    @property
    def backend(self) -> backend.Backend:
        return backend.current()

    @property
    def path(self) -> Path:
        """The warehouse file (the embedded backend only; ValueError on the lake)."""
        return settings.warehouse_path()

    def describe(self) -> str:
        return self.backend.describe()

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with warehouse.connect(lock_timeout=self.lock_timeout_seconds) as con:
            yield con

    @contextlib.contextmanager
    def read_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Read-only; on the file only once no writer (e.g. the dbt process) holds it."""
        with self.backend.open(read_only=True) as con:
            yield con

    @contextlib.contextmanager
    def build_lock(self, on_wait: Callable[[str], object] | None = None) -> Iterator[None]:
        """Held by the dbt step and by the publish (`Backend.build_lock`): the file's writer lock, or
        the lake's lock for every machine using the catalog (`on_wait` hears that it is busy)."""
        with self.backend.build_lock(timeout=self.lock_timeout_seconds, on_wait=on_wait):
            yield

    def compact(self) -> warehouse.Compaction | None:
        """Rewrite the file when rebuilt tables left too many free blocks; None on the lake, whose
        maintenance (expiring snapshots, merging files) is a deliberate step (README, time travel)."""
        where = self.backend
        if where.is_lake or not where.exists():
            return None
        return warehouse.compact(where.path)


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
    """How sources are reached: live HTTP with optional keys, or a replay snapshot.

    The keys (`FRED_API_KEY`, `COINGECKO_API_KEY`, `COINGECKO_PLAN`) and `LIQUIDITY_REPLAY_DIR` are
    read from the environment when a run uses the resource, not when the code location loads, so a
    long-lived `dagster dev` sees a changed setting on the next run; the keys never become config
    values the UI could show. `replay_dir` overrides the environment (tests, one-off runs)."""

    replay_dir: str | None = Field(
        default=None, description="Replay snapshot folder; default LIQUIDITY_REPLAY_DIR."
    )

    def api_keys(self) -> settings.ApiKeys:
        return settings.api_keys()

    def replay(self) -> Path | None:
        if not self.replay_dir:
            return settings.replay_dir()
        replay = Path(self.replay_dir).resolve()
        if not replay.is_dir():
            raise FileNotFoundError(f"LIQUIDITY_REPLAY_DIR={self.replay_dir} is not a directory")
        return replay

    def transport(self) -> Transport:
        install_log_redaction(self.api_keys().secrets())
        return make_transport(self.replay(), settings.landing_dir())


def build_resources() -> dict:
    """Resources for the code location; nothing is opened, no path fixed and no setting read at load time."""
    return {"warehouse": WarehouseResource(), "sources": SourcesResource()}
