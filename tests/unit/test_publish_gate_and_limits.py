"""Issue #10 pieces below the full runs: the publish gate's rules on small DuckDB files, the release
calendar's future bound, bounded parsing and reading, settings checked up front, warehouse compaction
and the run summary's root cause and offending rows."""

from __future__ import annotations

import datetime as dt
import tempfile
import types
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingest import calendar, parsing, settings, warehouse
from ingest.errors import PayloadError
from ingest.transport import Request, _read_bounded
from orchestration import publish_gate, summary

D = dt.date.fromisoformat
RULE = publish_gate.MartRule("liquidity_daily", "date", ("net_liquidity_bn",), recent_days=3)
RULES = {"liquidity_daily": RULE, "liquidity_lag_scan": publish_gate.MartRule("liquidity_lag_scan")}


def serving_file(path: Path, days: list[tuple[str, float | None]], lag_rows: int = 2) -> Path:
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE liquidity_daily (date DATE, net_liquidity_bn DOUBLE)")
    if days:
        con.executemany("INSERT INTO liquidity_daily VALUES (?, ?)", [[D(d), v] for d, v in days])
    con.execute(f"CREATE TABLE liquidity_lag_scan AS SELECT range AS lead_days FROM range({lag_rows})")
    con.close()
    return path


GOOD = [("2026-01-26", 5.0), ("2026-01-27", 5.1), ("2026-01-28", 5.2), ("2026-01-29", 5.3)]


def judge(tmp_path: Path, candidate_days, published_days=GOOD, allow=False, lag_rows=2, published=True):
    tmp_path = Path(tempfile.mkdtemp(dir=tmp_path))  # a fresh pair of files for each call
    pub = serving_file(tmp_path / "serving.duckdb", published_days) if published else tmp_path / "none.duckdb"
    cand = serving_file(tmp_path / "candidate.duckdb", candidate_days, lag_rows)
    with duckdb.connect(str(cand), read_only=True) as con:
        return publish_gate.evaluate(con, pub, RULES, allow_shrink=allow)


def test_a_candidate_that_grows_passes(tmp_path):
    result = judge(tmp_path, [*GOOD, ("2026-01-30", 5.4)])
    assert result.passed and not result.overridden
    assert result.tables["liquidity_daily"]["candidate"]["rows"] == 5


def test_lost_rows_and_an_earlier_last_date_are_shrinks(tmp_path):
    result = judge(tmp_path, GOOD[:3])
    assert not result.passed
    assert "liquidity_daily would lose rows: 4 published, 3 now" in result.blocked
    assert "liquidity_daily last date would move back from 2026-01-29 to 2026-01-28" in result.blocked
    assert result.shrinks == result.blocked
    allowed = judge(tmp_path, GOOD[:3], allow=True)
    assert allowed.passed and len(allowed.overridden) == 2
    assert allowed.summary().startswith("publish gate: passed with LIQUIDITY_ALLOW_SHRINK=1")


def test_a_mart_without_a_date_only_must_keep_its_rows(tmp_path):
    result = judge(tmp_path, GOOD, lag_rows=1)
    assert result.blocked == ["liquidity_lag_scan would lose rows: 2 published, 1 now"]


def test_a_required_column_turning_null_is_blocked_even_with_the_override(tmp_path):
    days = [*GOOD[:2], ("2026-01-28", None), ("2026-01-29", None), ("2026-01-30", None)]
    result = judge(tmp_path, days, allow=True)
    assert not result.passed and not result.shrinks
    assert result.blocked[0].startswith(
        "liquidity_daily.net_liquidity_bn is NULL on every row of the last 3 days"
    )
    # One value in the window is enough.
    assert judge(tmp_path, [*days[:4], ("2026-01-30", 1.0)]).passed


def test_an_already_null_column_does_not_block_a_later_publish(tmp_path):
    stale = [("2026-01-26", 5.0), ("2026-01-27", None), ("2026-01-28", None), ("2026-01-29", None)]
    assert judge(tmp_path, [*stale, ("2026-01-30", None)], published_days=stale).passed


