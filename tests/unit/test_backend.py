"""ingest/backend.py: the one module that knows the warehouse backend (parsing the setting, the
extensions from their packages, the lake's DDL, conflicts retried, passwords redacted)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingest import backend, settings, warehouse


def test_the_setting_names_the_backend(clean_env, tmp_path):
    clean_env.setenv("LIQUIDITY_DATA_DIR", str(tmp_path))
    assert backend.current() == backend.Backend("duckdb", path=tmp_path / "warehouse.duckdb")
    clean_env.setenv("LIQUIDITY_WAREHOUSE", "ducklake:sqlite:cat.sqlite")
    lake = backend.current()
    assert (lake.catalog, lake.target, lake.data_path) == (
        "sqlite",
        str(Path("cat.sqlite").resolve()),
        f"{tmp_path}/lake/",
    )
    assert settings.dbt_env()["LIQUIDITY_DBT_TARGET"] == "lake"
    with pytest.raises(ValueError, match="not a file"):
        settings.warehouse_path()
    clean_env.setenv("LIQUIDITY_WAREHOUSE", "ducklake:postgres:host=h dbname=d password=Secr3t")
    problem = backend.configuration_problem()
    assert "LIQUIDITY_LAKE_DATA_PATH must be set" in problem
    clean_env.setenv("LIQUIDITY_LAKE_DATA_PATH", str(tmp_path / "d"))
    assert backend.configuration_problem() is None
    lake = backend.current()
    assert lake.secrets() == ["Secr3t"] and "Secr3t" not in lake.describe()
    for bad in ("ducklake:mysql:x", "ducklake:postgres:", "md:my_db"):
        clean_env.setenv("LIQUIDITY_WAREHOUSE", bad)
        assert "LIQUIDITY_WAREHOUSE" in backend.configuration_problem()


def test_passwords_are_redacted_in_conninfo_and_urls():
    text = "ducklake:postgres:host=h password='a b' user=u / postgresql://u:pw123@h:5432/db password=x"
    out = backend.redact(text)
    assert "a b" not in out and "pw123" not in out and "password=x" not in out
    assert out.count("***") == 3
    assert backend.conninfo_password("host=h password='a b'") == "a b"


def test_extensions_load_from_their_packages_with_autoinstall_off(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    con = duckdb.connect(config=dict(backend.CONNECTION_CONFIG))
    backend.load_extensions(con, ["ducklake", "postgres", "sqlite_scanner", "httpfs"])
    loaded = {
        n for (n,) in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()
    }
    assert {"ducklake", "postgres_scanner", "sqlite_scanner", "httpfs"} <= loaded
    settings_now = dict(
        con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name LIKE 'auto%_known_extensions'"
        ).fetchall()
    )
    assert settings_now == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    links = [p for p in (tmp_path / "fed-liquidity-duckdb").rglob("*") if not p.is_dir()]
    assert [p.name for p in links] == ["postgres_scanner.duckdb_extension"]
    assert links[0].is_symlink() and links[0].resolve() == backend.extension_path("postgres").resolve()


def test_the_lake_ddl_has_no_keys_and_the_upsert_still_merges(tmp_path):
    lake = backend.parse(f"ducklake:sqlite:{tmp_path / 'c.sqlite'}", data_path=str(tmp_path / "d"))
    assert "PRIMARY KEY" in warehouse.DDL and "PRIMARY KEY" not in lake.ddl(warehouse.DDL)
    import pandas as pd

    def frame(value):
        return pd.DataFrame(
            {
                "series_id": ["WALCL"],
                "observation_date": [pd.Timestamp("2026-01-07").date()],
                "value": [value],
                "known_on": [pd.Timestamp("2026-01-08").date()],
                "known_at": [pd.Timestamp("2026-01-08 21:30")],
                "fetched_at": [pd.Timestamp("2026-01-09")],
                "source_url": ["u"],
                "payload_sha256": ["h"],
            }
        )

    with lake.open() as con:
        con.execute(lake.ddl(warehouse.DDL))
        first = warehouse.upsert(con, warehouse.FRED, frame(1.0), expect_new=True)
        again = warehouse.upsert(con, warehouse.FRED, frame(1.0), expect_new=True)  # no key to refuse it
        revised = warehouse.upsert(con, warehouse.FRED, frame(2.0))
        rows = con.execute("SELECT value, previous_value FROM raw.fred_observations").fetchall()
    assert (first.inserted, again.inserted, again.updated, revised.updated) == (1, 0, 0, 1)
    assert rows == [(2.0, 1.0)]


def test_conflicts_are_retried_a_bounded_number_of_times_on_the_lake_only(tmp_path):
    lake = backend.parse(f"ducklake:sqlite:{tmp_path / 'c.sqlite'}", data_path=str(tmp_path / "d"))
    conflict = duckdb.TransactionException("Failed to commit DuckLake transaction: conflict")
    calls = []

    def body():
        calls.append(1)
        if len(calls) < 3:
            raise conflict
        return "done"

    assert lake.retry_conflicts(body) == "done" and len(calls) == 3

    def always():
        calls.append(1)
        raise conflict

    calls.clear()
    with pytest.raises(duckdb.TransactionException):
        lake.retry_conflicts(always, attempts=2)
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(duckdb.TransactionException):  # the embedded file never retries: one writer
        backend.Backend("duckdb", path=tmp_path / "w.duckdb").retry_conflicts(always)
    assert len(calls) == 1
    calls.clear()
    with pytest.raises(duckdb.CatalogException):  # nor any other error
        lake.retry_conflicts(lambda: (calls.append(1), (_ for _ in ()).throw(duckdb.CatalogException("x"))))
    assert len(calls) == 1
