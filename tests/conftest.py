"""Fixtures shared by the unit and reliability suites.

- `shared_data`: the real recorded source files in `../shared/data` (relative to the project root);
  tests that need them skip with a clear reason when the folder is absent (a fresh clone).
- `wire`: small payloads written here byte for byte in each source's wire format (CRLF and no final
  newline for DDP, quoted 6-row DDP headers with 'Unique Identifier: ', fredgraph new and old
  formats, FRED API JSON with string values, CoinGecko JSON/CSV and error bodies). FRED and DDP
  values are copied from the recorded files; most CoinGecko numbers are invented but shaped like the
  real ones. Nothing is read from disk.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Every setting the pipeline reads from the environment: tests start with none of a developer's.
PIPELINE_ENV = (
    "FRED_API_KEY",
    "COINGECKO_API_KEY",
    "COINGECKO_PLAN",
    "LIQUIDITY_DATA_DIR",
    "LIQUIDITY_WAREHOUSE",
    "LIQUIDITY_REPLAY_DIR",
    "LIQUIDITY_START",
    "LIQUIDITY_COINS",
    "LIQUIDITY_DDP_PACKAGE_H41",
    "LIQUIDITY_DDP_PACKAGE_H8",
    "LIQUIDITY_ALERT_WEBHOOK",
)
SHARED_DATA = (PROJECT_ROOT / ".." / "shared" / "data").resolve()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Never use a developer's real keys, data dir or replay setting."""
    for name in PIPELINE_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the project; skip (not fail) when a clone has no such folder."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recorded data folder {SHARED_DATA} is absent (../shared/data beside the project)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def replay_root(shared_data: Path) -> Path:
    root = shared_data / "replay"
    if not (root / "2025-11-19").is_dir() or not (root / "2026-01-31").is_dir():
        pytest.skip(f"replay snapshots 2025-11-19 / 2026-01-31 are absent under {root}")
    return root


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    """pytest-httpserver's `httpserver` fixture binds loopback only."""
    return ("127.0.0.1", 0)


# --- wire-format payloads ------------------------------------------------------------------------


def ms(day: str, time: str = "00:00:00") -> int:
    """Epoch milliseconds of a UTC date/time, as CoinGecko sends timestamps."""
    when = dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def fredgraph(series_id: str, rows: list[tuple[str, str]], header: str = "observation_date") -> bytes:
    """A fredgraph.csv body: LF line endings, final newline (new format: empty field = missing)."""
    lines = [f"{header},{series_id}"] + [f"{d},{v}" for d, v in rows]
    return ("\n".join(lines) + "\n").encode()


def ddp(header_rows: list[list[str]], data_rows: list[list[str]]) -> bytes:
    """A Fed DDP CSV body: quoted header cells, CRLF, no newline at the end of the file."""
    head = [",".join(f'"{cell}"' for cell in row) for row in header_rows]
    body = [",".join(row) for row in data_rows]
    return "\r\n".join(head + body).encode()


