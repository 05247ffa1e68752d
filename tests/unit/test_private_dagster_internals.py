"""The Dagster internals the project's two private-API pieces rely on (kept for the reasons measured
in `make bench`, README "Stock Dagster and the two private-API pieces"). After a Dagster or
dagster-dbt upgrade these fail first, naming what is gone and how to fall back to stock Dagster,
instead of a run failing somewhere inside the library."""

from __future__ import annotations

import importlib
import inspect

import pytest

FALLBACK_EVENT_LOG = (
    "delete the event_log_storage block of orchestration/dagster.yaml (stock SQLite event log)"
)
FALLBACK_DBT = "use dagster_dbt.DbtCliResource in orchestration/definitions.py instead of PipelineDbtResource"

# (module, attribute) the event-log piece imports or calls, and what it needs of each.
EVENT_LOG_INTERNALS = [
    ("dagster._core.storage.event_log", "SqliteEventLogStorage"),
    ("dagster._core.storage.event_log.sqlite.sqlite_event_log", "SqliteEventLogStorageWatchdog"),
    ("dagster._core.storage.sqlite", "SQLITE_BUSY_TIMEOUT_SECONDS"),
    ("dagster._serdes", "ConfigurableClassData"),
]
# What KeepOpenSqliteEventLogStorage overrides or uses on its base class.
EVENT_LOG_MEMBERS = (
    "_connect",
    "_initdb",
    "conn_string_for_shard",
    "register_instance",
    "watch",
    "has_table",
    "wipe",
    "dispose",
)
EVENT_LOG_STATE = ("_db_lock", "_initialized_dbs", "_obs", "_watchers", "_base_dir")


@pytest.mark.parametrize(("module", "name"), EVENT_LOG_INTERNALS)
def test_event_log_internals_exist(module, name):
    found = getattr(importlib.import_module(module), name, None)
    assert found is not None, f"{module}.{name} is gone from the installed Dagster: {FALLBACK_EVENT_LOG}"


def test_event_log_base_class_has_what_the_subclass_overrides(tmp_path):
    from dagster._core.storage.event_log import SqliteEventLogStorage

    missing = [m for m in EVENT_LOG_MEMBERS if not hasattr(SqliteEventLogStorage, m)]
    assert not missing, f"SqliteEventLogStorage lacks {missing}: {FALLBACK_EVENT_LOG}"
    params = list(inspect.signature(SqliteEventLogStorage._connect).parameters)
    assert params == ["self", "shard"], (
        f"SqliteEventLogStorage._connect{params} changed: {FALLBACK_EVENT_LOG}"
    )
    storage = SqliteEventLogStorage(str(tmp_path))
    try:
        state = [a for a in EVENT_LOG_STATE if not hasattr(storage, a)]
        assert not state, f"SqliteEventLogStorage instances lack {state}: {FALLBACK_EVENT_LOG}"
    finally:
        storage.dispose()


def test_dbt_resource_internals_exist():
    from dagster_dbt import DbtCliResource

    version = inspect.getattr_static(DbtCliResource, "_cli_version", None)
    assert version is not None and hasattr(version, "__get__"), (
        f"DbtCliResource._cli_version (a cached property) is gone: {FALLBACK_DBT}"
    )
    init = getattr(DbtCliResource, "_initialize_dbt_core_adapter", None)
    assert callable(init), f"DbtCliResource._initialize_dbt_core_adapter is gone: {FALLBACK_DBT}"
    params = list(inspect.signature(init).parameters)
    assert params == ["self", "args"], f"_initialize_dbt_core_adapter{params} changed: {FALLBACK_DBT}"
