"""Bad input end to end: each case loads a good payload first, then the bad one, and shows that

- the error names the source, the series and the reason (SeriesLoad.message and raw.load_log);
- the warehouse keeps what it had for that series (rows compared before/after, every column);
- the other series and sources of the same run still load.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from reliability_support import CG, DDP, FRED_OBS, FREDGRAPH, Harness, Reply, fast_transport

from ingest import catalog, coingecko, fred, load, warehouse
from ingest.errors import PayloadError
from ingest.transport import ReplayTransport, Request

TARGET_ROWS = {
    (
        "fred",
        "WALCL",
    ): "SELECT * FROM raw.fred_observations WHERE series_id = 'WALCL' ORDER BY observation_date",
    ("fed_ddp", "H41"): "SELECT * FROM raw.fed_ddp_observations WHERE release = 'H41' ORDER BY series_id, "
    "observation_date",
    ("coingecko", "bitcoin"): "SELECT * FROM raw.coingecko_market_chart WHERE coin_id = 'bitcoin' "
    "ORDER BY observation_date, origin",
}
# What the second (good) payload of each series adds: see Harness.serve_good.
NEW_ROWS = {
    ("fred", "WALCL"): 2,
    ("fred", "WTREGEN"): 2,
    ("fed_ddp", "H41"): 3,  # 2023-03-22 for the three columns of the package
    ("fed_ddp", "H8"): 1,
    ("coingecko", "bitcoin"): 1,
    ("coingecko", "global"): 1,
}


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    target: tuple[str, str]
    bad: Callable[[Harness], None]  # replaces the target's route after the good v2 payloads are served
    reasons: tuple[str, ...] = ()  # fragments of the error message; empty = the load must succeed
    api_key: bool = False
    transport: dict = dataclasses.field(default_factory=dict)
    hits: int | None = None  # requests the target's route must have received in the bad run
    prefix: str | None = None  # default "<source> <series>: "; DDP column errors name the column's series
    accepted: str = "retried, then loads like a good payload"  # the scenario row when no reasons


def walcl_body(h: Harness, rows=None, series_id: str = "WALCL") -> bytes:
    return h.wire.fredgraph(series_id, rows if rows is not None else h.wire.WALCL_ROWS)


def set_walcl(*replies: Reply) -> Callable[[Harness], None]:
    return lambda h: h.router.set(FREDGRAPH, "WALCL", *replies)


def _ms(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC).timestamp() * 1000)


def set_btc_chart(build: Callable[[Harness], bytes]) -> Callable[[Harness], None]:
    return lambda h: h.router.set(f"{CG}/coins/bitcoin/market_chart", None, Reply(200, build(h)))


def btc_points(h: Harness) -> list:
    """The good second payload's points (the last one still in progress)."""
    return [*h.wire.BTC_POINTS, h.wire.BTC_INTRADAY]


def deep_json(levels: int) -> bytes:
    return b'{"prices":' + b"[" * levels + b"]" * levels + b"}"


