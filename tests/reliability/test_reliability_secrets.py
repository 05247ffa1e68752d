"""A sentinel FRED_API_KEY (and CoinGecko key) must never leave the process: not in logs (DEBUG,
urllib3 included), exception text/args/cause/context chains or tracebacks, landing file names,
bodies or metadata, nor the warehouse (raw.load_log, source_url)."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from reliability_support import CG, FRED_OBS, FRED_SERIES, FREDGRAPH, Harness, Reply

from ingest import catalog, coingecko, fred, load, warehouse
from ingest.errors import HttpError, NetworkUnreachable, SourceError
from ingest.transport import HostRateLimiter

FRED_KEY = "SENTINEL-fred-key-9f3a"
CG_KEY = "SENTINEL-cg-key-77b1"
SENTINELS = (FRED_KEY, CG_KEY)


def exception_chain(exc: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        stack += [current.__cause__, current.__context__]
    return seen


def assert_clean_exception(exc: BaseException) -> None:
    for link in exception_chain(exc):
        texts = [str(link), repr(link), repr(link.args), *(str(a) for a in link.args)]
        texts += [str(v) for v in vars(link).values()]
        for text in texts:
            for secret in SENTINELS:
                assert secret not in text, f"{type(link).__name__} carries the key: {text[:200]}"
    formatted = "".join(traceback.format_exception(exc))
    assert not any(s in formatted for s in SENTINELS)


def assert_clean_tree(root: Path) -> None:
    if not root.exists():
        return
    for path in root.rglob("*"):
        assert not any(s in str(path) for s in SENTINELS), path
        if path.is_file() and not path.name.startswith("warehouse.duckdb"):
            data = path.read_bytes()
            assert not any(s.encode() in data for s in SENTINELS), path


def assert_clean_warehouse(db: Path) -> None:
    with warehouse.connect(db, read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                "WHERE table_schema = 'raw'"
            ).fetchall()
        ]
        for table in tables:
            columns = [
                r[0]
                for r in con.execute(
                    f"SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || table_name = "
                    f"'{table}' AND data_type = 'VARCHAR'"
                ).fetchall()
            ]
            for column in columns:
                for secret in SENTINELS:
                    hits = con.execute(
                        f"SELECT count(*) FROM {table} WHERE contains({column}, ?)", [secret]
                    ).fetchone()
                    assert hits[0] == 0, f"{table}.{column} holds the key"


@pytest.fixture
def keyed(harness: Harness, monkeypatch, caplog):
    """FRED API path with the sentinel key; logging redaction installed the way load_all does it."""
    monkeypatch.setenv("FRED_API_KEY", FRED_KEY)
    monkeypatch.setenv("COINGECKO_API_KEY", CG_KEY)
    harness.serve_good(1, api_key=True)
    transport = load.build_transport(
        timeout=0.3, attempts=2, backoff=0.01, max_backoff=0.05, rate_limiter=HostRateLimiter({})
    )
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "urllib3.connectionpool"):  # build_transport quietened them: listen anyway
        caplog.set_level(logging.DEBUG, logger=name)
    return harness, transport


def test_sentinel_key_never_leaks(keyed, caplog, monkeypatch, closed_port_url, tmp_path, scenario):
    h, transport = keyed
    h.router.set(FRED_OBS, "WTREGEN", Reply(400, h.wire.FRED_API_ERROR))  # an error response
    errors: list[BaseException] = []

    with warehouse.connect(h.db) as con:
        ctx = load.context(con, transport, run_id="secrets")
        assert ctx.keys.fred == FRED_KEY
        result = load.run("fred_observations", ctx, ["WALCL", "WTREGEN"])
        statuses = {s.series: s.status for s in result.series}
        assert statuses == {"WALCL": "ok", "WTREGEN": "failed"}
        assert "FRED error 400" in result.series[1].message
        coins = load.run("coingecko_market_chart", ctx, ["bitcoin"])
        assert coins.series[0].status == "ok"
        with pytest.raises(SourceError) as info:
            result.raise_for_failures()
        errors.append(info.value)

        # direct calls: error body, persistent 5xx, timeout, connection refused
        series = catalog.get("fred", "WTREGEN")
        with pytest.raises(HttpError) as info:
            fred.fetch(transport, series, None, None, FRED_KEY)
        errors.append(info.value)
        h.router.set(FRED_OBS, "WTREGEN", Reply(503, b"Service Unavailable"))
        with pytest.raises(HttpError) as info:
            fred.fetch(transport, series, None, None, FRED_KEY)
        errors.append(info.value)
        h.router.set(FRED_OBS, "WTREGEN", Reply(hang=True))
        with pytest.raises(HttpError, match="timeout") as info:
            fred.fetch(transport, series, None, None, FRED_KEY)
        errors.append(info.value)
        h.router.set(f"{CG}/coins/bitcoin/market_chart", None, Reply(401, h.wire.CG_ERROR_10012))
        with pytest.raises(HttpError) as info:
            coingecko.fetch_market_chart(transport, "bitcoin", 400, CG_KEY, "demo", None)
        errors.append(info.value)

        monkeypatch.setattr(fred, "API_ROOT", closed_port_url + "/fred")
        with pytest.raises(NetworkUnreachable) as info:
            load.run("fred_observations", ctx, ["WALCL"])
        errors.append(info.value)
        assert "LIQUIDITY_REPLAY_DIR" in str(info.value)

    # the requests really carried the key (so the checks below are meaningful)
    assert h.router.hits_for(FRED_SERIES, "WALCL")[0].args["api_key"] == FRED_KEY
    assert h.router.hits_for(f"{CG}/coins/bitcoin/market_chart")[0].headers["X-Cg-Demo-Api-Key"] == CG_KEY

    for exc in errors:
        assert_clean_exception(exc)

    urllib3_records = [r for r in caplog.records if r.name.startswith("urllib3")]
    assert any("api_key=" in r.getMessage() for r in urllib3_records), "urllib3 DEBUG lines were captured"
    for record in caplog.records:
        message = record.getMessage()
        assert not any(s in message for s in SENTINELS), f"{record.name}: {message}"
        assert not any(s in repr(record.args) for s in SENTINELS)
    assert not any(s in caplog.text for s in SENTINELS)

    assert_clean_tree(h.landing)
    landed = list(h.landing.rglob("*.meta.json"))
    assert landed and any("api_key=" in p.read_text() for p in landed)
    assert_clean_tree(tmp_path)
    assert_clean_warehouse(h.db)
    with warehouse.connect(h.db, read_only=True) as con:
        urls = [r[0] for r in con.execute("SELECT DISTINCT source_url FROM raw.fred_observations").fetchall()]
        log_rows = con.execute("SELECT url, message FROM raw.load_log WHERE source = 'fred'").fetchall()
    assert urls and all("api_key=" in u for u in urls)
    assert log_rows and all(FRED_KEY not in (u or "") + (m or "") for u, m in log_rows)
    scenario(
        "no key in logs (urllib3 DEBUG too), exception chains, landing files or the warehouse",
        f"none found in {len(caplog.records)} log records, {len(errors)} exceptions "
        "(4xx/5xx/timeout/refused), landing and raw tables",
        name="loader: sentinel FRED and CoinGecko keys",
    )


def test_fredgraph_path_sends_no_key(harness: Harness, monkeypatch):
    """Without FRED_API_KEY the keyless fredgraph.csv is used and no api_key parameter is sent."""
    harness.serve_good(1)
    transport = load.build_transport(rate_limiter=HostRateLimiter({}))
    with warehouse.connect(harness.db) as con:
        load.run("fred_observations", load.context(con, transport), ["WALCL"])
    hits = harness.router.hits_for(FREDGRAPH, "WALCL")
    assert hits and "api_key" not in hits[0].args