def test_a_first_publish_needs_rows_and_every_required_column(tmp_path):
    empty = judge(tmp_path, [], published=False)
    assert empty.blocked[0] == "liquidity_daily is empty"
    nulls = judge(tmp_path, [("2026-01-29", None)], published=False)
    assert any("net_liquidity_bn is NULL" in b for b in nulls.blocked)
    assert judge(tmp_path, GOOD, published=False).passed


def test_a_damaged_published_file_counts_as_no_published_file(tmp_path):
    (tmp_path / "serving.duckdb").write_bytes(b"garbage" * 100)
    cand = serving_file(tmp_path / "candidate.duckdb", GOOD)
    with duckdb.connect(str(cand), read_only=True) as con:
        result = publish_gate.evaluate(con, tmp_path / "serving.duckdb", RULES, allow_shrink=False)
    assert result.passed and result.compared_with.startswith("nothing")


@pytest.mark.parametrize(
    ("rule", "as_of", "latest"),
    [
        ("same_day", "2026-01-31", "2026-01-31"),
        ("next_business_day", "2026-01-31", "2026-01-31"),  # one day of tolerance (see FUTURE_TOLERANCE)
        ("h41", "2026-01-31", "2026-01-31"),
        ("h8", "2026-01-31", "2026-01-23"),
        ("gdp_advance", "2026-01-31", "2025-10-01"),
        ("gdp_advance", "2026-04-01", "2026-01-01"),
    ],
)
def test_latest_public_observation(rule, as_of, latest):
    assert calendar.latest_public_observation(rule, D(as_of)) == D(latest)


def test_depth_and_size_limits():
    assert parsing.parse_json(b'{"a": [[1, 2]]}', "s", "x") == {"a": [[1, 2]]}
    nested = b"[" * (parsing.MAX_JSON_DEPTH + 1) + b"]" * (parsing.MAX_JSON_DEPTH + 1)
    with pytest.raises(PayloadError, match="s x: JSON nested deeper than 32 levels"):
        parsing.parse_json(nested, "s", "x")
    assert parsing.try_json(nested) is None and parsing.try_json(b"[" * 100_000) is None
    with pytest.raises(PayloadError, match="larger than the 32 MiB limit"):
        parsing.decode(b"x" * (parsing.MAX_BODY_BYTES + 1), "s", "x")


class _Streamed:
    """A requests.Response stand-in whose body arrives in chunks and declares no Content-Length."""

    def __init__(self, chunks: int):
        self.headers: dict[str, str] = {}
        self.chunks = chunks
        self.read = 0
        self.closed = False

    def iter_content(self, chunk_size: int):
        for _ in range(self.chunks):
            self.read += chunk_size
            yield b"x" * chunk_size

    def close(self):
        self.closed = True


def test_a_body_without_content_length_is_abandoned_at_the_limit():
    request = Request("coingecko", "solana", "http://127.0.0.1/x", "x.json")
    streamed = _Streamed(chunks=10_000)  # 655 MB if read to the end
    with pytest.raises(PayloadError, match="coingecko solana: body of .* larger than the 32 MiB limit"):
        _read_bounded(streamed, request)
    assert streamed.closed and streamed.read <= parsing.MAX_BODY_BYTES + (1 << 16)
    assert _read_bounded(_Streamed(chunks=2), request) == b"x" * (2 << 16)


def test_configuration_problems_name_each_setting(clean_env, tmp_path):
    clean_env.setenv("LIQUIDITY_DATA_DIR", str(tmp_path / "data"))
    assert settings.configuration_problems() == []
    clean_env.setenv("LIQUIDITY_START", "2003-13-01")
    clean_env.setenv("LIQUIDITY_COINS", "bitcoin,Bad_Coin")
    clean_env.setenv("COINGECKO_PLAN", "enterprise")
    problems = settings.configuration_problems()
    assert problems[0] == "LIQUIDITY_START='2003-13-01' is not a date YYYY-MM-DD"
    assert problems[1].startswith("COINGECKO_PLAN must be")
    assert (
        problems[2]
        == "LIQUIDITY_COINS: rejected coin id 'Bad_Coin': only lower-case letters, digits and '-' allowed"
    )


