"""The CoinGecko point rules (ingest/coingecko.py docstring), one test per rule, on market_chart bodies
in the exact wire shape: {"prices": [[ms, value], ...], "market_caps": [...], "total_volumes": [...]}."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ingest import coingecko
from ingest.errors import PayloadError

D = dt.date.fromisoformat


def ms(stamp: str) -> int:
    return int(dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp() * 1000)


def body(prices, caps=None, volumes=None) -> bytes:
    caps = prices if caps is None else caps
    volumes = prices if volumes is None else volumes
    return json.dumps({"prices": prices, "market_caps": caps, "total_volumes": volumes}).encode()


DAYS = [[ms("2026-01-27"), 100.0], [ms("2026-01-28"), 101.0], [ms("2026-01-29"), 102.0]]


def test_the_same_point_twice_is_one_point():
    frame = coingecko.parse_market_chart(body([*DAYS, DAYS[1]]), "solana")
    assert list(frame["observation_date"]) == [D("2026-01-27"), D("2026-01-28"), D("2026-01-29")]
    assert list(frame["price_usd"]) == [100.0, 101.0, 102.0]


@pytest.mark.parametrize("array", ["prices", "market_caps", "total_volumes"])
def test_two_values_for_one_instant_are_refused_whichever_array(array):
    arrays = {"prices": list(DAYS), "market_caps": list(DAYS), "total_volumes": list(DAYS)}
    arrays[array] = [*DAYS, [DAYS[2][0], 999.0]]
    payload = json.dumps(arrays).encode()
    with pytest.raises(
        PayloadError, match=rf"solana: {array}: two different values for 2026-01-29 00:00:00 UTC"
    ):
        coingecko.parse_market_chart(payload, "solana")


def test_a_null_beside_a_value_for_one_instant_keeps_the_value():
    frame = coingecko.parse_market_chart(body([*DAYS, [DAYS[0][0], None]]), "solana")
    assert frame["price_usd"].iloc[0] == 100.0


def test_a_null_value_is_null_in_its_field_and_an_all_null_day_is_dropped():
    prices = [DAYS[0], [DAYS[1][0], None], [DAYS[2][0], None]]
    caps = [DAYS[0], [DAYS[1][0], 5.0], [DAYS[2][0], None]]
    volumes = [DAYS[0], [DAYS[1][0], None], [DAYS[2][0], None]]
    frame = coingecko.parse_market_chart(body(prices, caps, volumes), "solana")
    assert list(frame["observation_date"]) == [D("2026-01-27"), D("2026-01-28")]
    row = frame.iloc[1]
    assert row["price_usd"] != row["price_usd"] or row["price_usd"] is None  # NaN/None: missing
    assert row["market_cap_usd"] == 5.0


@pytest.mark.parametrize(
    ("caps", "message"),
    [
        ([], "prices has 3 points, market_caps 0"),
        (DAYS[:2], "prices has 3 points, market_caps 2"),
        ([*DAYS[:2], [ms("2026-01-29 00:00:01"), 1.0]], "first differing timestamp 2026-01-29 00:00:00 UTC"),
    ],
)
def test_arrays_that_do_not_line_up_are_refused(caps, message):
    with pytest.raises(PayloadError, match=f"solana: arrays do not line up: .*{message}"):
        coingecko.parse_market_chart(body(DAYS, caps, DAYS), "solana")


def test_non_midnight_points_in_a_daily_range():
    prices = [
        [ms("2026-01-27 00:00:00"), 100.0],
        [ms("2026-01-28 00:03:12"), 101.0],  # older history: a day stamped a little after midnight
        [ms("2026-01-29 00:00:00"), 102.0],
        [ms("2026-01-29 06:00:00"), 102.5],  # a second point on a day that has its 00:00 point
        [ms("2026-01-30 14:37:12"), 103.0],  # the last point, in progress
    ]
    frame = coingecko.parse_market_chart(body(prices), "solana")
    assert list(frame["observation_date"]) == [D("2026-01-27"), D("2026-01-28"), D("2026-01-29")]
    assert list(frame["price_usd"]) == [100.0, 101.0, 102.0]
    assert frame["snapped_at"].iloc[1] == dt.datetime(2026, 1, 28, 0, 3, 12)


def test_booleans_and_non_finite_values_are_not_numbers():
    with pytest.raises(PayloadError, match=r"prices\[0\] is not a \[timestamp_ms, value\] pair"):
        coingecko.parse_market_chart(body([[True, 1.0]]), "solana")
    with pytest.raises(PayloadError, match="non-numeric value 'True'|is not a number|non-finite"):
        coingecko.parse_market_chart(body([[DAYS[0][0], True]]), "solana")


def test_market_cap_chart_volume_must_line_up_when_present():
    chart = {"market_cap": DAYS, "volume": DAYS[:1]}
    with pytest.raises(PayloadError, match="market_cap has 3 points, volume 1"):
        coingecko.parse_market_cap_chart(json.dumps({"market_cap_chart": chart}).encode())
    frame = coingecko.parse_market_cap_chart(json.dumps({"market_cap_chart": {"market_cap": DAYS}}).encode())
    assert len(frame) == 3
