"""The raw DuckDB layer: DDL, idempotent upserts with revisions, watermarks, load log, rollback."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import duckdb
import filelock
import pandas as pd
import pytest

from ingest import calendar, quality, registry, settings, warehouse

D = dt.date.fromisoformat
T0 = dt.datetime(2026, 1, 30, 12, 0)
T1 = dt.datetime(2026, 1, 31, 12, 0)


def fred_frame(values: dict[str, float], fetched_at: dt.datetime = T0, sha: str = "a" * 64) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "series_id": "WALCL",
            "observation_date": [D(d) for d in values],
            "value": list(values.values()),
            "known_on": [D(d) + dt.timedelta(days=1) for d in values],
            "known_at": [calendar.known_at("h41", D(d)) for d in values],
            "fetched_at": fetched_at,
            "source_url": "https://fred.stlouisfed.org/graph/fredgraph.csv?id=WALCL",
            "payload_sha256": sha,
        }
    )


@pytest.fixture
def con(tmp_path: Path):
    with warehouse.connect(tmp_path / "warehouse.duckdb") as connection:
        yield connection


def rows(
    con,
    sql="SELECT observation_date, value, previous_value, updated_at FROM raw.fred_observations ORDER BY 1",
):
    return con.execute(sql).fetchall()


def test_connect_creates_every_raw_table(con):
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()
    }
    assert {
        "fred_observations",
        "fed_ddp_observations",
        "coingecko_market_chart",
        "coingecko_global",
        "load_log",
    } <= tables
    assert (
        warehouse.write_catalog(con) == con.execute("SELECT count(*) FROM raw.series_catalog").fetchone()[0]
    )


def test_upsert_insert_then_rerun_is_a_no_op(con):
    frame = fred_frame({"2026-01-21": 6584580.0, "2026-01-28": 6587568.0})
    assert warehouse.upsert(con, warehouse.FRED, frame) == warehouse.UpsertResult(2, 2, 0)
    before = rows(con)
    assert warehouse.upsert(
        con, warehouse.FRED, fred_frame({"2026-01-21": 6584580.0, "2026-01-28": 6587568.0}, fetched_at=T1)
    ) == warehouse.UpsertResult(2, 0, 0)
    assert rows(con) == before


def test_upsert_revision_keeps_previous_value(con):
    warehouse.upsert(con, warehouse.FRED, fred_frame({"2026-01-21": 6584580.0}))
    result = warehouse.upsert(
        con,
        warehouse.FRED,
        fred_frame({"2026-01-21": 6584999.0, "2026-01-28": 1.0}, fetched_at=T1, sha="b" * 64),
    )
    assert result == warehouse.UpsertResult(2, 1, 1)
    revised = con.execute(
        "SELECT value, previous_value, fetched_at, updated_at, payload_sha256 FROM raw.fred_observations "
        "WHERE observation_date = DATE '2026-01-21'"
    ).fetchone()
    assert revised == (6584999.0, 6584580.0, T0, T1, "b" * 64)


def test_upsert_duplicate_keys_rejected_and_nothing_written(con):
    frame = pd.concat([fred_frame({"2026-01-21": 1.0}), fred_frame({"2026-01-21": 2.0})], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate keys in one load"):
        warehouse.upsert(con, warehouse.FRED, frame)
    assert rows(con) == []


def test_upsert_failure_rolls_back(con):
    warehouse.upsert(con, warehouse.FRED, fred_frame({"2026-01-14": 6581700.0}))
    before = rows(con)
    bad = fred_frame({"2026-01-21": 6584580.0, "2026-01-28": 6587568.0})
    bad["known_on"] = [D("2026-01-22"), None]  # NOT NULL violation on the second row
    with pytest.raises(duckdb.Error):
        warehouse.upsert(con, warehouse.FRED, bad)
    assert rows(con) == before


def test_upsert_empty_frame(con):
    assert warehouse.upsert(con, warehouse.FRED, fred_frame({})) == warehouse.UpsertResult(0, 0, 0)


def test_market_chart_nullable_values_compare_as_distinct(con):
    frame = pd.DataFrame(
        {
            "coin_id": "bitcoin",
            "observation_date": [D("2026-01-31")],
            "origin": "api",
            "snapped_at": [dt.datetime(2026, 1, 31)],
            "price_usd": [84141.7],
            "market_cap_usd": [None],
            "total_volume_usd": [1.0],
            "known_on": [D("2026-01-31")],
            "known_at": [dt.datetime(2026, 1, 31)],
            "fetched_at": T0,
            "source_url": "u",
            "payload_sha256": "c" * 64,
        }
    )
    assert warehouse.upsert(con, warehouse.MARKET_CHART, frame).inserted == 1
    # a NULL market cap compared with NULL is "the same", not an update
    assert warehouse.upsert(con, warehouse.MARKET_CHART, frame) == warehouse.UpsertResult(1, 0, 0)
    frame["market_cap_usd"] = [1680807873673.8472]
    assert warehouse.upsert(con, warehouse.MARKET_CHART, frame).updated == 1


def test_watermark_and_load_log(con):
    assert warehouse.watermark(con, warehouse.FRED, {"series_id": "WALCL"}) is None
    warehouse.upsert(con, warehouse.FRED, fred_frame({"2026-01-21": 1.0, "2026-01-28": 2.0}))
    assert warehouse.watermark(con, warehouse.FRED, {"series_id": "WALCL"}) == D("2026-01-28")
    assert warehouse.watermark(con, warehouse.FRED, {"series_id": "WTREGEN"}) is None
    warehouse.log_load(
        con,
        run_id="r1",
        source="fred",
        series="WALCL",
        loaded_at=T0,
        mode="live",
        url="u",
        status="ok",
        rows_in_payload=2,
        inserted=2,
        updated=0,
        bytes=10,
        message="",
    )
    assert con.execute("SELECT run_id, status, inserted FROM raw.load_log").fetchall() == [("r1", "ok", 2)]


def test_writer_lock_is_next_to_the_database_and_excludes_other_writers(tmp_path: Path):
    db = tmp_path / "w.duckdb"
    assert warehouse.lock_path(db) == Path(str(db.resolve()) + ".lock")
    outcome: list[str] = []

    def other_writer() -> None:
        try:
            with warehouse.connect(db, lock_timeout=0.2):
                outcome.append("opened")
        except filelock.Timeout:
            outcome.append("queued")

    with warehouse.writer_lock(db, timeout=1):
        with warehouse.writer_lock(db, timeout=1):  # re-entrant in the same thread
            pass
        worker = threading.Thread(target=other_writer)
        worker.start()
        worker.join(timeout=10)
    assert outcome == ["queued"]
    with warehouse.connect(db, lock_timeout=1):  # free again once released
        pass


def test_a_warehouse_from_before_known_at_is_migrated_in_place(tmp_path):
    """A raw layer written without known_at gets it, in DDL order (schema_drift passes), from
    known_on at the rule's release time (observations) or the snapshot instant (CoinGecko)."""
    from ingest import quality

    path = tmp_path / "old.duckdb"
    old_ddl = "\n".join(line for line in warehouse.DDL.splitlines() if "known_at" not in line)
    con = duckdb.connect(str(path))
    con.execute(old_ddl)
    provenance = "TIMESTAMP '2026-01-31 12:00:00', TIMESTAMP '2026-01-31 12:00:00', NULL, 'u', 's'"
    con.execute(
        f"INSERT INTO raw.fred_observations VALUES ('WALCL', DATE '2025-11-19', 6555283, DATE '2025-11-20', {provenance})"
    )
    con.execute(
        "INSERT INTO raw.coingecko_market_chart VALUES ('bitcoin', DATE '2025-11-19', 'api', "
        f"TIMESTAMP '2025-11-19 00:00:00', 92000.0, 1.8e12, 5e10, DATE '2025-11-19', {provenance})"
    )
    con.execute(
        "INSERT INTO raw.treasury_dts_cash_balance VALUES (DATE '2025-11-18', "
        "'Treasury General Account (TGA) Closing Balance', NULL, 928422, NULL, NULL, 'I', 'x', 3, "
        f"DATE '2025-11-19', {provenance})"
    )
    con.close()
    with warehouse.connect(path) as con:
        for table in warehouse.TABLES:
            assert quality.schema_drift(con, table).passed, table
        dts = con.execute("SELECT known_on, known_at FROM raw.treasury_dts_cash_balance").fetchall()
        fred = con.execute("SELECT known_on, known_at, value FROM raw.fred_observations").fetchall()
        coin = con.execute("SELECT snapped_at, known_at FROM raw.coingecko_market_chart").fetchall()
        # the key survived: the same row again is refused
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO raw.fred_observations SELECT * FROM raw.fred_observations")
    assert fred == [(D("2025-11-20"), dt.datetime(2025, 11, 20, 21, 30), 6555283.0)]  # Thursday 16:30 EST
    assert coin == [(dt.datetime(2025, 11, 19), dt.datetime(2025, 11, 19))]
    assert dts == [(D("2025-11-19"), dt.datetime(2025, 11, 19, 21, 0))]  # 16:00 EST, rule dts
    with warehouse.connect(path) as con:  # a second open changes nothing
        assert warehouse.migrate_known_at(con) == []


