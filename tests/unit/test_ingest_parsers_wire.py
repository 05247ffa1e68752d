"""Parsers on exact wire-format payloads written in the tests (see tests/conftest.py `wire`)."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from ingest import catalog, coingecko, fed_ddp, fred
from ingest.errors import HttpError, PayloadError

D = dt.date.fromisoformat


def as_dict(frame: pd.DataFrame, column: str = "value") -> dict[dt.date, float]:
    return dict(zip(frame["observation_date"], frame[column], strict=True))


# --- FRED fredgraph.csv --------------------------------------------------------------------------


def test_fredgraph_new_format_integers(wire):
    body = wire.fredgraph("WALCL", wire.WALCL_ROWS)
    assert body.startswith(b"observation_date,WALCL\n") and body.endswith(b"\n")
    frame = fred.parse_fredgraph_csv(body, "WALCL")
    assert list(frame.columns) == ["series_id", "observation_date", "value"]
    assert set(frame["series_id"]) == {"WALCL"}
    assert as_dict(frame) == {D(d): float(v) for d, v in wire.WALCL_ROWS}


def test_fredgraph_new_format_empty_field_is_missing(wire):
    frame = fred.parse_fredgraph_csv(wire.fredgraph("SOFR", wire.SOFR_ROWS), "SOFR")
    assert D("2026-01-19") not in set(frame["observation_date"])
    assert as_dict(frame) == {D(d): float(v) for d, v in wire.SOFR_ROWS if v}


def test_fredgraph_fixed_decimals_kept_as_numbers(wire):
    frame = fred.parse_fredgraph_csv(wire.fredgraph("WTREGEN", wire.WTREGEN_ROWS), "WTREGEN")
    assert as_dict(frame)[D("2026-01-28")] == 923042.0


def test_fredgraph_old_format_date_header_and_dot(wire):
    body = wire.fredgraph("RRPONTSYD", wire.RRPONTSYD_OLD_ROWS, header="DATE")
    assert body.startswith(b"DATE,RRPONTSYD\n")
    frame = fred.parse_fredgraph_csv(body, "RRPONTSYD")
    assert as_dict(frame) == {D("2020-07-01"): 0.002, D("2020-07-06"): 0.0, D("2020-07-07"): 0.003}


def test_fredgraph_old_format_long_fixed_decimals():
    body = b"DATE,WALCL\n2003-01-01,724718.400000000000\n2003-02-01,721326.000000000000\n"
    frame = fred.parse_fredgraph_csv(body, "WALCL")
    assert as_dict(frame) == {D("2003-01-01"): 724718.4, D("2003-02-01"): 721326.0}


def test_fredgraph_utf8_bom_and_crlf_accepted(wire):
    body = b"\xef\xbb\xbf" + wire.fredgraph("WALCL", wire.WALCL_ROWS).replace(b"\n", b"\r\n")
    assert len(fred.parse_fredgraph_csv(body, "WALCL")) == len(wire.WALCL_ROWS)


def test_fredgraph_window_is_applied_client_side(wire):
    body = wire.fredgraph("WALCL", wire.WALCL_ROWS)
    frame = fred.parse_fredgraph_csv(body, "WALCL", D("2026-01-07"), D("2026-01-21"))
    assert list(frame["observation_date"]) == [D("2026-01-07"), D("2026-01-14"), D("2026-01-21")]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"observation_date,WRESBAL\n2026-01-28,2901600\n", "CSV header names series 'WRESBAL', not 'WALCL'"),
        (b"date,value\n2026-01-28,6587568\n", "unexpected CSV header"),
        (b"observation_date,WALCL\n2026-01-21,6584580\n2026-01-28,65875", "truncated download"),
        (b"observation_date,WALCL\n2026-01-21,6584580\n2026-01-21,6584580\n", "duplicate date 2026-01-21"),
        (b"observation_date,WALCL\n2026-01-21,#N/A\n", "non-numeric value '#N/A' at line 2 (2026-01-21)"),
        (b"observation_date,WALCL\n2026-01-21,nan\n", "non-finite value 'nan'"),
        (b"observation_date,WALCL\n2026-01-21,1,2\n", "line 2 has 3 fields, expected 2"),
        (b"observation_date,WALCL\n21/01/2026,6584580\n", "malformed date '21/01/2026' at line 2"),
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>\n", "HTML page instead of data"),
        (b"\n\n", "empty body"),
        (b"\xff\xfeo\x00b\x00", "not UTF-8"),
    ],
    ids=[
        "other-series",
        "not-fredgraph",
        "truncated",
        "duplicate",
        "non-numeric",
        "nan",
        "ragged",
        "bad-date",
        "html",
        "empty",
        "binary",
    ],
)
def test_fredgraph_bad_payloads_name_source_series_reason(body, reason):
    with pytest.raises(PayloadError) as info:
        fred.parse_fredgraph_csv(body, "WALCL")
    err = info.value
    assert (err.source, err.series) == ("fred", "WALCL")
    assert str(err).startswith("fred WALCL: ")
    assert reason in str(err)


# --- FRED API JSON -------------------------------------------------------------------------------


def test_fred_api_observations_string_values_dot_and_ten_decimals(wire):
    body = wire.fred_api_observations(
        [
            ("2026-01-28", "6587568.0000000000"),
            ("2026-01-21", "6584580"),
            ("2026-01-14", "6581700.0"),
            ("2026-01-07", "."),
        ]
    )
    frame = fred.parse_api_observations(body, "WALCL")
    assert as_dict(frame) == {
        D("2026-01-28"): 6587568.0,
        D("2026-01-21"): 6584580.0,
        D("2026-01-14"): 6581700.0,
    }
    assert json.loads(body)["observations"][0]["value"] == "6587568.0000000000"  # really a string


def test_fred_api_observations_window(wire):
    body = wire.fred_api_observations([("2026-01-28", "3.6300000000"), ("2026-01-27", "3.64")])
    frame = fred.parse_api_observations(body, "SOFR", start=D("2026-01-28"))
    assert as_dict(frame) == {D("2026-01-28"): 3.63}


def test_fred_api_error_body_is_an_http_error(wire):
    with pytest.raises(HttpError) as info:
        fred.parse_api_observations(wire.FRED_API_ERROR, "WALCL")
    assert str(info.value).startswith("fred WALCL: FRED error 400: Bad Request.")
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"observations":[{"date":"2026-01-28"}]}', "observation 0 lacks date/value"),
        (b'{"realtime_start":"2026-01-30"}', "no 'observations' list"),
        (b'{"observations":[{"date":"2026-01-28","value":"6587568"', "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"observations":[{"date":"2026-01-28","value":"abc"}]}', "non-numeric value 'abc'"),
    ],
)
def test_fred_api_bad_bodies(body, reason):
    with pytest.raises(PayloadError, match=reason) as info:
        fred.parse_api_observations(body, "WALCL")
    assert str(info.value).startswith("fred WALCL: ")


def test_fred_api_series_units_and_unit_drift(wire):
    units = fred.parse_api_series_units(wire.fred_api_series("WALCL", "Millions of U.S. Dollars"), "WALCL")
    assert units == "Millions of U.S. Dollars"
    fred.check_units(catalog.get("fred", "WALCL"), units)
    with pytest.raises(PayloadError, match="rescaled upstream") as info:
        fred.check_units(catalog.get("fred", "WTREGEN"), "Billions of U.S. Dollars")
    assert str(info.value).startswith("fred WTREGEN: ")
    with pytest.raises(PayloadError, match="describes 'WRESBAL'"):
        fred.parse_api_series_units(wire.fred_api_series("WRESBAL", "Millions of U.S. Dollars"), "WALCL")


def test_fred_requests_carry_the_key_only_as_a_secret_param():
    req = fred.api_observations_request("WALCL", "k3y", D("2026-01-01"), D("2026-01-31"))
    assert req.params["api_key"] == "k3y" and req.secrets() == ["k3y"]
    assert "k3y" not in req.redacted_url()
    assert "observation_start=2026-01-01" in req.redacted_url()
    graph = fred.fredgraph_request("WALCL", D("2026-01-01"), None)
    assert graph.params == {"id": "WALCL", "cosd": "2026-01-01"}
    assert graph.replay_path == "fred/fredgraph/WALCL.csv"


# --- Fed DDP -------------------------------------------------------------------------------------


def h41_wanted() -> list[catalog.Series]:
    return catalog.series_for("fed_ddp", "H41")


def test_ddp_h41_wire_format(wire):
    body = wire.ddp(wire.H41_HEADER, wire.H41_ROWS)
    assert b"\r\n" in body and not body.endswith(b"\n")
    assert b'"Unique Identifier: ","H41/H41/RESPPALDK_N.WW"' in body
    frame = fed_ddp.parse_ddp_csv(body, "H41", h41_wanted())
    btfp = as_dict(frame[frame["series_id"] == "RESPPALDK_N.WW"])
    assert btfp[D("2023-03-22")] == 53669e6 and btfp[D("2023-03-15")] == 11943e6
    tga = as_dict(frame[frame["series_id"] == "RESPPLLDT_XAW_N.WW"])
    assert D("2023-03-01") not in tga  # NA
    assert tga[D("2023-03-22")] == 259587e6
    # optional catalog series absent from this package are simply not returned
    assert set(frame["series_id"]) == {"RESPPALDK_N.WW", "RESPPLLR_N.WW", "RESPPLLDT_XAW_N.WW"}


def test_ddp_h8_header_without_trailing_space_and_empty_missing(wire):
    frame = fed_ddp.parse_ddp_csv(
        wire.ddp(wire.H8_HEADER, wire.H8_ROWS), "H8", catalog.series_for("fed_ddp", "H8")
    )
    assert as_dict(frame) == {
        D("2023-04-12"): 22951967e6,
        D("2023-04-19"): 22822876e6,
        D("2023-04-26"): 22820922e6,
    }


def test_ddp_window(wire):
    body = wire.ddp(wire.H41_HEADER, wire.H41_ROWS)
    frame = fed_ddp.parse_ddp_csv(body, "H41", h41_wanted(), D("2023-03-15"), D("2023-03-15"))
    assert set(frame["observation_date"]) == {D("2023-03-15")}


def test_ddp_missing_multiplier_row(wire):
    header = [row for row in wire.H41_HEADER if row[0] != "Multiplier:"]
    with pytest.raises(PayloadError) as info:
        fed_ddp.parse_ddp_csv(wire.ddp(header, wire.H41_ROWS), "H41", h41_wanted())
    assert str(info.value) == "fed_ddp H41: DDP header lacks the 'Multiplier:' row(s)"


@pytest.mark.parametrize(
    ("mutate", "series", "reason"),
    [
        (lambda h, r: (h, r + [["2023-03-29", "1", "2"]]), "H41", "line 11 has 3 fields, expected 4"),
        (
            lambda h, r: (h, r[:-1] + [["2023-03-22", "53669", "2649984", "25958x"]]),
            "RESPPLLDT_XAW_N.WW",
            "non-numeric value '25958x' at line 10 (2023-03-22)",
        ),
        (lambda h, r: (h, r + [r[-1]]), "RESPPALDK_N.WW", "duplicate date 2023-03-22"),
        (
            lambda h, r: ([h[0], ["Unit:", "Currency", "Percent", "Currency"], *h[2:]], r),
            "RESPPLLR_N.WW",
            "DDP unit 'Percent' contradicts",
        ),
        (
            lambda h, r: ([h[0], h[1], ["Multiplier:", "1000000", "0", "1000000"], *h[3:]], r),
            "RESPPLLR_N.WW",
            "bad Multiplier",
        ),
        (  # billions instead of millions: the label-free requests would be mis-scaled, so stop
            lambda h, r: ([h[0], h[1], ["Multiplier:", "1000000", "1000000000", "1000000"], *h[3:]], r),
            "RESPPLLR_N.WW",
            "DDP Multiplier: 1e+09 differs from the 1e+06 this H41 package is read with",
        ),
        (  # no wanted column in the package: an empty frame, not an error
            lambda h, r: ([*h[:4], *([row[0]] + [c + "X" for c in row[1:]] for row in h[4:])], r),
            None,
            None,
        ),
        (  # the two naming rows disagree: columns shifted or relabelled
            lambda h, r: ([*h[:5], [h[5][0], h[5][2], h[5][1], h[5][3]]], r),
            "H41",
            "DDP column 2: Unique Identifier 'H41/H41/RESPPALDK_N.WW' is not 'RESPPLLR_N.WW'",
        ),
    ],
    ids=[
        "ragged",
        "non-numeric",
        "duplicate",
        "unit",
        "multiplier",
        "multiplier-changed",
        "no-columns",
        "ids-disagree",
    ],
)
def test_ddp_bad_payloads(wire, mutate, series, reason):
    header, rows = mutate([list(r) for r in wire.H41_HEADER], [list(r) for r in wire.H41_ROWS])
    body = wire.ddp(header, rows)
    if reason is None:
        assert fed_ddp.parse_ddp_csv(body, "H41", h41_wanted()).empty
        return
    with pytest.raises(PayloadError) as info:
        fed_ddp.parse_ddp_csv(body, "H41", h41_wanted())
    assert str(info.value).startswith(f"fed_ddp {series}: ")
    assert reason in str(info.value)


def test_ddp_required_column_missing(wire):
    required = [s for s in h41_wanted() if s.series_id == "RESPPMA_N.WW"]
    required = [catalog.Series(**{**required[0].__dict__, "required": True})]
    with pytest.raises(PayloadError, match="fed_ddp RESPPMA_N.WW: column missing from the H41 DDP file"):
        fed_ddp.parse_ddp_csv(wire.ddp(wire.H41_HEADER, wire.H41_ROWS), "H41", required)


def test_ddp_html_error_page_with_status_200(wire):
    with pytest.raises(PayloadError, match="fed_ddp H41: received an HTML page"):
        fed_ddp.parse_ddp_csv(wire.HTML_ERROR_PAGE, "H41", h41_wanted())


def test_ddp_label_free_layout(wire):
    """`label=omit`: the `Unique Identifier:` and `Time Period` rows, values scaled by the package's
    MULTIPLIERS; a body in the other layout is refused, whichever was asked for."""
    labelled = wire.ddp(wire.H41_HEADER, wire.H41_ROWS)
    bare = wire.ddp(wire.H41_HEADER[4:], wire.H41_ROWS)
    assert bare.startswith(b'"Unique Identifier: ","H41/H41/')
    expected = fed_ddp.parse_ddp_csv(labelled, "H41", h41_wanted())
    frame = fed_ddp.parse_ddp_csv(bare, "H41", h41_wanted(), labels=False)
    pd.testing.assert_frame_equal(frame, expected)
    assert fed_ddp.serve(labelled, {"label": "omit"}) == bare
    with pytest.raises(
        PayloadError, match="fed_ddp H41: DDP header lacks the 'Series Description:', 'Unit:'"
    ):
        fed_ddp.parse_ddp_csv(bare, "H41", h41_wanted())
    with pytest.raises(
        PayloadError, match="fed_ddp H41: DDP header lacks the 'Unique Identifier:', 'Time Period:'"
    ):
        fed_ddp.parse_ddp_csv(labelled, "H41", h41_wanted(), labels=False)
    ragged = wire.ddp(wire.H41_HEADER[4:], wire.H41_ROWS + [["2023-03-29", "1"]])
    with pytest.raises(PayloadError, match="fed_ddp H41: line 7 has 2 fields, expected 4"):
        fed_ddp.parse_ddp_csv(ragged, "H41", h41_wanted(), labels=False)


def test_ddp_request_uses_package_and_dates(monkeypatch):
    req = fed_ddp.request("H41", D("2023-03-01"), D("2023-03-22"))
    assert req.params["rel"] == "H41" and req.params["series"] == fed_ddp.PACKAGES["H41"]
    assert req.params["from"] == "03/01/2023" and req.params["to"] == "03/22/2023"
    assert req.params["label"] == "include" and req.params["layout"] == "seriescolumn"
    assert fed_ddp.request("H41", D("2023-03-01"), None, labels=False).params["label"] == "omit"
    monkeypatch.setenv("LIQUIDITY_DDP_PACKAGE_H41", "abc123")
    assert fed_ddp.request("H41", None, None).params["series"] == "abc123"
    with pytest.raises(ValueError, match="unknown DDP release"):
        fed_ddp.request("../H41", None, None)


# --- CoinGecko -----------------------------------------------------------------------------------


def test_market_chart_keeps_midnight_points_and_drops_intraday(wire):
    body = wire.market_chart([*wire.BTC_POINTS, wire.BTC_INTRADAY])
    frame = coingecko.parse_market_chart(body, "bitcoin")
    assert list(frame["observation_date"]) == [
        dt.datetime.fromtimestamp(p[0] / 1000, dt.UTC).date() for p in wire.BTC_POINTS
    ]
    last = frame.iloc[-1]
    assert last["snapped_at"] == dt.datetime(2026, 1, 31)
    assert last["price_usd"] == 84141.77856967277  # the 00:00 point, not the 14:37 one
    assert last["market_cap_usd"] == 1680807873673.8472


def test_market_chart_keeps_a_day_stamped_after_midnight(wire):
    # Older CoinGecko history has days stamped a little after 00:00 (e.g. 2017-06-06 in a recorded
    # BTC response): such a day is kept, only the final in-progress point is dropped.
    first_ms, first_price, cap, volume = wire.BTC_POINTS[0]
    shifted = [(first_ms + 180_000, first_price, cap, volume), *wire.BTC_POINTS[1:], wire.BTC_INTRADAY]
    frame = coingecko.parse_market_chart(wire.market_chart(shifted), "bitcoin")
    assert len(frame) == len(wire.BTC_POINTS)
    assert frame.iloc[0]["price_usd"] == first_price
    assert frame.iloc[0]["snapped_at"].minute == 3


def test_market_chart_zero_market_cap_becomes_null_and_start_window(wire):
    points = [
        (wire.ms("2019-05-08"), 3.2699771961339086, 0.0, 1000.0),
        (wire.ms("2019-05-09"), 3.308074565927089, 0, 2000.0),
        (wire.ms("2019-05-10"), 3.0821654302850994, 123456.0, 3000.0),
    ]
    frame = coingecko.parse_market_chart(wire.market_chart(points), "terra-luna")
    assert frame["market_cap_usd"].isna().tolist() == [True, True, False]
    later = coingecko.parse_market_chart(wire.market_chart(points), "terra-luna", start=D("2019-05-09"))
    assert list(later["observation_date"]) == [D("2019-05-09"), D("2019-05-10")]


def test_export_csv_crlf_mixed_numbers(wire):
    frame = coingecko.parse_export_csv(wire.BTC_EXPORT, "bitcoin")
    assert list(frame.columns) == coingecko.MARKET_CHART_COLUMNS
    assert list(frame["observation_date"]) == [D("2026-01-25"), D("2026-01-26"), D("2026-01-27")]
    assert frame["market_cap_usd"].tolist() == [1779000000000.0, 1757000000000.0, 1755123456789.5]


def test_export_2026_layout_gives_the_classic_rows(wire):
    # event_date D (the close of UTC day D) is the classic snapped_at D+1 00:00 UTC; the in-progress
    # last row (empty quoted price) is dropped
    new = coingecko.parse_export_csv(wire.BTC_EXPORT_2026, "bitcoin")
    classic = coingecko.parse_export_csv(wire.BTC_EXPORT_CLASSIC_2024, "bitcoin")
    pd.testing.assert_frame_equal(new, classic)
    assert list(new["observation_date"]) == [D("2024-01-02"), D("2024-01-03"), D("2024-01-04")]
    assert new["snapped_at"].iloc[0] == dt.datetime(2024, 1, 2)
    assert new["price_usd"].iloc[0] == 44168.68118687473
    text = wire.BTC_EXPORT_2026.decode()
    fast = coingecko._export_columnar(text, coingecko.EXPORT_LAYOUTS[1])
    pd.testing.assert_frame_equal(fast, coingecko._parse_export_rows(text, "bitcoin", None))


def test_export_2026_layout_keeps_an_empty_price_that_is_not_the_last_row(wire):
    body = wire.BTC_EXPORT_2026.replace(b"44994.67388689237", b'""')
    frame = coingecko.parse_export_csv(body, "bitcoin")
    assert len(frame) == 3 and frame["price_usd"].isna().tolist() == [False, True, False]


def test_export_unknown_header_names_coin_and_header():
    body = b"date,close,market_cap,volume\n2024-01-01 00:00:00 UTC,1,2,3\n"
    with pytest.raises(PayloadError) as info:
        coingecko.parse_export_csv(body, "solana")
    message = str(info.value)
    assert message.startswith("coingecko solana: export CSV header ['date', 'close', 'market_cap', 'volume']")
    assert "event_date,close_price_usd,market_cap_usd,volume_usd (2026)" in message
    assert "snapped_at,price,market_cap,total_volume (classic)" in message


def test_export_csv_first_day_zero_cap_and_real_gap(wire):
    frame = coingecko.parse_export_csv(wire.ETH_EXPORT, "ethereum")
    assert list(frame["observation_date"]) == [D("2015-08-07"), D("2015-08-08"), D("2015-08-10")]
    assert pd.isna(frame["market_cap_usd"].iloc[0]) and frame["price_usd"].iloc[0] == 2.83162


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b"Date,value\n2018-01-01,632508886724.8875\n",
            "export CSV header ['Date', 'value'] is not a known layout",
        ),
        (
            b"snapped_at,price,market_cap,total_volume\n2013-04-28,135.3,1500517590.0,0.0\n",
            "bad snapped_at '2013-04-28'",
        ),
        (
            b"snapped_at,price,market_cap,total_volume\n2026-01-25 00:00:00 UTC,89101.5,17790\n",
            "(truncated?)",
        ),
        (
            b"snapped_at,price,market_cap,total_volume\n2026-01-25 00:00:00 UTC,1,2,3\n"
            b"2026-01-25 00:00:00 UTC,1,2,3\n",
            "duplicate date 2026-01-25",
        ),
        (
            b"snapped_at,price,market_cap,total_volume\n2026-01-25 00:00:00 UTC,abc,2,3\n",
            "non-numeric value 'abc'",
        ),
    ],
    ids=["header", "date-only", "truncated", "duplicate", "non-numeric"],
)
def test_export_csv_bad_payloads(body, reason):
    # the columnar pass never decides on a bad file: the row parser does, and names the line
    assert coingecko._export_columnar(body.decode(), coingecko.EXPORT_LAYOUTS[0]) is None
    with pytest.raises(PayloadError) as info:
        coingecko.parse_export_csv(body, "bitcoin")
    assert str(info.value).startswith("coingecko bitcoin: ") and reason in str(info.value)


def test_market_cap_chart_with_volume(wire):
    frame = coingecko.parse_market_cap_chart(wire.MARKET_CAP_CHART)
    assert list(frame["observation_date"]) == [D("2025-08-13"), D("2025-08-14"), D("2025-08-15")]
    assert frame["total_market_cap_usd"].iloc[-1] == 4084314852681.384
    assert frame["total_volume_usd"].iloc[0] == 210000000000.5


def test_global_snapshot(wire):
    frame = coingecko.parse_global(wire.GLOBAL)
    row = frame.iloc[0]
    assert row["total_market_cap_usd"] == 2894123456789.12 and row["total_volume_usd"] == 98123456789.5
    assert row["snapped_at"] == dt.datetime(2026, 1, 31, 14, 37, 12)
    assert row["observation_date"] == D("2026-01-31")
    with pytest.raises(PayloadError, match="coingecko global: /global body lacks"):
        coingecko.parse_global(b'{"data":{"total_market_cap":{"btc":1}}}')


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CG_ERROR_10012", "CoinGecko error 10012: Your request exceeds the allowed time range."),
        ("CG_ERROR_429", "CoinGecko error 429: You've exceeded the Rate Limit."),
        ("CG_ERROR_NOT_FOUND", "CoinGecko error: coin not found"),
    ],
)
def test_coingecko_error_bodies(wire, name, expected):
    body = getattr(wire, name)
    assert coingecko.describe_error(body).startswith(expected)
    with pytest.raises(HttpError) as info:
        coingecko.parse_market_chart(body, "bitcoin")
    assert str(info.value).startswith(f"coingecko bitcoin: {expected}")
    if name == "CG_ERROR_10012":
        assert "365 days" in str(info.value) and "COINGECKO_PLAN=pro" in str(info.value)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            b'{"prices":[[1769817600000,84141.7]],"market_caps":[[1769817600000,1]]}',
            "no 'total_volumes' array",
        ),
        (b'{"prices":[[1769817600000]],"market_caps":[],"total_volumes":[]}', "prices[0] is not a"),
        (b'{"prices":[["2026-01-31",1]],"market_caps":[],"total_volumes":[]}', "prices[0] is not a"),
        (b'{"prices":[[1769817600000,"x"]],"market_caps":[],"total_volumes":[]}', "non-numeric value 'x'"),
        (b'{"prices":[[1769817600000,84141.7]', "not valid JSON (truncated?)"),
    ],
)
def test_market_chart_bad_bodies(body, reason):
    with pytest.raises(PayloadError) as info:
        coingecko.parse_market_chart(body, "bitcoin")
    assert str(info.value).startswith("coingecko bitcoin: ") and reason in str(info.value)


def test_market_chart_request_headers_and_demo_cap():
    demo = coingecko.market_chart_request("bitcoin", "max", "demo-key", "demo")
    assert demo.url == f"{coingecko.DEMO_ROOT}/coins/bitcoin/market_chart"
    assert demo.params["days"] == "365" and demo.headers == {"x-cg-demo-api-key": "demo-key"}
    assert demo.secrets() == ["demo-key"]
    pro = coingecko.market_chart_request("bitcoin", "max", "pro-key", "pro")
    assert pro.url.startswith(coingecko.PRO_ROOT) and pro.params["days"] == "max"
    assert pro.headers == {"x-cg-pro-api-key": "pro-key"}
    assert coingecko.market_chart_request("bitcoin", 30, None, "demo").headers == {}


def test_market_chart_days():
    today = D("2026-01-31")
    assert coingecko.market_chart_days(None, today, 35, "demo") == 365
    assert coingecko.market_chart_days(None, today, 35, "pro") == "max"
    assert coingecko.market_chart_days(D("2026-01-30"), today, 35, "demo") == 36
    assert coingecko.market_chart_days(D("2020-01-01"), today, 35, "demo") == 365
    assert coingecko.market_chart_days(D("2020-01-01"), today, 35, "pro") > 365
