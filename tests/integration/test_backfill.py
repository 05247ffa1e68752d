"""Backfill of one series' date range (`ingest.load.backfill`, the CLI and the `backfill_series` job)
on the 2025-11-19 replay snapshot: rows removed from the window come back exactly, revisions update
in place, nothing outside the window or of another series changes, bad ids are refused before any
request."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingest import load, settings, warehouse
from ingest.errors import InvalidIdentifier
from ingest.settings import PROJECT_ROOT

REPLAY = (PROJECT_ROOT.parent / "shared" / "data" / "replay" / "2025-11-19").resolve()
START, END = dt.date(2020, 1, 1), dt.date(2020, 12, 31)
KEY_COLUMNS = "series_id, observation_date, value, known_on"
# A developer's keys or settings would switch code paths (FRED API, pro plan): never use them here.
UNSET = ("FRED_API_KEY", "COINGECKO_API_KEY", "COINGECKO_PLAN", "LIQUIDITY_COINS", "LIQUIDITY_START")


@pytest.fixture(scope="module")
def loaded_warehouse(tmp_path_factory) -> Path:
    """One `load_all()` of the replay snapshot into a module-wide warehouse (copied per test)."""
    if not REPLAY.is_dir():
        pytest.skip(f"replay snapshot {REPLAY} is absent (../shared/data is not beside the project)")
    data_dir = tmp_path_factory.mktemp("backfill_base")
    env = {"LIQUIDITY_DATA_DIR": str(data_dir), "LIQUIDITY_REPLAY_DIR": str(REPLAY)}
    unset = {k: os.environ.pop(k) for k in UNSET if k in os.environ}
    try:
        with settings.exported(env):
            results = load.load_all("base")
    finally:
        os.environ.update(unset)
    assert not [s for r in results for s in r.failures], "baseline replay load failed"
    return data_dir / "warehouse.duckdb"


@pytest.fixture
def wh(loaded_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    path = data_dir / "warehouse.duckdb"
    shutil.copy(loaded_warehouse, path)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LIQUIDITY_REPLAY_DIR", str(REPLAY))
    return path


def rows(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def execute(path: Path, sql: str, params: list | None = None) -> None:
    with warehouse.connect(path) as con:
        con.execute(sql, params or [])


OUTSIDE = "NOT (series_id = ? AND observation_date BETWEEN ? AND ?)"


def test_fred_backfill_restores_deleted_window_exactly(wh: Path):
    before_all = rows(wh, "SELECT * FROM raw.fred_observations ORDER BY ALL")
    window = rows(
        wh,
        f"SELECT {KEY_COLUMNS} FROM raw.fred_observations "
        "WHERE series_id = 'WALCL' AND observation_date BETWEEN ? AND ? ORDER BY ALL",
        [START, END],
    )
    assert len(window) >= 52, "the snapshot should hold a year of weekly WALCL in 2020"
    execute(
        wh, "DELETE FROM raw.fred_observations WHERE series_id = 'WALCL' AND year(observation_date) = 2020"
    )

    outcome = load.backfill("fred", "WALCL", "2020-01-01", "2020-12-31")

    assert (outcome.status, outcome.inserted, outcome.updated) == ("ok", len(window), 0)
    assert outcome.rows == len(window), "exactly the window was upserted, nothing before or after"
    after_window = rows(
        wh,
        f"SELECT {KEY_COLUMNS} FROM raw.fred_observations "
        "WHERE series_id = 'WALCL' AND observation_date BETWEEN ? AND ? ORDER BY ALL",
        [START, END],
    )
    assert after_window == window
    # Everything else (other series, WALCL outside 2020) is untouched, byte for byte.
    outside_before = [r for r in before_all if not (r[0] == "WALCL" and START <= r[1] <= END)]
    assert rows(
        wh, f"SELECT * FROM raw.fred_observations WHERE {OUTSIDE} ORDER BY ALL", ["WALCL", START, END]
    ) == (outside_before)
    assert rows(wh, "SELECT count(*) FROM raw.fred_observations")[0][0] == len(before_all)
    logged = rows(
        wh,
        "SELECT status, inserted, message FROM raw.load_log WHERE series = 'WALCL' AND message LIKE 'backfill%'",
    )
    assert logged == [("ok", len(window), "backfill 2020-01-01..2020-12-31")]


def test_fred_backfill_updates_a_revision_and_is_idempotent(wh: Path):
    day, value = rows(
        wh,
        "SELECT observation_date, value FROM raw.fred_observations "
        "WHERE series_id = 'WALCL' AND observation_date BETWEEN ? AND ? ORDER BY 1 LIMIT 1",
        [dt.date(2020, 6, 1), END],
    )[0]
    execute(
        wh,
        "UPDATE raw.fred_observations SET value = value + 1 WHERE series_id = 'WALCL' AND observation_date = ?",
        [day],
    )

    first = load.backfill("fred", "WALCL", START, END)
    assert (first.status, first.inserted, first.updated) == ("ok", 0, 1)
    assert rows(
        wh,
        "SELECT value, previous_value FROM raw.fred_observations WHERE series_id = 'WALCL' AND observation_date = ?",
        [day],
    ) == [(value, value + 1)]

    again = load.backfill("fred", "WALCL", START, END)
    assert (again.status, again.inserted, again.updated) == ("ok", 0, 0)


def test_fed_ddp_backfill_touches_only_that_series(wh: Path):
    sid = "RESPPLLR_N.WW"  # the replayed H41 file spans 2021-04-28..2023-03-22
    start, end = dt.date(2022, 1, 1), dt.date(2022, 12, 31)
    before = rows(wh, f"SELECT {KEY_COLUMNS}, release FROM raw.fed_ddp_observations ORDER BY ALL")
    n = rows(
        wh,
        "SELECT count(*) FROM raw.fed_ddp_observations WHERE series_id = ? AND observation_date BETWEEN ? AND ?",
        [sid, start, end],
    )[0][0]
    assert n > 0
    execute(
        wh,
        "DELETE FROM raw.fed_ddp_observations WHERE series_id = ? AND observation_date BETWEEN ? AND ?",
        [sid, start, end],
    )

    outcome = load.backfill("fed_ddp", sid, start, end)

    assert (outcome.status, outcome.rows, outcome.inserted, outcome.updated) == ("ok", n, n, 0)
    assert rows(wh, f"SELECT {KEY_COLUMNS}, release FROM raw.fed_ddp_observations ORDER BY ALL") == before


def test_coingecko_backfill_older_than_the_api_uses_the_export(wh: Path):
    where = "coin_id = 'bitcoin' AND origin = 'export' AND observation_date BETWEEN ? AND ?"
    cols = "coin_id, observation_date, origin, price_usd, market_cap_usd, total_volume_usd, known_on"
    window = rows(
        wh, f"SELECT {cols} FROM raw.coingecko_market_chart WHERE {where} ORDER BY ALL", [START, END]
    )
    assert len(window) >= 365
    total = rows(wh, "SELECT count(*) FROM raw.coingecko_market_chart")[0][0]
    execute(wh, f"DELETE FROM raw.coingecko_market_chart WHERE {where}", [START, END])

    outcome = load.backfill("coingecko", "bitcoin", START, END)

    assert (outcome.status, outcome.rows, outcome.inserted, outcome.updated) == (
        "ok",
        len(window),
        len(window),
        0,
    )
    assert (
        rows(wh, f"SELECT {cols} FROM raw.coingecko_market_chart WHERE {where} ORDER BY ALL", [START, END])
        == window
    )
    assert rows(wh, "SELECT count(*) FROM raw.coingecko_market_chart")[0][0] == total


class _NoRequests:
    mode = "replay"

    def fetch(self, request):  # pragma: no cover - must never run
        raise AssertionError(f"a request was made: {request.url}")


def test_treasury_dts_backfill_restores_a_restated_window_through_the_cli(wh: Path, capsys):
    """Delete a week of DTS rows and restate one close; the CLI backfill asks FiscalData for exactly that
    window (filter record_date gte/lte, the closing-balance label of 2024), restores the rows, updates
    the restated one with the old value in previous_value, and leaves every row outside the window as
    it was."""
    from orchestration import cli

    dts = "raw.treasury_dts_cash_balance"
    columns = "observation_date, account_type, close_today_bal, open_today_bal, known_on"
    window = "observation_date BETWEEN DATE '2024-03-04' AND DATE '2024-03-08'"
    before_window = rows(wh, f"SELECT {columns} FROM {dts} WHERE {window} ORDER BY ALL")
    outside = rows(wh, f"SELECT * FROM {dts} WHERE NOT ({window}) ORDER BY ALL")
    assert len(before_window) == 5  # one TGA closing-balance row per statement
    execute(wh, f"DELETE FROM {dts} WHERE observation_date BETWEEN DATE '2024-03-04' AND DATE '2024-03-06'")
    closing = "account_type = 'Treasury General Account (TGA) Closing Balance'"
    execute(
        wh,
        f"UPDATE {dts} SET open_today_bal = open_today_bal + 1 WHERE observation_date = DATE '2024-03-08' AND {closing}",
    )

    argv = ["backfill", "--source", "treasury_dts", "--series", "operating_cash_balance"]
    assert cli.main([*argv, "--start", "2024-03-04", "--end", "2024-03-08"]) == 0
    assert "treasury_dts operating_cash_balance 2024-03-04..2024-03-08: ok rows=5 inserted=3 updated=1" in (
        capsys.readouterr().out
    )
    assert rows(wh, f"SELECT {columns} FROM {dts} WHERE {window} ORDER BY ALL") == before_window
    (restated,) = rows(
        wh,
        f"SELECT open_today_bal, previous_value FROM {dts} WHERE observation_date = DATE '2024-03-08' AND {closing}",
    )
    assert restated[1] == restated[0] + 1
    assert rows(wh, f"SELECT * FROM {dts} WHERE NOT ({window}) ORDER BY ALL") == outside
    (url,) = rows(
        wh, "SELECT url FROM raw.load_log WHERE source = 'treasury_dts' AND message LIKE 'backfill%'"
    )[0]
    assert (
        "filter=record_date%3Agte%3A2024-03-04%2Crecord_date%3Alte%3A2024-03-08%2C"
        "account_type%3Aeq%3ATreasury+General+Account+%28TGA%29+Closing+Balance"
    ) in url
    assert cli.main([*argv[:4], "WTREGEN", "--start", "2024-03-04", "--end", "2024-03-08"]) == 2


@pytest.mark.parametrize(
    ("source", "series", "start", "end", "error"),
    [
        ("fred", "NOTINCATALOG", "2020-01-01", "2020-12-31", ValueError),
        ("fred", "../../etc/passwd", "2020-01-01", "2020-12-31", InvalidIdentifier),
        ("fed_ddp", "WALCL", "2020-01-01", "2020-12-31", ValueError),  # a FRED id, not a DDP one
        ("coingecko", "dogecoin", "2020-01-01", "2020-12-31", ValueError),  # not in LIQUIDITY_COINS
        ("coingecko", "Bitcoin/../x", "2020-01-01", "2020-12-31", InvalidIdentifier),
        ("fred", "WALCL", "2020-12-31", "2020-01-01", ValueError),
        ("fred", "WALCL", "2020-13-01", "2020-12-31", ValueError),
        ("yahoo", "WALCL", "2020-01-01", "2020-12-31", ValueError),
    ],
)
def test_backfill_refuses_bad_requests_before_opening_or_fetching(
    tmp_path, monkeypatch, source, series, start, end, error
):
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(error):
        load.backfill(source, series, start, end, transport=_NoRequests())
    assert not (tmp_path / "data" / "warehouse.duckdb").exists(), "the warehouse was opened"


def test_cli_backfill(wh: Path, capsys):
    from orchestration import cli

    execute(
        wh, "DELETE FROM raw.fred_observations WHERE series_id = 'WALCL' AND year(observation_date) = 2020"
    )
    code = cli.main(
        ["backfill", "--source", "fred", "--series", "WALCL", "--start", "2020-01-01", "--end", "2020-12-31"]
    )
    assert code == 0
    assert "fred WALCL 2020-01-01..2020-12-31: ok" in capsys.readouterr().out
    assert (
        cli.main(
            [
                "backfill",
                "--source",
                "fred",
                "--series",
                "NOPE",
                "--start",
                "2020-01-01",
                "--end",
                "2020-12-31",
            ]
        )
        == 2
    )


def test_backfill_series_job_from_launchpad_config(wh: Path):
    from orchestration.backfill import backfill_series
    from orchestration.resources import SourcesResource, WarehouseResource

    execute(
        wh, "DELETE FROM raw.fred_observations WHERE series_id = 'WALCL' AND year(observation_date) = 2020"
    )
    resources = {
        "warehouse": WarehouseResource(database=str(wh), lock_timeout_seconds=30),
        "sources": SourcesResource(replay_dir=str(REPLAY)),
    }
    config = {
        "ops": {
            "backfill_series_op": {
                "config": {"source": "fred", "series": "WALCL", "start": "2020-01-01", "end": "2020-12-31"}
            }
        }
    }
    job = backfill_series
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(run_config=config, instance=instance, resources=resources)
        assert result.success
        assert result.output_for_node("backfill_series_op")["inserted"] >= 52
        keys = [m.asset_key for m in result.asset_materializations_for_node("backfill_series_op")]
        assert keys == [dg.AssetKey(["raw", "fred_observations"])]

        bad = {
            "ops": {
                "backfill_series_op": {
                    "config": {"source": "fred", "series": "NOPE", "start": "2020-01-01", "end": "2020-12-31"}
                }
            }
        }
        failed = job.execute_in_process(
            run_config=bad, instance=instance, resources=resources, raise_on_error=False
        )
        assert not failed.success
