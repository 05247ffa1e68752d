"""Full runs through `make run`'s entry point (`orchestration.cli.main(["run"])`, the same Dagster
job) in live mode, against a local server that serves the 2026-01-31 replay snapshot with each
source's query semantics and injects faults (`replay_server.py`).

Module-scoped runs, reused by several tests (a full run costs ~35 s):
- `replay_run`: replay mode into an empty data dir;
- `live_run`: live mode from the server into an empty data dir, with sentinel API keys (FRED through
  its API, CoinGecko pro), every log record, stdout/stderr and the Dagster instance captured;
- `faulty_rerun`: a copy of live_run's data dir, the same snapshot again, with transient faults on
  every source.
Scenario runs on further copies of live_run's data dir fail during ingest or its checks, so they take
seconds. Every request loop is bounded: the transport's attempts, Dagster's step retries (delays set
to zero, count kept), the server's hang limit and its per-route request cap.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from reliability_support import (
    KEYED,
    SENTINELS,
    TIMEOUT,
    CliRun,
    capture_everything,
    copy_data_dir,
    restored_logging,
    rows,
    run_cli,
    sha256_file,
    table_hashes,
)

from bench.replay_server import (
    ReplayServer,
    Step,
    drop,
    hang,
    html_page,
    rename_csv_header,
    rescale_csv,
    status,
    transformed,
    truncated,
)
from ingest import catalog, warehouse
from ingest.transport import DEFAULT_MIN_INTERVAL, LiveTransport
from orchestration import cli

CUT = "2026-01-31"
# Provenance differs by design between a replay and a live run of the same data: the URL, the body
# (FRED API JSON vs fredgraph CSV) and the fetch time. Values, dates and release dates must not.
REDACTED_KEY = re.compile(r"api_key=(\*\*\*|%2A%2A%2A)")
PROVENANCE = ("fetched_at", "updated_at", "source_url", "payload_sha256")
RAW_OBSERVATIONS = (
    "raw.fred_observations",
    "raw.fed_ddp_observations",
    "raw.coingecko_market_chart",
    "raw.coingecko_global",
    "raw.treasury_dts_cash_balance",
)


# --- runs ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(replay_root: Path) -> Path:
    return replay_root / CUT


@pytest.fixture(scope="module")
def server(snapshot: Path):
    with ReplayServer(snapshot) as srv:
        yield srv


@pytest.fixture
def srv(server: ReplayServer):
    server.reset()
    yield server
    errors = server.handler_errors()
    assert not errors, f"local server handler errors: {errors}"


def captured_run(server: ReplayServer, base: Path, data_dir: Path, env: dict, faults=()) -> CliRun:
    server.reset()
    for kind, ident, steps, _ in faults:
        server.fault(kind, ident, *steps)
    with pytest.MonkeyPatch.context() as mp, capture_everything() as captured:
        run = run_cli(
            mp, data_dir, base / "dagster_home", base_url=server.base_url, env=env, urllib3_debug=True
        )
    run.records, run.output, run.hits = captured["records"], captured["output"], list(server.hits)
    errors = server.handler_errors()
    assert not errors, f"local server handler errors: {errors}"
    assert run.code == 0, run.output[-4000:]
    return run


@pytest.fixture(scope="module")
def replay_run(snapshot: Path, tmp_path_factory) -> CliRun:
    base = tmp_path_factory.mktemp("replay_run")
    with pytest.MonkeyPatch.context() as mp, restored_logging():
        run = run_cli(mp, base / "data", base / "dagster_home", replay=snapshot)
    assert run.code == 0
    return run


@pytest.fixture(scope="module")
def live_run(server: ReplayServer, tmp_path_factory) -> CliRun:
    base = tmp_path_factory.mktemp("live_run")
    return captured_run(server, base, base / "data", KEYED)


# (route kind, id, fault steps, what it exercises); after its steps a route answers normally.
TRANSIENT = [
    ("fred_obs", "WALCL", (status(429), status(429)), "429 without Retry-After, twice"),
    ("fred_series", "WTREGEN", (status(429, retry_after="1"),), "429 with Retry-After: 1"),
    ("ddp", "H41", (status(500), status(502), status(503)), "500, 502, 503 burst"),
    ("ddp", "H8", (hang(TIMEOUT + 1.5),), f"no answer within the {TIMEOUT:g}s timeout"),
    ("market_chart", "bitcoin", (status(503), drop()), "503, then a connection dropped unanswered"),
    ("market_cap_chart", None, (truncated(1000),), "body cut short of its Content-Length"),
    ("dts", None, (status(503), drop()), "503, then a connection dropped unanswered"),
]


@pytest.fixture(scope="module")
def faulty_rerun(server: ReplayServer, live_run: CliRun, tmp_path_factory) -> CliRun:
    base = tmp_path_factory.mktemp("faulty_rerun")
    data_dir = copy_data_dir(live_run.data_dir, base / "data")
    return captured_run(server, base, data_dir, KEYED, TRANSIENT)


def scenario_run(srv: ReplayServer, live_run: CliRun, tmp_path: Path, env: dict, faults=()) -> CliRun:
    """One run on a copy of live_run's data dir with these faults (persistent: a fault that stays)."""
    data_dir = copy_data_dir(live_run.data_dir, tmp_path / "data")
    for kind, ident, step in faults:
        srv.fault(kind, ident, step, persistent=True)
    with pytest.MonkeyPatch.context() as mp:
        return run_cli(mp, data_dir, tmp_path / "dagster_home", base_url=srv.base_url, env=env)


