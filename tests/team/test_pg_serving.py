"""The PostgreSQL serving target: the audited marts in a PostgreSQL schema, swapped in one PostgreSQL
transaction, read by a login role that can SELECT and nothing else. A reader process looping queries
through repeated publishes sees zero errors and only whole versions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psycopg
import pytest

from orchestration import pg_serving
from orchestration.assets.dbt import mart_keys
from tests.pipeline_support import clean_environ, shared_run

pytestmark = pytest.mark.integration
MARTS = [k.path[-1] for k in mart_keys()]
READER, READER_PASSWORD = "liquidity_reader", "r3ader-only-pw"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def served(pg, tmp_path_factory):
    database = pg.create_database("analytics")
    pg.execute(f"DROP ROLE IF EXISTS {READER}")
    for statement in pg_serving.READER_ROLE_SQL.format(
        reader=READER, password=READER_PASSWORD, database=database
    ).split(";"):
        if statement.strip():
            pg.execute(statement, dbname=database)
    files = [shared_run(tmp_path_factory, "2025-11-19") / "serving.duckdb"]
    files.append(shared_run(tmp_path_factory, "2025-11-19", "2026-01-31") / "serving.duckdb")
    target = pg_serving.PgTarget(pg.conninfo(database), "marts", READER)
    return pg, database, target, files


def _counts(file: Path) -> dict[str, int]:
    with duckdb.connect(str(file), read_only=True) as con:
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in MARTS}


def test_readers_see_only_whole_versions_through_repeated_publishes(served, tmp_path):
    pg, database, target, files = served
    first = pg_serving.publish(files[0], MARTS, target)
    assert first.replaced and first.counts == _counts(files[0])
    out, stop = tmp_path / "reads.jsonl", tmp_path / "stop"
    reader = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "pg_reader.py"),
            pg.conninfo(database, READER, READER_PASSWORD),
            "marts",
            str(out),
            str(stop),
            ",".join(MARTS),
        ],
        env=clean_environ(),
    )
    versions = {first.digest: first.counts}
    try:
        time.sleep(0.5)
        for file in [files[1], files[0], files[1], files[0], files[1]]:
            done = pg_serving.publish(file, MARTS, target)
            assert done.replaced
            versions[done.digest] = done.counts
        time.sleep(0.5)
    finally:
        stop.touch()
        reader.wait(timeout=60)
    reads = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [r["error"] for r in reads if "error" in r]
    assert not errors, f"{len(errors)} of {len(reads)} reads failed, e.g. {errors[:2]}"
    assert len(versions) == 2 and len(reads) > 20
    mixed = [r for r in reads if versions.get(r["digest"]) != r["counts"]]
    assert not mixed, f"{len(mixed)} reads saw a mix of versions, e.g. {mixed[:1]}"
    assert {r["digest"] for r in reads} == set(versions), "the reader did not see both versions"
    print(f"pg reader: {len(reads)} reads, 0 errors, 0 mixed, during 5 publishes")


def test_an_unchanged_publish_leaves_postgres_as_it_is(served):
    _, _, target, files = served
    pg_serving.publish(files[1], MARTS, target)
    again = pg_serving.publish(files[1], MARTS, target)
    assert not again.replaced and again.digest == pg_serving.published_digest(target)


def test_the_reader_role_can_select_and_nothing_else(served):
    pg, database, target, files = served
    pg_serving.publish(files[1], MARTS, target)
    with psycopg.connect(pg.conninfo(database, READER, READER_PASSWORD), autocommit=True) as con:
        n = con.execute("SELECT count(*) FROM marts.liquidity_daily").fetchone()[0]
        assert n == _counts(files[1])["liquidity_daily"]
        for sql in (
            "DELETE FROM marts.liquidity_daily",
            "INSERT INTO marts.series_freshness SELECT * FROM marts.series_freshness LIMIT 1",
            "UPDATE marts.reserve_adequacy SET quarter_start = quarter_start",
            "CREATE TABLE marts.mine (x int)",
            "CREATE TABLE public.mine (x int)",
            "DROP TABLE marts.liquidity_daily",
            "CREATE SCHEMA mine",
        ):
            with pytest.raises(psycopg.Error) as denied:
                con.execute(sql)
            assert isinstance(
                denied.value, psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction
            )
        # even with the read-only default switched off for the session, writes are refused
        con.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            con.execute("DELETE FROM marts.liquidity_daily")
    assert pg_serving.published_digest(target) is not None


def test_a_wrong_password_never_shows_in_the_error(served):
    pg, database, target, files = served
    wrong = pg_serving.PgTarget(pg.conninfo(database, password="Wr0ng-s3cret-pw"), "marts", READER)
    with pytest.raises(RuntimeError) as failed:
        pg_serving.publish(files[1], MARTS, wrong)
    assert "Wr0ng-s3cret-pw" not in str(failed.value) and "password=***" in str(failed.value)