def test_compaction_keeps_everything_and_shrinks_the_file(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with warehouse.connect(path) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.t AS SELECT range AS x, random() AS y FROM range(500000)")
        con.execute("CREATE TABLE marts.u AS SELECT random() AS y FROM range(500000)")
        con.execute("CHECKPOINT")
        # What dbt does on every run: the table rebuilt; its old blocks stay in the file, free.
        con.execute("CREATE OR REPLACE TABLE marts.t AS SELECT range AS x, range * 2 AS y FROM range(500000)")
        con.execute("CHECKPOINT")
        con.execute("CREATE VIEW marts.v AS SELECT x FROM marts.t WHERE x < 10")
    before = path.stat().st_size
    done = warehouse.compact(path)
    assert done.rewritten and done.bytes_after < before and done.free_share > 0.10
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*), sum(y) FROM marts.t").fetchone() == (500000, 249999500000)
        assert con.execute("SELECT count(*) FROM marts.v").fetchone() == (10,)
        keys = con.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY' AND schema_name = 'raw'"
        ).fetchone()[0]
    assert keys == len(warehouse.TABLES)  # the raw tables' primary keys survive the rewrite
    again = warehouse.compact(path)
    assert not again.rewritten and again.bytes_after == done.bytes_after


def _error(message: str, cause=None):
    return types.SimpleNamespace(message=message, cause=cause)


def test_root_cause_skips_dagster_wrappers():
    real = _error("dagster._core.definitions.events.Failure: fred_observations: IOException: damaged\n")
    assert (
        summary.root_cause(_error("Exceeded max_retries of 2\n", real))
        == "fred_observations: IOException: damaged"
    )
    assert summary.root_cause(_error("Failure: coingecko solana: refused")) == "coingecko solana: refused"


def test_failed_checks_show_their_first_offending_rows():
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(["raw", "fred_observations"]),
        check_name="unit_drift",
        passed=False,
        metadata={
            "summary": "4 values contradict the catalog units",
            "offending": dg.MetadataValue.json(
                [{"series": "WRESBAL", "date": f"2026-01-0{i}", "value": -1.0} for i in range(1, 5)]
            ),
        },
        severity=dg.AssetCheckSeverity.ERROR,
        description="4 values contradict the catalog units",
    )
    reason = summary._reason(evaluation)
    assert reason.startswith(
        "4 values contradict the catalog units: series=WRESBAL date=2026-01-01 value=-1.0;"
    )
    assert reason.endswith("(+1 more)")


def test_a_publish_removes_dead_runs_leftovers_and_keeps_a_live_ones(tmp_path):
    """A killed publish leaves `.serving.duckdb.<pid>.tmp[.wal]` behind; the next publish removes it.
    On the lake there is no writer lock, so a candidate whose process is still running (another run
    on this machine) is left alone."""
    import subprocess
    import sys

    import duckdb

    from orchestration.assets.serving import publish

    warehouse = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA marts; CREATE TABLE marts.m AS SELECT range AS i FROM range(3)")
    con.close()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        serving = tmp_path / "serving.duckdb"
        kept = tmp_path / f".serving.duckdb.{live.pid}.tmp"
        gone = [
            tmp_path / f".serving.duckdb.{dead.pid}.tmp",
            tmp_path / f".serving.duckdb.{dead.pid}.tmp.wal",
        ]
        for path in (kept, *gone):
            path.write_bytes(b"partial")
        assert publish(warehouse, serving, ["m"]).replaced
        assert kept.exists() and not any(p.exists() for p in gone)
        assert (
            duckdb.connect(str(serving), read_only=True).execute("SELECT count(*) FROM m").fetchone()[0] == 3
        )
    finally:
        live.kill()
        live.wait()