def serving_tables(run: CliRun) -> dict[str, str]:
    return table_hashes(run.data_dir / "serving.duckdb")


def raw_state(data_dir: Path) -> dict[str, str]:
    """Every raw table, every column, except the append-only load log (one row per fetch and run)."""
    hashes = table_hashes(data_dir / "warehouse.duckdb", schema="raw")
    hashes.pop("raw.load_log")
    return hashes


def load_log(run: CliRun, where: str = "TRUE") -> list[tuple]:
    return rows(
        run.data_dir / "warehouse.duckdb",
        f"SELECT source, series, status, message FROM raw.load_log WHERE {where} ORDER BY ALL",
    )


def last_run_log(run: CliRun) -> list[tuple]:
    db = run.data_dir / "warehouse.duckdb"
    (last,) = rows(db, "SELECT run_id FROM raw.load_log ORDER BY loaded_at DESC LIMIT 1")[0]
    return load_log(run, f"run_id = '{last}'")


# --- the server's semantics ---------------------------------------------------------------------


def test_live_run_from_the_server_equals_a_replay_run(replay_run, live_run, scenario):
    replay_marts, live_marts = serving_tables(replay_run), serving_tables(live_run)
    assert len(live_marts) >= 5
    for table in live_marts:
        count = rows(live_run.data_dir / "serving.duckdb", f"SELECT count(*) FROM {table}")[0][0]
        assert count > 0, f"{table} is empty: nothing compared"
    assert live_marts == replay_marts
    without_provenance = {t: PROVENANCE for t in RAW_OBSERVATIONS}
    replay_raw = table_hashes(replay_run.data_dir / "warehouse.duckdb", "raw", without_provenance)
    live_raw = table_hashes(live_run.data_dir / "warehouse.duckdb", "raw", without_provenance)
    for table in (*RAW_OBSERVATIONS, "raw.series_catalog"):
        assert live_raw[table] == replay_raw[table], table
    # Same outcome per series, including the two the snapshot lacks (skipped in both modes).
    outcome = "SELECT source, series, status FROM raw.load_log ORDER BY ALL"
    assert rows(live_run.data_dir / "warehouse.duckdb", outcome) == rows(
        replay_run.data_dir / "warehouse.duckdb", outcome
    )
    skipped = {(s, n): m for s, n, st, m in load_log(live_run) if st == "skipped"}
    assert "The series does not exist" in skipped[("fred", "RPONTSYD")]
    assert "HTTP 404" in skipped[("coingecko", "global")]
    # Live mode really was live: FRED through its API, CoinGecko's pro root, the server's clock.
    kinds = {h.kind for h in live_run.hits}
    assert {
        "fred_series",
        "fred_obs",
        "ddp",
        "market_chart",
        "export",
        "market_cap_chart",
        "global",
        "dts",
    } <= kinds
    assert "fredgraph" not in kinds
    # The per-host rate limiter is production's; 127.0.0.1 has no interval, so tests need no override.
    assert live_run.transports and all(isinstance(t, LiveTransport) for t in live_run.transports)
    assert all(t.rate_limiter.min_interval == DEFAULT_MIN_INTERVAL for t in live_run.transports)
    assert "127.0.0.1" not in DEFAULT_MIN_INTERVAL
    scenario(
        "exit 0; every mart table's ordered sha256 equals a replay run of the same snapshot",
        f"exit {live_run.code}; {len(live_marts)} mart tables equal, raw values equal; "
        f"{len(live_run.hits)} requests; RPONTSYD and /global skipped in both modes",
        name="full run: live from local server == replay",
    )


