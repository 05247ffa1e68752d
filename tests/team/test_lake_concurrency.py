"""Writers on a DuckLake warehouse (PostgreSQL catalog) run side by side without a global lock: a
conflicting commit is DuckLake's transaction conflict, and the upserts retry it; upserts of one raw
table queue on its lake lock, since DuckLake lets two inserts of the same keys both commit."""

from __future__ import annotations

import datetime as dt
import threading

import duckdb
import pandas as pd
import pytest

from ingest import backend, warehouse


def pg_lake(pg, tmp_path, name: str) -> backend.Backend:
    return backend.parse(
        f"ducklake:postgres:{pg.conninfo(pg.create_database(name))}", data_path=str(tmp_path / "data")
    )


def test_a_conflicting_commit_is_a_ducklake_conflict(pg, tmp_path):
    lake = pg_lake(pg, tmp_path, "lake_conflict")
    with lake.open() as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS k, 0 AS v")
    with lake.open() as a, lake.open() as b:
        a.execute("BEGIN")
        a.execute("UPDATE t SET v = 1")
        b.execute("BEGIN")
        b.execute("UPDATE t SET v = 2")
        a.execute("COMMIT")
        with pytest.raises(duckdb.Error) as refused:
            b.execute("COMMIT")
    assert backend.is_conflict(refused.value), str(refused.value)
    with lake.open(read_only=True) as con:
        assert con.execute("SELECT v FROM t").fetchall() == [(1,)]


def _frame(series: str, value: float) -> pd.DataFrame:
    n = 60
    return pd.DataFrame(
        {
            "series_id": [series] * n,
            "observation_date": pd.date_range("2020-01-01", periods=n).date,
            "value": [value] * n,
            "known_on": pd.date_range("2020-01-02", periods=n).date,
            "known_at": pd.date_range("2020-01-02", periods=n),
            "fetched_at": [pd.Timestamp("2026-01-09")] * n,
            "source_url": ["u"] * n,
            "payload_sha256": ["h"] * n,
        }
    )


def test_parallel_upserts_into_one_raw_table_all_land(pg, tmp_path):
    """Four writers upsert (insert, then revise) their own series into one table at the same time."""
    lake = pg_lake(pg, tmp_path, "lake_parallel")
    with lake.open() as con:
        con.execute(lake.ddl(warehouse.DDL))
    errors, results = [], []

    def load(series: str) -> None:
        try:
            with lake.open() as con:
                for value in (1.0, 1.0, 2.0):
                    results.append(warehouse.upsert(con, warehouse.FRED, _frame(series, value)))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(f"S{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sum(r.inserted for r in results) == 240 and sum(r.updated for r in results) == 240
    with lake.open(read_only=True) as con:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT (series_id, observation_date)), min(value), "
            "min(previous_value) FROM raw.fred_observations"
        ).fetchone()
    assert rows == (240, 240, 2.0, 1.0)


def test_writers_replacing_the_series_catalog_and_logging_loads_at_once_all_succeed(pg, tmp_path):
    """Two CREATE OR REPLACE of one DuckLake table conflict (the second commit is refused): two runs
    writing raw.series_catalog, and their load_log rows, at the same time must both succeed."""
    lake = pg_lake(pg, tmp_path, "lake_catalog_writers")
    with lake.open() as con:
        con.execute(lake.ddl(warehouse.DDL))
    errors, start = [], threading.Barrier(3)

    def run(n: int) -> None:
        try:
            with lake.open() as con:
                start.wait()
                for i in range(4):
                    warehouse.write_catalog(con)
                    warehouse.log_load(
                        con,
                        run_id=f"r{n}",
                        source="fred",
                        series=f"S{i}",
                        loaded_at=dt.datetime(2026, 1, 1),
                        mode="replay",
                        status="ok",
                    )
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with lake.open(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw.load_log").fetchone()[0] == 12
        assert con.execute("SELECT count(*) FROM raw.series_catalog").fetchone()[0] > 10


@pytest.mark.parametrize("catalog", ["postgres", "sqlite"])
def test_writers_upserting_the_same_new_rows_at_once_land_each_row_once(catalog, request, tmp_path):
    """Two runs on one lake fetch the same new release and upsert it at the same moment. DuckLake
    appends never conflict, so without a per-table lock both inserts commit and every key lands
    twice (a weekly series then shows 0-day gaps and fails its continuity check)."""
    if catalog == "postgres":
        lake = pg_lake(request.getfixturevalue("pg"), tmp_path, "lake_same_rows")
    else:
        lake = backend.parse(
            f"ducklake:sqlite:{tmp_path / 'catalog.sqlite'}", data_path=str(tmp_path / "data")
        )
    with lake.open() as con:
        con.execute(lake.ddl(warehouse.DDL))
    writers = 4
    errors, results, start = [], [], threading.Barrier(writers)

    def load() -> None:
        try:
            with lake.open() as con:
                start.wait()
                results.append(warehouse.upsert(con, warehouse.FRED, _frame("WALCL", 1.0)))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert sorted(r.inserted for r in results) == [0] * (writers - 1) + [60]  # one writer inserts
    with lake.open(read_only=True) as con:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT (series_id, observation_date)) FROM raw.fred_observations"
        ).fetchone()
    assert rows == (60, 60)
