"""Dagster's SQLite event log, with connections kept open instead of one per event.

Dagster's default `SqliteEventLogStorage` creates a SQLAlchemy engine, opens the SQLite file,
commits and closes it for every event it stores. A `make run` stores about 1,400 such transactions
(each dbt test is an asset check: planned, evaluated, mirrored into the index), and closing the
last connection to a WAL database checkpoints it to disk each time: about a third of the wall time
of a cold build went there (see bench/README.md).

This subclass keeps the same files, schema and layout (`$DAGSTER_HOME/history/runs/<run_id>.db`
and `index.db`, so `dagster dev` and older runs read them unchanged) and changes only how they are
opened: one connection per shard, kept for the life of the instance (the index shard plus the few
most recent run shards), guarded by the storage's existing lock, in WAL mode with
`synchronous=NORMAL` (a commit survives a crash of the process; only an OS crash or power loss can
lose the last events, never corrupt the file).

It is selected in `orchestration/dagster.yaml` (`event_log_storage`). It builds on Dagster's
internal storage classes (there is no public hook for SQLite connection settings); if a Dagster
upgrade changes them, delete the `event_log_storage` block to fall back to the default storage.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from dagster import Field, StringSource
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorageWatchdog
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from watchdog.events import PatternMatchingEventHandler
from watchdog.observers import Observer

INDEX_SHARD = "index"
# Run shards whose connection stays open besides the index (a run writes one shard; the UI reads a few).
OPEN_RUN_SHARDS = 4


def _on_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class _WalWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watcher (live event updates in the UI's run page) matches `<run_id>.db` only; in
    WAL mode a commit changes `<run_id>.db-wal` and the main file only at checkpoints."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        PatternMatchingEventHandler.__init__(self, patterns=[self._log_path, f"{self._log_path}-wal"])

    def on_modified(self, event) -> None:
        self._process_log()


class KeepOpenSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` with one long-lived connection per shard (see the module docstring).

    Without `base_dir` it uses the folder Dagster's default storage uses, `history/runs` under the
    instance's root (the folder of its dagster.yaml), known once the instance registers itself.
    """

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._tables_seen: set[str] = set()
        self._deferred_inst_data = inst_data
        self._deferred = base_dir is None
        if not self._deferred:
            super().__init__(base_dir, inst_data=inst_data)

    def register_instance(self, instance) -> None:
        if self._deferred:
            # A DagsterInstance registers its storages first thing in its constructor.
            base_dir = os.path.join(instance.root_directory, "history", "runs")
            SqliteEventLogStorage.__init__(self, base_dir, inst_data=self._deferred_inst_data)
            self._deferred = False
        super().register_instance(instance)

    @classmethod
    def config_type(cls):
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine (one connection, reused); called with `self._db_lock` held."""
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = sa.create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        sa.event.listen(engine, "connect", _on_connect)
        self._engines[shard] = engine
        runs = [name for name in self._engines if name != INDEX_SHARD]
        for old in runs[: max(0, len(runs) - OPEN_RUN_SHARDS)]:
            self._engines.pop(old).dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # The base class's lock serializes every use of a shard connection in this process.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def watch(self, run_id: str, cursor: str | None, callback) -> None:
        # As the base class, with a watcher that also sees commits to the run's WAL file.
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        handler = _WalWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            handler,
            self._obs.schedule(handler, self._base_dir, recursive=True),
        )

    def has_table(self, table_name: str) -> bool:
        # Asked before every asset check event (`supports_asset_checks`), each time through a new
        # engine. Migrations only ever add tables, so a table seen once is remembered.
        if table_name in self._tables_seen:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables_seen.add(table_name)
        return present

    def _close_all(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        # The base class deletes the run shard files: close their connections first.
        self._close_all()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_all()