def _insert(con, table: str, **values) -> None:
    """One raw row: the given columns plus the provenance every raw row carries."""
    row = {
        "known_on": dt.date(2026, 1, 1),
        "known_at": dt.datetime(2026, 1, 1),
        "fetched_at": T0,
        "updated_at": T0,
        "source_url": "u",
        "payload_sha256": "h",
        **values,
    }
    names = ", ".join(row)
    con.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' for _ in row)})", list(row.values()))


def test_the_dts_and_coin_freshness_rules_read_the_raw_tables(con, monkeypatch):
    """They run as the raw assets' `freshness` checks, right after the load and also in a run where
    dbt has nothing to rebuild, so they read raw tables only: a coin's newest close against dbt var
    crypto_max_stale_days, the newest DTS record date against the next business day."""
    monkeypatch.setenv("LIQUIDITY_COINS", "bitcoin,ethereum,solana")
    today = dt.date(2026, 1, 14)  # a Wednesday
    coins = registry.BY_NAME["coingecko_market_chart"]
    for coin, day in (("bitcoin", dt.date(2026, 1, 13)), ("ethereum", dt.date(2026, 1, 11))):
        _insert(
            con,
            coins.table,
            coin_id=coin,
            observation_date=day,
            origin="api",
            snapped_at=dt.datetime.combine(day, dt.time()),
            price_usd=1.0,
        )
    assert settings.dbt_var("crypto_max_stale_days") == 1
    found = quality.table_freshness(con, coins, today)
    assert not found.passed and found.summary == "2 coins late (limit 1 day)"
    assert found.details["late"] == [
        {"coin": "ethereum", "last": "2026-01-11", "expected_at_least": "2026-01-13"},
        {"coin": "solana", "last": None, "expected_at_least": "2026-01-13"},
    ]
    dts = registry.BY_NAME["treasury_dts_cash_balance"]
    assert not quality.table_freshness(con, dts, today).passed  # nothing loaded yet
    _insert(
        con,
        dts.table,
        observation_date=dt.date(2026, 1, 12),
        account_type="Treasury General Account (TGA) Closing Balance",
    )
    # Monday's statement: current on Wednesday (Tuesday's comes out at about 16:00 ET that day), late
    # on Thursday.
    assert quality.table_freshness(con, dts, today).passed
    late = quality.table_freshness(con, dts, dt.date(2026, 1, 15))
    assert not late.passed and late.summary == "DTS_TGA_CLOSE late: last 2026-01-12, expected 2026-01-13"