def market_chart(points: list[tuple[int, float, float, float]]) -> bytes:
    """A /coins/{id}/market_chart body: compact JSON, [ms, value] pairs, no newline at EOF."""
    payload = {
        "prices": [[t, p] for t, p, _, _ in points],
        "market_caps": [[t, c] for t, _, c, _ in points],
        "total_volumes": [[t, v] for t, _, _, v in points],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def fred_api_observations(rows: list[tuple[str, str]], realtime: str = "2026-01-30") -> bytes:
    """A FRED API series/observations body: sort_order desc, values as strings ('.' missing)."""
    payload = {
        "realtime_start": realtime,
        "realtime_end": realtime,
        "observation_start": "1600-01-01",
        "observation_end": "9999-12-31",
        "units": "lin",
        "output_type": 1,
        "file_type": "json",
        "order_by": "observation_date",
        "sort_order": "desc",
        "count": len(rows),
        "offset": 0,
        "limit": 100000,
        "observations": [
            {"realtime_start": realtime, "realtime_end": realtime, "date": d, "value": v}
            for d, v in sorted(rows, reverse=True)
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def fred_api_series(series_id: str, units: str, title: str = "") -> bytes:
    """A FRED API /fred/series body (series metadata)."""
    payload = {
        "realtime_start": "2026-01-30",
        "realtime_end": "2026-01-30",
        "seriess": [
            {
                "id": series_id,
                "realtime_start": "2026-01-30",
                "realtime_end": "2026-01-30",
                "title": title or series_id,
                "observation_start": "2002-12-18",
                "observation_end": "2026-01-28",
                "frequency": "Weekly, As of Wednesday",
                "frequency_short": "W",
                "units": units,
                "units_short": "Mil. of U.S. $",
                "seasonal_adjustment": "Not Seasonally Adjusted",
                "seasonal_adjustment_short": "NSA",
                "last_updated": "2026-01-29 15:32:02-06",
                "popularity": 83,
                "notes": "",
            }
        ],
    }
    return json.dumps(payload, separators=(",", ":")).encode()


H41_HEADER = [
    [
        "Series Description",
        "Assets: Liquidity and Credit Facilities: Loans: Bank Term Funding Program, net: Wednesday level",
        "Liabilities and Capital: Liabilities: Reverse repurchase agreements: Wednesday level",
        "Liabilities and Capital: Liabilities: Deposits with F.R. Banks, other than reserve balances: "
        "U.S. Treasury, General Account: week average",
    ],
    ["Unit:", "Currency", "Currency", "Currency"],
    ["Multiplier:", "1000000", "1000000", "1000000"],
    ["Currency:", "USD", "USD", "USD"],
    ["Unique Identifier: ", "H41/H41/RESPPALDK_N.WW", "H41/H41/RESPPLLR_N.WW", "H41/H41/RESPPLLDT_XAW_N.WW"],
    ["Time Period", "RESPPALDK_N.WW", "RESPPLLR_N.WW", "RESPPLLDT_XAW_N.WW"],
]
# Values as recorded in h41/FRB_H41_2021-04-28_2023-03-22.csv (millions USD), except that the
# 2023-03-01 TGA week average (381245 there) is NA here to exercise the missing marker.
H41_ROWS = [
    ["2023-03-01", "0", "2500611", "NA"],
    ["2023-03-08", "0", "2560350", "333350"],
    ["2023-03-15", "11943", "2423126", "232866"],
    ["2023-03-22", "53669", "2649984", "259587"],
]
H8_HEADER = [
    ["Series Description", "Total assets, all commercial banks, not seasonally adjusted"],
    ["Unit:", "Currency"],
    ["Multiplier:", "1000000"],
    ["Currency:", "USD"],
    ["Unique Identifier:", "H8/H8/B1151NCBD"],  # no trailing space in the H.8 files
    ["Time Period", "B1151NCBD"],
]
H8_ROWS = [
    ["2023-04-05", ""],  # empty field = missing in the H.8 extract
    ["2023-04-12", "22951967.0"],
    ["2023-04-19", "22822876.0"],
    ["2023-04-26", "22820922.0"],
]

WALCL_ROWS = [
    ("2025-12-31", "6640618"),
    ("2026-01-07", "6573602"),
    ("2026-01-14", "6581700"),
    ("2026-01-21", "6584580"),
    ("2026-01-28", "6587568"),
]
WTREGEN_ROWS = [
    ("2025-12-31", "837306.000"),
    ("2026-01-07", "796148.000"),
    ("2026-01-14", "779175.000"),
    ("2026-01-21", "869261.000"),
    ("2026-01-28", "923042.000"),
]
SOFR_ROWS = [
    ("2026-01-14", "3.64"),
    ("2026-01-15", "3.66"),
    ("2026-01-16", "3.65"),
    ("2026-01-19", ""),  # Martin Luther King Jr. Day: an empty field in the new format
    ("2026-01-20", "3.64"),
]
# Old format (pre-2024): DATE header, '.' for missing, trailing zeros trimmed (0.0).
RRPONTSYD_OLD_ROWS = [
    ("2020-07-01", "0.002"),
    ("2020-07-02", "."),
    ("2020-07-03", "."),
    ("2020-07-06", "0.0"),
    ("2020-07-07", "0.003"),
]
BTC_POINTS = [
    (ms("2026-01-27"), 87900.12, 1755123456789.5, 41234567890.25),
    (ms("2026-01-28"), 89210.5, 1781234567890.0, 39876543210.0),
    (ms("2026-01-29"), 88412.75, 1765432109876.25, 40111222333.5),
    (ms("2026-01-30"), 84987.01, 1697000000000.0, 52000000000.0),
    (ms("2026-01-31"), 84141.77856967277, 1680807873673.8472, 79515463845.849),
]
BTC_INTRADAY = (ms("2026-01-31", "14:37:12"), 83012.5, 1660000000000.0, 61000000000.0)
BTC_EXPORT = (
    b"snapped_at,price,market_cap,total_volume\r\n"
    b"2026-01-25 00:00:00 UTC,89101.5,1779000000000,30123456789.0\r\n"
    b"2026-01-26 00:00:00 UTC,88000.25,1757000000000.0,31000000000\r\n"
    b"2026-01-27 00:00:00 UTC,87900.12,1755123456789.5,41234567890.25\r\n"
)
# The same three snapshots in the 2026 layout, lines as in coingecko/export_2026_layout/btc-usd-max.csv
# (2024-01-01..03 there = classic 2024-01-02..04, the 00:00 UTC snapshots after each UTC day's close),
# then an in-progress last row with an empty quoted price, as that file ends.
BTC_EXPORT_2026 = (
    b"event_date,close_price_usd,market_cap_usd,volume_usd\n"
    b"2024-01-01 00:00:00 UTC,44168.68118687473,863804922701.8125,16958999497.58364\n"
    b"2024-01-02 00:00:00 UTC,44994.67388689237,878395004792.8407,39089952715.542786\n"
    b"2024-01-03 00:00:00 UTC,42821.558989157995,838208392904.1771,43146162597.56747\n"
    b'2024-01-04 00:00:00 UTC,"",1292361496904.9734,15704947278.9367\n'
)
# The classic export's rows for the same snapshots (coingecko/btc-usd-max.csv, CRLF).
BTC_EXPORT_CLASSIC_2024 = (
    b"snapped_at,price,market_cap,total_volume\r\n"
    b"2024-01-02 00:00:00 UTC,44168.68118687473,863804922701.8125,16958999497.58364\r\n"
    b"2024-01-03 00:00:00 UTC,44994.67388689237,878395004792.8407,39089952715.542786\r\n"
    b"2024-01-04 00:00:00 UTC,42821.558989157995,838208392904.1771,43146162597.56747\r\n"
)
# The first rows of CoinGecko's ETH export (market cap 0.0 on the first day, 2015-08-09 missing).
ETH_EXPORT = (
    b"snapped_at,price,market_cap,total_volume\n"
    b"2015-08-07 00:00:00 UTC,2.83162,0.0,90622.0\n"
    b"2015-08-08 00:00:00 UTC,1.33075,80339475.0,368070.0\n"
    b"2015-08-10 00:00:00 UTC,0.687586,41556075.1,400464.0\n"
)
MARKET_CAP_CHART = json.dumps(
    {
        "market_cap_chart": {
            "market_cap": [
                [ms("2025-08-13"), 4142601513448.27],
                [ms("2025-08-14"), 4256926941330.963],
                [ms("2025-08-15"), 4084314852681.384],
                [ms("2025-08-15", "09:12:00"), 4001000000000.0],
            ],
            "volume": [
                [ms("2025-08-13"), 210000000000.5],
                [ms("2025-08-14"), 250000000000.0],
                [ms("2025-08-15"), 199000000000.0],
                [ms("2025-08-15", "09:12:00"), 120000000000.0],
            ],
        }
    },
    separators=(",", ":"),
).encode()
GLOBAL = json.dumps(
    {
        "data": {
            "active_cryptocurrencies": 17562,
            "upcoming_icos": 0,
            "ongoing_icos": 49,
            "ended_icos": 3376,
            "markets": 1336,
            "total_market_cap": {"btc": 33456123.1, "eth": 1043000123.5, "usd": 2894123456789.12},
            "total_volume": {"btc": 1045123.4, "eth": 32600000.1, "usd": 98123456789.5},
            "market_cap_percentage": {"btc": 58.1, "eth": 11.3},
            "market_cap_change_percentage_24h_usd": -1.234,
            "updated_at": 1769870232,
        }
    },
    separators=(",", ":"),
).encode()
# Error bodies as CoinGecko sends them.
CG_ERROR_10012 = json.dumps(
    {
        "error": {
            "status": {
                "timestamp": "2026-01-31T12:00:00.000+00:00",
                "error_code": 10012,
                "error_message": "Your request exceeds the allowed time range. Public API users are limited "
                "to querying historical data within the past 365 days. Upgrade to a paid plan to enjoy "
                "full historical data access: https://www.coingecko.com/en/api/pricing. ",
            }
        }
    }
).encode()
CG_ERROR_429 = json.dumps(
    {
        "status": {
            "error_code": 429,
            "error_message": "You've exceeded the Rate Limit. Please visit "
            "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits.",
        }
    }
).encode()
CG_ERROR_NOT_FOUND = b'{"error":"coin not found"}'
FRED_API_ERROR = json.dumps(
    {
        "error_code": 400,
        "error_message": "Bad Request.  The value for variable api_key is not registered.  Read "
        "https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
    }
).encode()
HTML_ERROR_PAGE = (
    b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">\r\n'
    b'<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head><title>Data Download Program - Error</title>'
    b"</head>\r\n<body><h1>An error has occurred</h1><p>The requested package could not be found.</p>"
    b"</body>\r\n</html>\r\n"
)


@pytest.fixture(scope="session")
def wire() -> SimpleNamespace:
    return SimpleNamespace(
        ms=ms,
        fredgraph=fredgraph,
        ddp=ddp,
        market_chart=market_chart,
        fred_api_observations=fred_api_observations,
        fred_api_series=fred_api_series,
        H41_HEADER=H41_HEADER,
        H41_ROWS=H41_ROWS,
        H8_HEADER=H8_HEADER,
        H8_ROWS=H8_ROWS,
        WALCL_ROWS=WALCL_ROWS,
        WTREGEN_ROWS=WTREGEN_ROWS,
        SOFR_ROWS=SOFR_ROWS,
        RRPONTSYD_OLD_ROWS=RRPONTSYD_OLD_ROWS,
        BTC_POINTS=BTC_POINTS,
        BTC_INTRADAY=BTC_INTRADAY,
        BTC_EXPORT=BTC_EXPORT,
        BTC_EXPORT_2026=BTC_EXPORT_2026,
        BTC_EXPORT_CLASSIC_2024=BTC_EXPORT_CLASSIC_2024,
        ETH_EXPORT=ETH_EXPORT,
        MARKET_CAP_CHART=MARKET_CAP_CHART,
        GLOBAL=GLOBAL,
        CG_ERROR_10012=CG_ERROR_10012,
        CG_ERROR_429=CG_ERROR_429,
        CG_ERROR_NOT_FOUND=CG_ERROR_NOT_FOUND,
        FRED_API_ERROR=FRED_API_ERROR,
        HTML_ERROR_PAGE=HTML_ERROR_PAGE,
    )