CASES = [
    Case(
        "429-then-success",
        ("fred", "WALCL"),
        lambda h: h.router.set(
            FREDGRAPH,
            "WALCL",
            Reply(429, b"Too Many Requests"),
            Reply(429, b"", {"Retry-After": "0"}),
            Reply(200, walcl_body(h)),
        ),
        # three attempts of the first request, then the look-back window: the fixture's WALCL begins
        # after the catalog's first observation, so the first request asks for the stretch before it
        hits=4,
    ),
    Case(
        "500-three-times",
        ("fred", "WALCL"),
        set_walcl(Reply(500, b"Internal Server Error")),
        ("HTTP 500 from http://127.0.0.1:", "still failing after 3 attempts"),
        hits=3,
    ),
    Case(
        "timeout",
        ("fred", "WALCL"),
        set_walcl(Reply(hang=True)),
        ("no response within 0.3s (timeout)", "still failing after 2 attempts"),
        transport={"timeout": 0.3, "attempts": 2},
        hits=2,
    ),
    Case(
        "truncated-csv",
        ("fred", "WALCL"),
        lambda h: h.router.set(FREDGRAPH, "WALCL", Reply(200, walcl_body(h)[:-5])),
        ("CSV body does not end with a newline: truncated download",),
    ),
    Case(
        "html-200-fredgraph",
        ("fred", "WALCL"),
        lambda h: h.router.set(FREDGRAPH, "WALCL", Reply(200, h.wire.HTML_ERROR_PAGE)),
        ("received an HTML page instead of data",),
    ),
    Case(
        "html-200-ddp",
        ("fed_ddp", "H41"),
        lambda h: h.router.set(DDP, "H41", Reply(200, h.wire.HTML_ERROR_PAGE)),
        ("received an HTML page instead of data",),
    ),
    Case(
        "header-names-another-series",
        ("fred", "WALCL"),
        lambda h: h.router.set(FREDGRAPH, "WALCL", Reply(200, walcl_body(h, series_id="WRESBAL"))),
        ("CSV header names series 'WRESBAL', not 'WALCL'",),
    ),
    Case(
        "fred-api-error-code-400",
        ("fred", "WALCL"),
        lambda h: h.router.set(
            FRED_OBS,
            "WALCL",
            Reply(
                400,
                json.dumps(
                    {
                        "error_code": 400,
                        "error_message": "Bad Request.  Variable observation_start is not a valid date.",
                    }
                ).encode(),
            ),
        ),
        ("HTTP 400 from", "FRED error 400: Bad Request.  Variable observation_start is not a valid date."),
        api_key=True,
        hits=1,
    ),
    Case(
        "fred-api-error-code-in-200",
        ("fred", "WALCL"),
        lambda h: h.router.set(
            FRED_OBS,
            "WALCL",
            Reply(200, json.dumps({"error_code": 500, "error_message": "Internal Server Error."}).encode()),
        ),
        ("FRED error 500: Internal Server Error.",),
        api_key=True,
    ),
    Case(
        "coingecko-10012",
        ("coingecko", "bitcoin"),
        lambda h: h.router.set(f"{CG}/coins/bitcoin/market_chart", None, Reply(401, h.wire.CG_ERROR_10012)),
        ("HTTP 401 from", "CoinGecko error 10012", "at most the last 365 days"),
        hits=1,
    ),
    Case(
        "coingecko-10012-in-200",
        ("coingecko", "bitcoin"),
        lambda h: h.router.set(f"{CG}/coins/bitcoin/market_chart", None, Reply(200, h.wire.CG_ERROR_10012)),
        ("CoinGecko error 10012",),
    ),
    Case(  # the run continues a loaded release, so it asked `label=omit`: a changed layout comes back
        "ddp-changed-header",
        ("fed_ddp", "H41"),
        lambda h: h.router.set(
            DDP,
            "H41",
            Reply(200, h.wire.ddp([r for r in h.wire.H41_HEADER if r[0] != "Multiplier:"], h.wire.H41_ROWS)),
        ),
        ("DDP header lacks the 'Unique Identifier:', 'Time Period:' row(s)",),
    ),
    Case(
        "duplicate-dates",
        ("fred", "WALCL"),
        lambda h: h.router.set(
            FREDGRAPH, "WALCL", Reply(200, walcl_body(h, [*h.wire.WALCL_ROWS, h.wire.WALCL_ROWS[3]]))
        ),
        ("duplicate date 2026-01-21 in one payload",),
    ),
    Case(
        "duplicate-dates-ddp",
        ("fed_ddp", "H41"),
        lambda h: h.router.set(
            DDP, "H41", Reply(200, h.wire.ddp(h.wire.H41_HEADER, [*h.wire.H41_ROWS, h.wire.H41_ROWS[-1]]))
        ),
        ("duplicate date 2023-03-22 in one payload",),
        prefix="fed_ddp RESPPALDK_N.WW: ",
    ),
    Case(
        "thousands-separator",
        ("fred", "WALCL"),
        lambda h: h.router.set(
            FREDGRAPH,
            "WALCL",
            Reply(200, walcl_body(h, [*h.wire.WALCL_ROWS[:4], ("2026-01-28", "6,587,568")])),
        ),
        ("line 6 has 4 fields",),
    ),
    Case(
        "non-numeric-token",
        ("fred", "WALCL"),
        lambda h: h.router.set(
            FREDGRAPH, "WALCL", Reply(200, walcl_body(h, [*h.wire.WALCL_ROWS[:4], ("2026-01-28", "#N/A")]))
        ),
        ("non-numeric value '#N/A' at line 6 (2026-01-28)",),
    ),
    Case(
        "non-numeric-ddp",
        ("fed_ddp", "H41"),
        lambda h: h.router.set(
            DDP,
            "H41",
            Reply(
                200,
                h.wire.ddp(
                    h.wire.H41_HEADER, [*h.wire.H41_ROWS[:3], ["2023-03-22", "5366x", "2649984", "259587"]]
                ),
            ),
        ),
        ("non-numeric value '5366x' at line 6 (2023-03-22)",),
        prefix="fed_ddp RESPPALDK_N.WW: ",
    ),
    # Observations dated after what the release calendar allows on the fetch day (issue #10).
    Case(
        "future-date-fredgraph",
        ("fred", "WALCL"),
        lambda h: h.router.set(
            FREDGRAPH, "WALCL", Reply(200, walcl_body(h, [*h.wire.WALCL_ROWS, ("2030-01-01", "6600000")]))
        ),
        ("observation dated 2030-01-01 = 6600000.0 is in the future", "nothing of this payload was written"),
        # the stretch before the fixture's first row (its rows up to 2025-12-09: none dated 2030), then
        # the look-back window, which holds the 2030 row: the series fails and neither part is written
        hits=2,
    ),
    Case(
        "future-date-ddp",
        ("fed_ddp", "H41"),
        lambda h: h.router.set(
            DDP,
            "H41",
            Reply(
                200, h.wire.ddp(h.wire.H41_HEADER, [*h.wire.H41_ROWS, ["2031-06-04", "0", "2649984", "1"]])
            ),
        ),
        ("observation dated 2031-06-04", "is in the future", "h41 release calendar allows"),
        prefix="fed_ddp RESPPALDK_N.WW: ",
    ),
    Case(
        "future-point-coingecko",
        ("coingecko", "bitcoin"),
        set_btc_chart(
            lambda h: h.wire.market_chart([*h.wire.BTC_POINTS, (_ms("2030-01-01"), 1.0, 2.0, 3.0)])
        ),
        ("observation dated 2030-01-01 = 1.0 is in the future",),
    ),
    # CoinGecko point rules (ingest/coingecko.py docstring).
    Case(
        "coingecko-duplicate-timestamp-other-value",
        ("coingecko", "bitcoin"),
        set_btc_chart(
            lambda h: h.wire.market_chart(
                [*btc_points(h)[:4], (btc_points(h)[3][0], btc_points(h)[3][1] * 1.1, *btc_points(h)[3][2:])]
            )
        ),
        ("prices: two different values for 2026-01-30 00:00:00 UTC", "duplicate timestamp"),
        hits=1,
    ),
    Case(
        "coingecko-duplicate-timestamp-same-value",
        ("coingecko", "bitcoin"),
        set_btc_chart(lambda h: h.wire.market_chart([*btc_points(h), btc_points(h)[2]])),
        accepted="the same point twice is one point: loads like a good payload",
    ),
    Case(
        "coingecko-empty-market-caps",
        ("coingecko", "bitcoin"),
        set_btc_chart(
            lambda h: json.dumps(
                {**json.loads(h.wire.market_chart(btc_points(h))), "market_caps": []}
            ).encode()
        ),
        ("arrays do not line up: prices has 6 points, market_caps 0",),
    ),
    # Bounded parsing: nothing past the size and depth limits is parsed, and nothing is retried.
    Case(
        "json-nested-500k-levels",
        ("coingecko", "bitcoin"),
        set_btc_chart(lambda h: deep_json(500_000)),
        ("JSON nested deeper than 32 levels: refused",),
        hits=1,
    ),
    Case(
        "json-nested-40-levels",
        ("coingecko", "bitcoin"),
        set_btc_chart(lambda h: deep_json(40)),
        ("JSON nested deeper than 32 levels: refused",),
        hits=1,
    ),
    Case(
        "body-over-32-mib",
        ("coingecko", "bitcoin"),
        set_btc_chart(lambda h: deep_json(25_000_000)),
        ("body of 50,000,011 bytes is larger than the 32 MiB limit: refused",),
        hits=1,
    ),
    Case(
        "body-over-32-mib-csv",
        ("fred", "WALCL"),
        lambda h: h.router.set(FREDGRAPH, "WALCL", Reply(200, walcl_body(h) + b"2030-01-01,1\n" * 3_000_000)),
        ("is larger than the 32 MiB limit: refused",),
        hits=1,
    ),
    Case(
        "ragged-ddp-row",
        ("fed_ddp", "H41"),
        lambda h: h.router.set(
            DDP,
            "H41",
            Reply(
                200,
                h.wire.ddp(
                    h.wire.H41_HEADER, [*h.wire.H41_ROWS[:3], ["2023-03-22", "53,669", "2649984", "259587"]]
                ),
            ),
        ),
        ("line 6 has 5 fields, expected 4",),
    ),
]


