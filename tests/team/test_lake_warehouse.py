"""A DuckLake warehouse (PostgreSQL catalog, local Parquet) behind the one setting LIQUIDITY_WAREHOUSE:
the same replays publish the same marts as the embedded file, BI readers in another process only ever
see whole published versions, earlier versions stay readable by time travel, a blocked publish commits
nothing, and the catalog's password never reaches a log or a file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from bench.mart_hashes import table_hashes
from bench.pg_server import SUPERUSER_PASSWORD
from ingest import backend
from orchestration import publish_gate
from orchestration.assets.dbt import mart_keys
from orchestration.assets.serving import PUBLISH_MESSAGE, PublishBlocked, Superseded, publish_in_warehouse
from tests.pipeline_support import shared_run

pytestmark = pytest.mark.integration
MARTS = [k.path[-1] for k in mart_keys()]


def lake_of(runs) -> backend.Backend:
    return backend.parse(runs.setting, data_path=runs.data_path)


def test_lake_replays_publish_marts_equal_table_for_table_to_the_embedded_build(lake_runs, tmp_path_factory):
    embedded = shared_run(tmp_path_factory, "2025-11-19", "2026-01-31")
    want = table_hashes(str(embedded / "warehouse.duckdb"), ("marts",))
    assert sorted(want) == sorted(f"marts.{t}" for t in MARTS)
    in_lake = table_hashes(lake_runs.setting, ("marts",), data_path=lake_runs.data_path)
    served = table_hashes(lake_runs.setting, ("serving",), data_path=lake_runs.data_path)
    assert in_lake == want
    assert {k.replace("serving.", "marts."): v for k, v in served.items()} == want
    # and the serving file each build leaves on its machine
    assert table_hashes(str(lake_runs.data_dir / "serving.duckdb"), ("main",)) == table_hashes(
        str(embedded / "serving.duckdb"), ("main",)
    )


def _digest_at(con: duckdb.DuckDBPyConnection, version: int) -> dict:
    out = {}
    for table in MARTS:
        n, h = con.execute(
            f"SELECT count(*), coalesce(sum(hash(t)), 0)::VARCHAR "
            f'FROM (SELECT * FROM serving."{table}" AT (VERSION => {int(version)})) t'
        ).fetchone()
        out[table] = [n, h]
    return out


def test_a_reader_process_sees_only_whole_published_versions(lake_runs):
    reads = lake_runs.reads
    # Until the first run's first connection creates the DuckLake, a read-only attach is refused
    # ("does not exist"); from then on no read may fail.
    created = next((i for i, r in enumerate(reads) if "error" not in r), len(reads))
    assert all("does not exist" in r["error"] for r in reads[:created]), reads[:created][:2]
    errors = [r["error"] for r in reads[created:] if "error" in r]
    assert not errors, f"{len(errors)} of {len(reads) - created} reads failed, e.g. {errors[:2]}"
    reads = reads[created:]
    lake = lake_of(lake_runs)
    with lake.open(read_only=True) as con:
        versions = [v for v, _ in lake.published_versions(con, PUBLISH_MESSAGE)]
        digests = {v: _digest_at(con, v) for v in versions}
    assert len(versions) == 2, versions  # one publish per replay
    seen = {}
    for read in reads:
        tables = read["tables"]
        if not tables:  # before the first publish
            continue
        match = [v for v, d in digests.items() if d == tables]
        assert match, f"a read matched no published version: {sorted(tables)}"
        seen[match[0]] = seen.get(match[0], 0) + 1
    assert set(seen) == set(versions), f"reads per version: {seen}"
    assert len(reads) > 50


def test_earlier_publishes_stay_readable_by_time_travel(lake_runs, tmp_path_factory):
    first = shared_run(tmp_path_factory, "2025-11-19") / "serving.duckdb"
    with duckdb.connect(str(first), read_only=True) as con:
        want = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in MARTS}
    lake = lake_of(lake_runs)
    with lake.open(read_only=True) as con:
        v1, v2 = (v for v, _ in lake.published_versions(con, PUBLISH_MESSAGE))
        then = {t: n for t, (n, _) in _digest_at(con, v1).items()}
        last_then = con.execute(
            f"SELECT max(date) FROM serving.liquidity_daily AT (VERSION => {v1})"
        ).fetchone()
        last_now = con.execute("SELECT max(date) FROM serving.liquidity_daily").fetchone()
    assert then == want
    assert str(last_then[0]) < str(last_now[0])
    metadata = lake_runs.results[-1].asset_materializations_for_node("serving__serving_duckdb")[0].metadata
    assert metadata["lake_published_version"].value == v2


def test_the_catalog_password_reaches_no_log_metadata_or_file(lake_runs):
    assert SUPERUSER_PASSWORD in lake_runs.setting  # the setting really carries one
    assert SUPERUSER_PASSWORD not in lake_runs.logs
    assert "password=***" in lake_runs.logs or "ducklake:postgres" in lake_runs.logs
    leaked = [
        p
        for p in Path(lake_runs.data_dir).rglob("*")
        if p.is_file() and p.stat().st_size < 50_000_000 and SUPERUSER_PASSWORD.encode() in p.read_bytes()
    ]
    assert not leaked, leaked


def test_a_blocked_publish_commits_nothing_to_the_lake(tmp_path):
    lake = backend.parse(f"ducklake:sqlite:{tmp_path / 'c.sqlite'}", data_path=str(tmp_path / "d"))
    rules = {"m": publish_gate.MartRule("m", "date", ("v",))}
    with lake.open() as con:
        con.execute("CREATE SCHEMA marts")
        con.execute(
            "CREATE TABLE marts.m AS SELECT DATE '2026-01-01' + i::INTEGER AS date, i AS v FROM range(30) r(i)"
        )
    lake.mark_build("r1", "built")  # what the dbt step records (a publish needs it)
    first = publish_in_warehouse(lake, ["m"], rules, allow_shrink=False, run_id="r1")
    assert first.replaced
    again = publish_in_warehouse(lake, ["m"], rules, allow_shrink=False, run_id="r2")
    assert not again.replaced and again.version == first.version  # unchanged marts: no commit
    with lake.open() as con:
        con.execute("DELETE FROM marts.m WHERE date > DATE '2026-01-20'")  # shrinks: blocking
        before = con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0]
    with pytest.raises(PublishBlocked, match="would lose rows"):
        publish_in_warehouse(lake, ["m"], rules, allow_shrink=False, run_id="r3")
    with lake.open(read_only=True) as con:
        assert con.execute("SELECT max(snapshot_id) FROM lake.snapshots()").fetchone()[0] == before
        assert con.execute("SELECT count(*) FROM serving.m").fetchone()[0] == 30
    with pytest.raises(Superseded):  # r4 built nothing: r1's marts, then shrunk by hand
        publish_in_warehouse(lake, ["m"], rules, allow_shrink=True, run_id="r4")
    lake.mark_build("r4", "built")
    allowed = publish_in_warehouse(lake, ["m"], rules, allow_shrink=True, run_id="r4")
    assert allowed.replaced and allowed.version > before