# --- transient and persistent faults --------------------------------------------------------------


def test_transient_faults_on_every_source_are_retried_and_the_run_succeeds(faulty_rerun, scenario):
    attempts = faulty_rerun.transports[0].attempts
    for kind, ident, steps, what in TRANSIENT:
        # (the DTS's faults hit its first request, the TGA rows; its unfiltered probe row comes after)
        statuses = [
            h.status
            for h in faulty_rerun.hits
            if (h.kind, h.ident) == (kind, ident)
            and (kind != "dts" or "account_type" in h.args.get("filter", ""))
        ]
        # the server records 0 for a dropped connection, 200 for a hang answered after the client gave up
        expected = [s.status if s.status is not None else (0 if s.drop else 200) for s in steps] + [200]
        assert statuses == expected, (kind, ident, statuses)
        assert len(statuses) <= attempts
        scenario(
            "retried by the transport; the run succeeds",
            f"statuses {statuses}; run exit {faulty_rerun.code}",
            name=f"full run, transient: {kind} {ident or ''} {what}".replace("  ", " "),
        )
    retries = [r for r in faulty_rerun.records if "ingest.transport WARNING" in r and ", retry " in r]
    logged = "\n".join(retries)
    for fragment in (
        "fred WALCL: HTTP 429, retry 1/",
        "fred WALCL: HTTP 429, retry 2/",
        "fred WTREGEN: HTTP 429, retry 1/4 in 1.0s",  # Retry-After honoured, not the 10 ms backoff
        "fed_ddp H41: HTTP 500, retry 1/",
        "fed_ddp H41: HTTP 502, retry 2/",
        "fed_ddp H41: HTTP 503, retry 3/",
        f"fed_ddp H8: no response within {TIMEOUT:g}s (timeout), retry 1/",
        "coingecko bitcoin: HTTP 503, retry 1/",
        "treasury_dts operating_cash_balance page 1: HTTP 503, retry 1/",
        "coingecko bitcoin: connection reset or truncated response, retry 2/",
        "coingecko global_market_cap_chart: response body truncated",
    ):
        assert fragment in logged, (fragment, logged)
    assert faulty_rerun.code == 0


def test_a_persistent_fault_fails_the_run_naming_source_and_series(
    srv, live_run, tmp_path, caplog, capfd, scenario
):
    before_raw = raw_state(live_run.data_dir)
    before_serving = sha256_file(live_run.data_dir / "serving.duckdb")
    caplog.set_level("DEBUG")
    run = scenario_run(srv, live_run, tmp_path, KEYED, [("fred_obs", "WALCL", status(503))])
    out, err = capfd.readouterr()
    assert run.code == 1
    attempts = run.transports[0].attempts
    hits = srv.hits_for("fred_obs", "WALCL")
    # the transport's attempts, the one retry layer for HTTP failures: no step or run retry on top
    assert [h.status for h in hits] == [503] * attempts
    failed = [(s, n, m) for s, n, st, m in last_run_log(run) if st == "failed"]
    assert [(s, n) for s, n, _ in failed] == [("fred", "WALCL")]
    message = failed[0][2]
    assert message.startswith("fred WALCL: HTTP 503 from http://127.0.0.1:")
    assert f"still failing after {attempts} attempts" in message
    assert "fred WALCL: HTTP 503" in out and "FAILED" in out
    assert sha256_file(run.data_dir / "serving.duckdb") == before_serving
    assert raw_state(run.data_dir) == before_raw  # earlier data intact, nothing half-written
    # the failure's texts (log, output, Dagster's error records) carry no key either
    assert_no_secret_in_texts([caplog.text, out, err, *dagster_event_texts(run.dagster_home)])
    scenario(
        "run exits 1 naming source and series; warehouse keeps earlier data; serving.duckdb unchanged",
        f"exit {run.code}; {len(hits)} requests ({attempts} transport attempts, no step or run retry on top); "
        f"'{message[:60]}...'; raw tables and serving sha256 unchanged",
        name="full run, persistent: FRED API 503 on WALCL",
    )