def snapshot_all(h: Harness) -> dict[tuple[str, str], list[tuple]]:
    return {key: h.table(sql) for key, sql in TARGET_ROWS.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_reported_and_the_warehouse_keeps_what_it_had(harness: Harness, case: Case, scenario):
    h = harness
    fred_key = "test-fred-key" if case.api_key else None
    h.serve_good(1, api_key=case.api_key)
    first = h.run(fast_transport(h.landing), fred_key, run_id="run1")
    assert all(s.status == "ok" for k, s in first.items() if k != ("coingecko", "global_market_cap_chart")), (
        first
    )
    before = snapshot_all(h)
    assert before[case.target], "the good payload loaded rows for the target"

    h.serve_good(2, api_key=case.api_key)
    case.bad(h)
    h.router.hits.clear()
    second = h.run(fast_transport(h.landing, **case.transport), fred_key, run_id="run2")
    after = snapshot_all(h)
    outcome = second[case.target]

    if case.hits is not None:
        path = {
            "fred": FRED_OBS if case.api_key else FREDGRAPH,
            "fed_ddp": DDP,
            "coingecko": f"{CG}/coins/bitcoin/market_chart",
        }[case.target[0]]
        key = None if case.target[0] == "coingecko" else case.target[1]
        assert len(h.router.hits_for(path, key)) == case.hits

    if not case.reasons:  # transient failure: retried, then loaded like any good payload
        assert outcome.status == "ok" and outcome.inserted == NEW_ROWS[case.target]
    else:
        source, series = case.target
        assert outcome.status == "failed"
        assert outcome.message.startswith(case.prefix or f"{source} {series}: "), outcome.message
        for reason in case.reasons:
            assert reason in outcome.message, outcome.message
        logged = h.table(
            f"SELECT status, message FROM raw.load_log WHERE run_id = 'run2' AND source = '{source}' "
            f"AND series = '{series}'"
        )
        assert logged == [("failed", outcome.message)]
        assert after[case.target] == before[case.target]  # every column of every row, unchanged

    for key, result in second.items():
        if key == case.target or key == ("coingecko", "global_market_cap_chart"):
            continue
        assert result.status == "ok", (key, result.message)
        assert result.inserted == NEW_ROWS[key], (key, result)
    other_tables = {k: v for k, v in after.items() if k != case.target}
    assert all(len(v) > len(before[k]) for k, v in other_tables.items())
    if case.reasons:
        expected = "series fails naming source, series and reason; its rows unchanged; other series load"
        observed = f"failed: '{outcome.message[:90]}'; rows unchanged; others loaded"
    else:
        expected = case.accepted
        hits = len(h.router.hits) - sum(1 for hit in h.router.hits if case.target[1] not in str(hit))
        observed = f"ok, +{outcome.inserted} rows after {hits} requests"
    scenario(expected, observed, name=f"loader, bad input: {case.id}")


def test_path_escaping_ids_are_rejected_before_any_request_or_write(
    harness: Harness, monkeypatch, tmp_path: Path, scenario
):
    h = harness
    h.serve_good(1)
    h.run(fast_transport(h.landing), run_id="run1")
    before_rows = snapshot_all(h)
    files_before = {p for p in tmp_path.rglob("*") if not p.name.startswith("warehouse.duckdb")}
    h.router.hits.clear()

    bad_fred = dataclasses.replace(catalog.get("fred", "WALCL"), series_id="../../etc")
    monkeypatch.setattr(catalog, "series_for", lambda source, dataset=None: [bad_fred])
    transport = fast_transport(h.landing)
    with warehouse.connect(h.db) as con:
        ctx = h.context(con, transport, run_id="run2")
        fred_result = load.run("fred_observations", ctx)
        coin_result = load.run("coingecko_market_chart", ctx, ["../../etc", "bitcoin/../../x"])
        keyed_fred_result = load.run(
            "fred_observations", h.context(con, transport, fred_key="k", run_id="run2")
        )

    for result, source, ids in (
        (fred_result, "fred", ["../../etc"]),
        (keyed_fred_result, "fred", ["../../etc"]),
        (coin_result, "coingecko", ["../../etc", "bitcoin/../../x"]),
    ):
        assert [s.series for s in result.series] == ids
        for s in result.series:
            assert s.status == "failed"
            assert s.message.startswith(f"{source} {s.series}: rejected ")
            assert "only " in s.message and "allowed" in s.message
    assert h.router.hits == []  # no request reached the server
    assert transport.requests_made == 0
    files_after = {p for p in tmp_path.rglob("*") if not p.name.startswith("warehouse.duckdb")}
    assert files_after == files_before  # nothing written under landing (or anywhere else)
    assert snapshot_all(h) == before_rows
    assert not (tmp_path / "etc").exists() and not (h.data_dir.parent.parent / "etc").exists()
    scenario(
        "rejected before any request or write",
        f"{len(fred_result.series) + len(coin_result.series) + len(keyed_fred_result.series)} loads failed "
        "'rejected'; 0 requests; no file written; rows unchanged",
        name="loader: path-escaping series and coin ids",
    )


def test_replay_path_escape_is_refused(tmp_path: Path):
    root = tmp_path / "replay"
    root.mkdir()
    (tmp_path / "secret.csv").write_text("x")
    transport = ReplayTransport(root, tmp_path / "landing")
    request = Request("fred", "WALCL", "https://fred.stlouisfed.org/graph/fredgraph.csv", "../secret.csv")
    with pytest.raises(PayloadError, match="fred WALCL: replay path escapes the snapshot folder"):
        transport.fetch(request)
    assert not (tmp_path / "landing").exists()


def test_coingecko_error_parsers_cover_the_status_only_shape(wire):
    """The 429 body CoinGecko sends at the top level (not under "error") is recognised too."""
    assert coingecko.describe_error(wire.CG_ERROR_429).startswith("CoinGecko error 429:")


def test_unreachable_network_stops_the_source_with_the_offline_hint(
    harness: Harness, closed_port_url, monkeypatch, scenario
):
    h = harness
    h.serve_good(1)
    h.run(fast_transport(h.landing), run_id="run1")
    before = snapshot_all(h)
    monkeypatch.setattr(fred, "FREDGRAPH_URL", closed_port_url + FREDGRAPH)
    with warehouse.connect(h.db) as con, pytest.raises(load.NetworkUnreachable) as info:
        load.run(
            "fred_observations",
            h.context(con, fast_transport(h.landing, attempts=2), run_id="run2"),
            ["WALCL", "WTREGEN"],
        )
    assert str(info.value).startswith("fred WALCL: cannot connect to 127.0.0.1")
    assert "LIQUIDITY_REPLAY_DIR" in str(info.value)
    assert snapshot_all(h) == before
    # the other sources are unaffected by FRED being unreachable
    with warehouse.connect(h.db) as con:
        ddp = load.run("fed_ddp_observations", h.context(con, fast_transport(h.landing), run_id="run2"))
    assert [s.status for s in ddp.series] == ["ok", "ok"]
    scenario(
        "the source stops at once with the offline hint; rows kept; other sources load",
        f"'{str(info.value)[:60]}...'; DDP {[s.status for s in ddp.series]}",
        name="loader: a source's host unreachable",
    )


def test_coingecko_null_points_never_overwrite_stored_values(harness: Harness, scenario):
    """A `null` price (or a day of nulls) in a later payload leaves what is stored; a changed value
    beside it is still updated."""
    h = harness
    h.serve_good(1)
    h.run(fast_transport(h.landing), run_id="run1")
    sql = (
        "SELECT observation_date::VARCHAR, price_usd, market_cap_usd, total_volume_usd FROM "
        "raw.coingecko_market_chart WHERE coin_id = 'bitcoin' AND origin = 'api' ORDER BY 1"
    )
    before = {row[0]: row[1:] for row in h.table(sql)}
    points = [list(p) for p in btc_points(h)]
    points[1][1] = None  # 2026-01-28: price null, market cap revised
    points[1][2] = 1781234567999.0
    points[2][1:] = [None, None, None]  # 2026-01-29: nothing but nulls
    body = json.dumps(
        {
            "prices": [[p[0], p[1]] for p in points],
            "market_caps": [[p[0], p[2]] for p in points],
            "total_volumes": [[p[0], p[3]] for p in points],
        }
    ).encode()
    h.serve_good(2)
    h.router.set(f"{CG}/coins/bitcoin/market_chart", None, Reply(200, body))
    result = h.run(fast_transport(h.landing), run_id="run2")[("coingecko", "bitcoin")]
    after = {row[0]: row[1:] for row in h.table(sql)}
    assert result.status == "ok", result.message
    assert after["2026-01-28"] == (before["2026-01-28"][0], 1781234567999.0, before["2026-01-28"][2])
    assert after["2026-01-29"] == before["2026-01-29"]
    assert after["2026-01-31"] is not None and "2026-01-31" not in before  # the new day still loads
    scenario(
        "a null value never replaces a stored one; other values of the day still update",
        f"2026-01-28 price kept {after['2026-01-28'][0]}, cap updated to {after['2026-01-28'][1]:.0f}; "
        f"2026-01-29 (all null) unchanged; 2026-01-31 added",
        name="loader: CoinGecko null points",
    )


def test_a_ddp_column_served_for_the_first_time_has_its_labels_checked(harness: Harness, scenario):
    """A run that continues a loaded release asks `label=omit`; when that answer carries a column
    with no rows yet (a series new to the catalog, or back in the package), the window is asked
    again with labels, so its unit is checked before any of its rows is written."""
    h = harness
    w = h.wire
    drop = 2  # RESPPLLR_N.WW: absent from the first payload

    def without(rows):
        return [[c for i, c in enumerate(r) if i != drop] for r in rows]

    h.serve_good(1)
    h.router.set(DDP, "H41", Reply(body=w.ddp(without(w.H41_HEADER), without(w.H41_ROWS[:3]))))
    h.run(fast_transport(h.landing), run_id="run1")
    count = "SELECT count(*) FROM raw.fed_ddp_observations WHERE series_id = 'RESPPLLR_N.WW'"
    assert h.table(count) == [(0,)]

    def labels_asked() -> list[str]:
        return [hit.args["label"] for hit in h.router.hits_for(DDP, "H41")]

    wrong = [list(r) for r in w.H41_HEADER]
    wrong[1][drop] = "Percent"
    h.serve_good(2)
    h.router.set(DDP, "H41", Reply(body=w.ddp(wrong, w.H41_ROWS)))
    h.router.hits.clear()
    second = h.run(fast_transport(h.landing), run_id="run2")
    assert labels_asked() == ["omit", "include"]
    assert second[("fed_ddp", "H41")].status == "failed"
    assert "DDP unit 'Percent' contradicts the catalog's 'Currency'" in second[("fed_ddp", "H41")].message
    assert h.table(count) == [(0,)]

    h.router.set(DDP, "H41", Reply(body=w.ddp(w.H41_HEADER, w.H41_ROWS)))
    h.router.hits.clear()
    third = h.run(fast_transport(h.landing), run_id="run3")
    assert labels_asked() == ["omit", "include"] and third[("fed_ddp", "H41")].status == "ok"
    assert h.table(count) == [(len(w.H41_ROWS),)]
    h.router.hits.clear()
    h.run(fast_transport(h.landing), run_id="run4")
    assert labels_asked() == ["omit"]  # every served column has rows now
    scenario(
        "a DDP column served for the first time on a label-free request is asked again with labels",
        "run 2: omit then include, wrong unit refused, no row; run 3: loaded; run 4: omit only",
        name="loader: DDP labels for a new column",
    )