# --- bad payloads: the run stops before publication -----------------------------------------------


def _units(units: str):
    def apply(body: bytes) -> bytes:
        payload = json.loads(body)
        payload["seriess"][0]["units"] = units
        return json.dumps(payload).encode()

    return apply


def _rescale_observations(factor: float):
    def apply(body: bytes) -> bytes:
        payload = json.loads(body)
        for obs in payload["observations"]:
            if obs["value"] != ".":
                obs["value"] = repr(float(obs["value"]) * factor)
        return json.dumps(payload).encode()

    return apply


BAD_PAYLOADS = {
    "fredgraph CSV header renamed": (
        {},
        [("fredgraph", "WALCL", transformed(rename_csv_header(b"observation_date", b"date")))],
        "fred WALCL: unexpected CSV header ['date', 'WALCL']",
    ),
    "fredgraph WALCL rescaled by 1000": (
        {},
        [("fredgraph", "WALCL", transformed(rescale_csv(1000)))],
        "unit_drift",
    ),
    "FRED API WALCL rescaled by 1000, units metadata changed": (
        KEYED,
        [
            ("fred_series", "WALCL", transformed(_units("Thousands of U.S. Dollars"))),
            ("fred_obs", "WALCL", transformed(_rescale_observations(1000))),
        ],
        "fred WALCL: FRED metadata says units 'Thousands of U.S. Dollars' but the catalog expects",
    ),
    "DDP H41 HTML error page with status 200": (
        {},
        [("ddp", "H41", html_page())],
        "fed_ddp H41: received an HTML page instead of data",
    ),
    "DTS HTML error page with status 200": (
        {},
        [("dts", None, html_page())],
        "treasury_dts operating_cash_balance page 1: received an HTML page instead of data",
    ),
    "DTS JSON truncated": (
        {},
        [("dts", None, transformed(lambda body: body[: len(body) // 2]))],
        "treasury_dts operating_cash_balance page 1: body is not valid JSON (truncated?)",
    ),
    "DTS meta total-pages disagrees with the rows served": (
        {},
        [("dts", None, transformed(lambda body: body.replace(b'"total-pages":1', b'"total-pages":2')))],
        'treasury_dts operating_cash_balance page 1: meta["total-pages"] is 2 but',
    ),
}


@pytest.mark.parametrize("case", list(BAD_PAYLOADS))
def test_a_bad_payload_stops_the_run_before_publication(srv, live_run, tmp_path, capfd, case, scenario):
    env, faults, reason = BAD_PAYLOADS[case]
    before_raw = raw_state(live_run.data_dir)
    before_serving = sha256_file(live_run.data_dir / "serving.duckdb")
    run = scenario_run(srv, live_run, tmp_path, env, faults)
    out = "".join(capfd.readouterr())
    assert run.code == 1
    assert reason in out, out[-3000:]
    assert sha256_file(run.data_dir / "serving.duckdb") == before_serving
    kind, ident, _ = faults[0]  # the first route of the series (metadata before observations)
    requests = len(srv.hits_for(kind, ident))
    after_raw = raw_state(run.data_dir)
    if reason == "unit_drift":
        # The payload parses, so it is loaded; the blocking check then stops dbt and publication.
        # Rows inside the re-fetched window hold the new value with the earlier one in previous_value.
        key_value = "SELECT series_id, observation_date, value FROM raw.fred_observations"
        earlier = {r[:2]: r[2] for r in rows(live_run.data_dir / "warehouse.duckdb", key_value)}
        changed = rows(
            run.data_dir / "warehouse.duckdb",
            "SELECT series_id, observation_date, value, previous_value FROM raw.fred_observations "
            "WHERE previous_value IS NOT NULL",
        )
        assert changed and {r[0] for r in changed} == {"WALCL"}
        for series_id, day, value, previous in changed:
            assert previous == earlier[(series_id, day)] and value == pytest.approx(previous * 1000)
        unchanged = rows(
            run.data_dir / "warehouse.duckdb",
            "SELECT * FROM raw.fred_observations WHERE previous_value IS NULL",
        )
        before_rows = set(rows(live_run.data_dir / "warehouse.duckdb", "SELECT * FROM raw.fred_observations"))
        assert set(unchanged) <= before_rows and len(unchanged) + len(changed) == len(before_rows)
        assert {k: v for k, v in after_raw.items() if k != "raw.fred_observations"} == {
            k: v for k, v in before_raw.items() if k != "raw.fred_observations"
        }
        warehouse_note = (
            f"{len(changed)} WALCL rows in the look-back window updated, earlier values in previous_value"
        )
    else:
        assert requests == 1  # a bad payload is not retried (it would fail the same way)
        assert after_raw == before_raw
        warehouse_note = "raw tables unchanged"
    scenario(
        "run stops before publication (exit 1); serving.duckdb unchanged; warehouse keeps earlier data",
        f"exit {run.code}; '{reason}' reported; serving sha256 unchanged; {warehouse_note}",
        name=f"full run, bad payload: {case}",
    )


def _without_rows(body: bytes) -> bytes:
    """The page as served, its rows gone (meta keeps the totals, as a server losing a page would)."""
    payload = json.loads(body)
    payload["data"], payload["meta"]["count"] = [], 0
    return json.dumps(payload).encode()


def test_a_dts_page_missing_from_the_middle_stops_the_run(
    srv, live_run, tmp_path, capfd, monkeypatch, scenario
):
    """With 2-row pages the incremental window (a week's look-back, one TGA row a business day) takes
    at least 3 pages; page 2 comes back empty: the run exits 1 naming the page, nothing of the answer
    is loaded, serving is unchanged."""
    from ingest import treasury_dts

    monkeypatch.setattr(treasury_dts, "PAGE_SIZE", 2)
    before_raw = raw_state(live_run.data_dir)
    before_serving = sha256_file(live_run.data_dir / "serving.duckdb")
    srv.fault("dts", None, Step(), transformed(_without_rows))  # page 1 as served, page 2 emptied
    run = scenario_run(srv, live_run, tmp_path, {})
    out = "".join(capfd.readouterr())
    assert run.code == 1
    reported = re.search(
        r"treasury_dts operating_cash_balance page 2: page 2 of (\d+) has 0 rows, expected 2", out
    )
    assert reported and int(reported.group(1)) >= 3, out[-3000:]
    assert [h.args["page[number]"] for h in srv.hits_for("dts")][:2] == ["1", "2"]
    assert sha256_file(run.data_dir / "serving.duckdb") == before_serving
    assert raw_state(run.data_dir) == before_raw
    scenario(
        "run stops before publication (exit 1) naming the page; nothing of the answer loaded",
        f"exit {run.code}; 'page 2 of {reported.group(1)} has 0 rows' reported; serving sha256 unchanged; raw tables unchanged",
        name="full run, bad payload: DTS page missing from the middle",
    )


def test_a_resource_the_snapshot_lacks(srv, replay_run, live_run, tmp_path, capfd, scenario):
    """The snapshot has no /global (nor RPONTSYD): the server answers 404 like CoinGecko would.
    Replay mode skips the absent file; live mode skips an optional resource the source says does not
    exist; /global is optional on pro (the chart carries the history) but required on demo."""
    replay_log = {(s, n): (st, m) for s, n, st, m in load_log(replay_run)}
    live_log = {(s, n): (st, m) for s, n, st, m in load_log(live_run)}
    assert replay_log[("coingecko", "global")][0] == live_log[("coingecko", "global")][0] == "skipped"
    before_serving = sha256_file(live_run.data_dir / "serving.duckdb")
    run = scenario_run(srv, live_run, tmp_path, {})  # keyless: FRED fredgraph, CoinGecko demo
    out = "".join(capfd.readouterr())
    assert run.code == 1
    assert [h.status for h in srv.hits_for("global")][0] == 404
    assert "coingecko global: HTTP 404 from http://127.0.0.1:" in out
    assert sha256_file(run.data_dir / "serving.duckdb") == before_serving
    assert dict(((s, n), st) for s, n, st, _ in last_run_log(run))[("fred", "RPONTSYD")] == "skipped"
    scenario(
        "replay: skipped (file absent); live pro: skipped (404, optional); live demo: run fails naming it",
        f"replay {replay_log[('coingecko', 'global')][0]}; live pro {live_log[('coingecko', 'global')][0]}; "
        f"live demo exit {run.code}, serving unchanged",
        name="full run: /global absent from the snapshot (HTTP 404)",
    )


# --- idempotency ------------------------------------------------------------------------------


def test_two_runs_on_the_same_snapshot_leave_identical_marts_and_raw_tables(live_run, faulty_rerun, scenario):
    """The second run also survived the transient faults above: retries change nothing either."""
    first, second = serving_tables(live_run), serving_tables(faulty_rerun)
    assert first == second
    marts = table_hashes(live_run.data_dir / "warehouse.duckdb", "marts")
    assert marts and marts == table_hashes(faulty_rerun.data_dir / "warehouse.duckdb", "marts")
    # Raw tables: byte-identical in every column, provenance included (an unchanged row keeps the
    # fetched_at/source_url/payload_sha256 of its first load). Only raw.load_log differs: it is the
    # append-only record of each fetch, so the rerun adds its own rows and leaves the first run's alone.
    assert raw_state(faulty_rerun.data_dir) == raw_state(live_run.data_dir)
    old = load_log(live_run)
    new = load_log(faulty_rerun)
    assert set(old) <= set(new) and len(new) == 2 * len(old)
    inserted = rows(
        faulty_rerun.data_dir / "warehouse.duckdb",
        "SELECT sum(inserted), sum(updated) FROM raw.load_log WHERE run_id = "
        "(SELECT run_id FROM raw.load_log ORDER BY loaded_at DESC LIMIT 1)",
    )[0]
    assert inserted == (0, 0)
    scenario(
        "byte-identical mart contents (ordered sha256 per table); raw tables identical",
        f"{len(first)} serving + {len(marts)} warehouse mart tables equal; raw tables equal in every column "
        f"(load_log: +{len(new) - len(old)} rows, 0 inserted/updated)",
        name="full run: idempotency (second run on the same snapshot)",
    )


# --- secrets ----------------------------------------------------------------------------------


def assert_no_secret_in_texts(texts) -> None:
    for text in texts:
        for secret in SENTINELS:
            assert secret not in text, f"key found in: {text[max(0, text.find(secret) - 200) :][:400]}"


def secret_in_tree(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        if any(s in str(path) for s in SENTINELS):
            found.append(f"file name {path}")
        if path.is_file():
            data = path.read_bytes()
            found += [f"bytes of {path}" for s in SENTINELS if s.encode() in data]
    return found


def secret_in_duckdb(db: Path) -> list[str]:
    """Every VARCHAR column of every table (DuckDB compresses strings: bytes alone prove nothing)."""
    found = []
    con = duckdb.connect(str(db), read_only=True)
    try:
        columns = con.execute(
            "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND c.data_type = 'VARCHAR'"
        ).fetchall()
        for schema, table, column in columns:
            for secret in SENTINELS:
                (count,) = con.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE contains("{column}", ?)', [secret]
                ).fetchone()
                if count:
                    found.append(f"{db.name} {schema}.{table}.{column}")
    finally:
        con.close()
    assert columns, f"{db} has no text columns: nothing scanned"
    return found


def dagster_event_texts(home: Path) -> list[str]:
    """Every event of every run in that Dagster instance, serialized (messages, metadata, errors with
    their stack and causes)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            return [
                dg.serialize_value(entry)
                for run in instance.get_runs()
                for entry in instance.all_logs(run.run_id)
            ]


def test_sentinel_keys_leave_no_trace_in_a_full_live_run(live_run, faulty_rerun, scenario):
    checked = []
    for run in (live_run, faulty_rerun):
        # the keys really went out (so the checks below are not vacuous)
        fred_hits = [h for h in run.hits if h.kind in ("fred_series", "fred_obs")]
        cg_hits = [h for h in run.hits if h.kind in ("market_chart", "market_cap_chart", "global", "export")]
        assert fred_hits and all(h.args.get("api_key") == KEYED["FRED_API_KEY"] for h in fred_hits)
        api_hits = [h for h in cg_hits if h.kind != "export"]
        assert api_hits and all(
            h.headers.get("X-Cg-Pro-Api-Key") == KEYED["COINGECKO_API_KEY"] for h in api_hits
        )
        # captured logs (every record, urllib3 DEBUG included) and stdout/stderr (fd level: dbt too)
        urllib3 = [r for r in run.records if r.startswith("urllib3")]
        assert any("api_key=***" in r for r in urllib3), "urllib3 DEBUG request lines were captured"
        assert_no_secret_in_texts(run.records)
        assert "serving__serving_duckdb - publish gate: passed" in run.output, (
            "Dagster's console log was captured"
        )
        assert_no_secret_in_texts([run.output])
        # Dagster: every event (messages, metadata, error records) and every file of the instance
        events = dagster_event_texts(run.dagster_home)
        assert any(REDACTED_KEY.search(e) for e in events), "events with source URLs were scanned"
        assert_no_secret_in_texts(events)
        assert not secret_in_tree(run.dagster_home)
        assert any(p.suffix == ".db" for p in run.dagster_home.rglob("*")), "sqlite storage was scanned"
        # landing files (names and bytes), warehouse.duckdb and serving.duckdb (bytes and every text column)
        metas = list((run.data_dir / "landing").rglob("*.meta.json"))
        assert any("api_key=%2A%2A%2A" in p.read_text() for p in metas)
        assert not secret_in_tree(run.data_dir)
        assert not secret_in_duckdb(run.data_dir / "warehouse.duckdb")
        assert not secret_in_duckdb(run.data_dir / "serving.duckdb")
        checked.append(
            f"{len(run.records)} log records, {len(events)} Dagster events, "
            f"{sum(1 for p in run.data_dir.rglob('*') if p.is_file())} data files"
        )
    scenario(
        "no trace of either key in logs, output, Dagster events/storage, landing, warehouse or serving",
        "none found; the server received both keys; scanned " + " and ".join(checked),
        name="full run: sentinel FRED_API_KEY and COINGECKO_API_KEY",
    )


# --- hostile identifiers ----------------------------------------------------------------------

HOSTILE_SERIES = [
    "../../etc/passwd",
    "WALCL/../../x",
    "..",
    "WAL CL",
    'WALCL"',
    "x'; DROP TABLE raw.load_log; --",
    "WALCL\x00",
    "C:\\Windows\\x",
]
HOSTILE_COINS = ["../../etc", "bitcoin/../x", "..", "bit coin", "bitcoin'", "x'; DROP TABLE raw.load_log; --"]


def _refused(srv: ReplayServer, data_dir: Path, err: str, code: int, before: str | None) -> None:
    assert code == 2, err
    assert "rejected" in err, err
    assert srv.hits == []  # no request
    assert not (data_dir / "landing").exists()  # no file written
    db = data_dir / "warehouse.duckdb"
    if before is None:
        assert not db.exists()  # no SQL statement: the warehouse was never created
    else:
        assert sha256_file(db) == before


def test_hostile_coin_ids_in_liquidity_coins_are_refused_before_anything(srv, tmp_path, capfd, scenario):
    for i, coin in enumerate(HOSTILE_COINS):
        data_dir = tmp_path / f"data{i}"
        with pytest.MonkeyPatch.context() as mp:
            run = run_cli(
                mp,
                data_dir,
                tmp_path / "home",
                base_url=srv.base_url,
                env={"LIQUIDITY_COINS": f"bitcoin,{coin}"},
            )
        err = capfd.readouterr().err
        assert f"ERROR configuration: LIQUIDITY_COINS: rejected coin id {coin!r}" in err, err
        _refused(srv, data_dir, err, run.code, None)
        assert not data_dir.exists()
    scenario(
        "refused before any request, file write or SQL statement",
        f"{len(HOSTILE_COINS)} ids: exit 2, 0 requests, no data dir created",
        name="hostile ids: LIQUIDITY_COINS (paths, '..', spaces, quotes, SQL)",
    )


def catalog_with_line(path: Path, series_id: str) -> Path:
    """A copy of ingest/series_catalog.csv plus one line (a copy of its first row) with this id."""
    text = catalog.CATALOG_PATH.read_text(encoding="utf-8")
    row = {**next(csv.DictReader(text.splitlines())), "series_id": series_id, "concept": "hostile_concept"}
    line = io.StringIO()
    csv.DictWriter(line, fieldnames=list(row), lineterminator="\n").writerow(row)
    path.write_text(text.rstrip("\n") + "\n" + line.getvalue(), encoding="utf-8")
    return path


def test_hostile_series_ids_in_a_catalog_line_are_refused_before_anything(
    srv, tmp_path, capfd, monkeypatch, scenario
):
    original = catalog.load_catalog
    lines = len(catalog.CATALOG_PATH.read_text(encoding="utf-8").splitlines())
    for i, series_id in enumerate(HOSTILE_SERIES):
        path = catalog_with_line(tmp_path / f"catalog{i}.csv", series_id)
        hostile = functools.cache(functools.partial(original.__wrapped__, path))
        monkeypatch.setattr(catalog, "load_catalog", hostile)
        monkeypatch.setattr(warehouse, "load_catalog", hostile)
        data_dir = tmp_path / f"data{i}"
        with pytest.MonkeyPatch.context() as mp:
            run = run_cli(mp, data_dir, tmp_path / "home", base_url=srv.base_url)
        err = capfd.readouterr().err
        assert f"ERROR configuration: series_catalog.csv line {lines + 1}: rejected series id" in err, err
        _refused(srv, data_dir, err, run.code, None)
        assert not data_dir.exists()
    scenario(
        "refused before any request, file write or SQL statement",
        f"{len(HOSTILE_SERIES)} ids: exit 2 naming the catalog line, 0 requests, no data dir created",
        name="hostile ids: a series_catalog.csv line (paths, '..', quotes, NUL, SQL)",
    )


def test_hostile_ids_through_the_backfill_cli_are_refused_before_anything(srv, tmp_path, capfd, scenario):
    cases = [("fred", s) for s in HOSTILE_SERIES] + [("fed_ddp", s) for s in HOSTILE_SERIES[:3]]
    cases += [("coingecko", c) for c in HOSTILE_COINS]
    data_dir = tmp_path / "data"
    db = data_dir / "warehouse.duckdb"
    with warehouse.connect(db):  # an existing warehouse (the raw DDL), to show it stays byte-identical
        pass
    warehouse.lock_path(db).unlink()
    before = sha256_file(db)
    for source, ident in cases:
        argv = (
            "backfill",
            "--source",
            source,
            "--series",
            ident,
            "--start",
            "2025-01-01",
            "--end",
            "2025-12-31",
        )
        with pytest.MonkeyPatch.context() as mp:
            run = run_cli(mp, data_dir, tmp_path / "home", base_url=srv.base_url, argv=argv)
        err = capfd.readouterr().err
        assert err.startswith("ERROR "), err
        _refused(srv, data_dir, err, run.code, before)
        assert sorted(p.name for p in data_dir.iterdir()) == ["warehouse.duckdb"]  # no lock, no landing
    scenario(
        "refused before any request, file write or SQL statement",
        f"{len(cases)} (source, id) pairs: exit 2, 0 requests, warehouse sha256 unchanged, nothing written",
        name="hostile ids: backfill CLI --series",
    )


# --- the network preflight follows the configured URLs ------------------------------------------


def test_preflight_hosts_come_from_the_configured_source_urls(clean_env):
    from ingest import settings

    assert cli.source_endpoints(settings.api_keys()) == [
        ("fred.stlouisfed.org", 443),
        ("www.federalreserve.gov", 443),
        ("api.fiscaldata.treasury.gov", 443),
        ("api.coingecko.com", 443),
        ("www.coingecko.com", 443),
    ]
    keyed = settings.ApiKeys(fred="k", coingecko="k", coingecko_plan="pro")
    assert [h for h, _ in cli.source_endpoints(keyed)] == [
        "api.stlouisfed.org",
        "www.federalreserve.gov",
        "api.fiscaldata.treasury.gov",
        "pro-api.coingecko.com",
        "www.coingecko.com",
    ]


def test_preflight_names_the_local_endpoint_when_nothing_answers(closed_port_url, tmp_path, capfd, scenario):
    data_dir = tmp_path / "data"
    with pytest.MonkeyPatch.context() as mp:
        run = run_cli(mp, data_dir, tmp_path / "home", base_url=closed_port_url)
    err = capfd.readouterr().err
    port = closed_port_url.rsplit(":", 1)[1]
    assert run.code == 2
    assert re.search(rf"ERROR network unreachable: cannot connect to 127\.0\.0\.1:{port}\. ", err), err
    assert "LIQUIDITY_REPLAY_DIR" in err
    assert not data_dir.exists()
    scenario(
        "exit 2 at once with one line naming the endpoint and LIQUIDITY_REPLAY_DIR; nothing written",
        f"exit {run.code}; '{err.strip()[:70]}...'",
        name="full run: no source endpoint reachable (preflight)",
    )
