"""CoinGecko: `/coins/{id}/market_chart`, `/global`, `/global/market_cap_chart` (pro) and the
website CSV export (`snapped_at,price,market_cap,total_volume`) for full-history backfill.

Point rules for the JSON charts (`market_chart`, `market_cap_chart`), each tested in
tests/unit/test_coingecko_point_rules.py:
- **Duplicate timestamps** in one array: the same value twice is one point; two different values
  for one instant are a damaged body, refused with both values named.
- **`null` values**: a null says nothing about that field on that day. The row keeps NULL there,
  the warehouse never overwrites a stored value with NULL (`warehouse.upsert`), and a day whose
  values are all null is dropped.
- **Arrays of different lengths** (or timestamps): `prices`, `market_caps` and `total_volumes` must
  hold the same instants; otherwise (an empty `market_caps`, a truncated array) the body is refused.
- **Non-midnight points in a daily range**: one row per UTC day; its 00:00 point wins; a day without
  one keeps its first point (older history is sometimes stamped a little after midnight); the
  body's last point, when not at 00:00, is the day in progress and is dropped.
Refusing means a PayloadError naming the coin: nothing of that coin is written, nothing is retried.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest.errors import HttpError, PayloadError, check_coin_id
from ingest.parsing import MISSING, decode, number, parse_json, try_json, window
from ingest.transport import Request, Transport

SOURCE = "coingecko"
DEMO_ROOT = "https://api.coingecko.com/api/v3"
PRO_ROOT = "https://pro-api.coingecko.com/api/v3"
EXPORT_URL = "https://www.coingecko.com/price_charts/export/{coin}/usd.csv"
DEMO_MAX_DAYS = 365
EXPORT_HEADER = ["snapped_at", "price", "market_cap", "total_volume"]
MARKET_CHART_ARRAYS = {
    "prices": "price_usd",
    "market_caps": "market_cap_usd",
    "total_volumes": "total_volume_usd",
}
MARKET_CHART_COLUMNS = ["observation_date", "snapped_at", "price_usd", "market_cap_usd", "total_volume_usd"]

# The website export's 2026 layout (see EXPORT_LAYOUTS).
EXPORT_HEADER_2026 = ["event_date", "close_price_usd", "market_cap_usd", "volume_usd"]


def _root_and_headers(api_key: str | None, plan: str) -> tuple[str, dict[str, str]]:
    if plan == "pro":
        return PRO_ROOT, ({"x-cg-pro-api-key": api_key} if api_key else {})
    return DEMO_ROOT, ({"x-cg-demo-api-key": api_key} if api_key else {})


def describe_error(body: bytes) -> str | None:
    """CoinGecko error bodies: {"error": {"status": {...}}}, {"status": {...}} or {"error": "..."}."""
    return _describe(try_json(body))


def _describe(payload) -> str | None:
    if not isinstance(payload, dict):
        return None
    status = payload.get("status")
    error = payload.get("error")
    if isinstance(error, dict):
        status = error.get("status", status)
    if isinstance(status, dict) and ("error_code" in status or "error_message" in status):
        code = status.get("error_code")
        message = status.get("error_message", "")
        hint = ""
        if code == 10012:
            hint = " (the demo plan serves at most the last 365 days: ask for fewer days or set COINGECKO_PLAN=pro)"
        return f"CoinGecko error {code}: {message}{hint}"
    if isinstance(error, str):
        return f"CoinGecko error: {error}"
    return None


def market_chart_request(coin_id: str, days: int | str, api_key: str | None, plan: str) -> Request:
    check_coin_id(coin_id)
    if plan != "pro" and (days == "max" or int(days) > DEMO_MAX_DAYS):
        days = DEMO_MAX_DAYS
    root, headers = _root_and_headers(api_key, plan)
    return Request(
        SOURCE,
        coin_id,
        f"{root}/coins/{coin_id}/market_chart",
        f"coingecko/coins/{coin_id}/market_chart.json",
        {"vs_currency": "usd", "days": str(days), "interval": "daily"},
        headers=headers,
        describe_error=describe_error,
    )


def global_request(api_key: str | None, plan: str) -> Request:
    root, headers = _root_and_headers(api_key, plan)
    return Request(
        SOURCE,
        "global",
        f"{root}/global",
        "coingecko/global/global.json",
        headers=headers,
        describe_error=describe_error,
    )


def market_cap_chart_request(days: int | str, api_key: str | None) -> Request:
    root, headers = _root_and_headers(api_key, "pro")
    return Request(
        SOURCE,
        "global_market_cap_chart",
        f"{root}/global/market_cap_chart",
        "coingecko/global/market_cap_chart.json",
        {"vs_currency": "usd", "days": str(days)},
        headers=headers,
        describe_error=describe_error,
    )


def export_request(coin_id: str) -> Request:
    check_coin_id(coin_id)
    return Request(
        SOURCE, coin_id, EXPORT_URL.format(coin=coin_id), f"coingecko/export/{coin_id}-usd-max.csv"
    )


def _json(body: bytes, series: str) -> dict:
    payload = parse_json(body, SOURCE, series)
    if not isinstance(payload, dict):
        raise PayloadError(SOURCE, series, "body is not a JSON object")
    detail = _describe(payload)
    if detail:
        # An error body served with HTTP 200: only CoinGecko's in-body rate limit (429) is transient.
        raise HttpError(SOURCE, series, detail, 429 if "error 429" in detail else 200)
    return payload


def _stamp(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _points(payload: dict, key: str, series: str) -> dict[int, float | None]:
    """One array of [timestamp_ms, value] pairs as {timestamp: value}; see "Point rules" above."""
    pairs = payload.get(key)
    if not isinstance(pairs, list):
        raise PayloadError(SOURCE, series, f"body has no {key!r} array")
    out: dict[int, float | None] = {}
    for i, pair in enumerate(pairs):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or isinstance(pair[0], bool)
            or not isinstance(pair[0], int | float)
        ):
            raise PayloadError(SOURCE, series, f"{key}[{i}] is not a [timestamp_ms, value] pair")
        value = pair[1]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            value = number(str(value), SOURCE, series, f"{key}[{i}]")
        ms = int(pair[0])
        value = None if value is None else float(value)
        if value is not None and (value != value or value in (float("inf"), float("-inf"))):
            raise PayloadError(SOURCE, series, f"{key}[{i}]: non-finite value")
        if ms in out:
            known = out[ms]
            if known is not None and value is not None and known != value:
                raise PayloadError(
                    SOURCE,
                    series,
                    f"{key}: two different values for {_stamp(ms)}: {known} and {value} (duplicate timestamp)",
                )
            if known is not None:
                continue  # the same point twice, or a null beside a value: the value stands
        out[ms] = value
    return out


def _aligned(series: str, arrays: dict[str, dict[int, float | None]]) -> list[int]:
    """The timestamps every array shares. Arrays of different lengths or timestamps are a damaged
    body (e.g. an empty market_caps beside 366 prices): refused, so that nothing is half-loaded."""
    (first_name, first), *rest = arrays.items()
    for name, points in rest:
        if points.keys() != first.keys():
            missing = sorted(set(first) ^ set(points))
            raise PayloadError(
                SOURCE,
                series,
                f"arrays do not line up: {first_name} has {len(first)} points, {name} {len(points)} "
                f"(first differing timestamp {_stamp(missing[0])})",
            )
    return list(first)


def _daily_frame(series: str, stamps: list[int], columns: dict[str, dict[int, float | None]]) -> pd.DataFrame:
    """One point per UTC day: the 00:00 point where there is one, else the day's first point.

    The payload's last point, when it is not at 00:00, is the day still in progress and is dropped.
    Older history sometimes has a day stamped a little after midnight; such days are kept. A day
    whose values are all null says nothing and is dropped.
    """
    ordered = sorted(stamps)
    chosen: dict[dt.date, tuple[dt.datetime, int]] = {}
    for i, ms in enumerate(ordered):
        snapped = dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(tzinfo=None)
        midnight = snapped.time() == dt.time(0)
        if not midnight and i == len(ordered) - 1:
            continue
        if all(columns[c].get(ms) is None for c in columns):
            continue
        day = snapped.date()
        if day not in chosen or (midnight and chosen[day][0].time() != dt.time(0)):
            chosen[day] = (snapped, ms)
    rows = [[day, snapped] + [columns[c].get(ms) for c in columns] for day, (snapped, ms) in chosen.items()]
    return pd.DataFrame(rows, columns=["observation_date", "snapped_at", *columns])


def _zero_to_null(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    # The export's earliest rows carry market cap 0.0: not a real value.
    frame[column] = frame[column].where(frame[column] > 0)
    return frame


def parse_market_chart(body: bytes, coin_id: str, start: dt.date | None = None) -> pd.DataFrame:
    payload = _json(body, coin_id)
    arrays = {key: _points(payload, key, coin_id) for key in MARKET_CHART_ARRAYS}
    stamps = _aligned(coin_id, arrays)
    frame = _daily_frame(coin_id, stamps, {MARKET_CHART_ARRAYS[k]: v for k, v in arrays.items()})
    return window(_zero_to_null(frame, "market_cap_usd"), start, None)


# Dating, the same for every origin: a row is the daily snapshot CoinGecko takes at 00:00 UTC;
# `snapped_at` is that instant and `observation_date` its UTC date, so the row dated D holds the
# close of UTC day D-1 (taken at 19:00/20:00 New York time on D-1). The `market_chart` API stamps
# the point D 00:00 UTC. The website export has two layouts, told apart by the header:
# - classic, `snapped_at,price,market_cap,total_volume`: `snapped_at` D 00:00 UTC is the snapshot;
# - 2026, `event_date,close_price_usd,market_cap_usd,volume_usd` (downloads from 2026 on): the row
#   labelled `event_date` D is the close of UTC day D, i.e. the snapshot of D+1 00:00 UTC, and the
#   last row is the day in progress with an empty price. Its dates are moved one day forward and
#   the in-progress row is dropped, so the same snapshot gives the same row in either layout.
@dataclasses.dataclass(frozen=True)
class ExportLayout:
    """One header of the website export and how its date column maps to the snapshot instant."""

    name: str
    header: tuple[str, ...]
    shift: dt.timedelta  # added to the labelled date to give the 00:00 UTC snapshot instant
    drops_in_progress: bool  # last row with an empty price = the day still in progress


EXPORT_LAYOUTS = (
    ExportLayout("classic", tuple(EXPORT_HEADER), dt.timedelta(0), False),
    ExportLayout("2026", tuple(EXPORT_HEADER_2026), dt.timedelta(days=1), True),
)


def export_layout(header: list[str], coin_id: str) -> ExportLayout:
    """The layout whose header this is; any other header is refused, naming coin and header."""
    for layout in EXPORT_LAYOUTS:
        if tuple(header) == layout.header:
            return layout
    known = " or ".join(f"{','.join(x.header)} ({x.name})" for x in EXPORT_LAYOUTS)
    raise PayloadError(
        SOURCE, coin_id, f"export CSV header {header!r} is not a known layout: expected {known}"
    )


def parse_export_csv(body: bytes, coin_id: str, start: dt.date | None = None) -> pd.DataFrame:
    """The website export (either layout, see the module docstring), one row per snapshot.
    A columnar pass (Arrow) takes a well-formed file at ~7x the speed of the row-by-row parser;
    anything it is not sure about (a bad stamp or number, a ragged line, a duplicate day) goes to
    the row parser, whose error names the line. The header is checked first, by both."""
    text = decode(body, SOURCE, coin_id)
    header = [h.strip() for h in next(csv.reader(io.StringIO(text, newline="")), [])]
    layout = export_layout(header, coin_id)
    try:
        frame = _export_columnar(text, layout)
    except ValueError:  # (pyarrow's ArrowInvalid included) never decide on doubt
        frame = None
    if frame is None:
        return _parse_export_rows(text, coin_id, start)
    return window(_zero_to_null(frame, "market_cap_usd"), start, None)


_STAMP = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$"
_DECIMAL = r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)$"


def _export_columnar(text: str, layout: ExportLayout) -> pd.DataFrame | None:
    """The export parsed column-wise, or None when the row parser must decide."""
    names = list(layout.header)
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode()),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (ValueError, pa.ArrowInvalid):  # ragged or unreadable: the row parser names the line
        return None
    if table.column_names != names or table.num_rows == 0:
        return None
    if layout.drops_in_progress and pc.utf8_trim_whitespace(table[names[1]])[-1].as_py() in MISSING:
        table = table.slice(0, table.num_rows - 1)
        if table.num_rows == 0:
            return None
    stamps = pc.utf8_trim_whitespace(table[names[0]])
    if not pc.all(pc.match_substring_regex(stamps, _STAMP)).as_py():
        return None
    snapped = pc.strptime(stamps, format="%Y-%m-%d %H:%M:%S UTC", unit="us", error_is_null=True)
    if snapped.null_count:
        return None
    missing_markers = pa.array(sorted(MISSING))
    columns = {}
    for name, column in zip(names[1:], MARKET_CHART_COLUMNS[2:], strict=True):
        raw = pc.utf8_trim_whitespace(table[name])
        missing = pc.is_in(raw, value_set=missing_markers)
        if not pc.all(pc.or_(missing, pc.match_substring_regex(raw, _DECIMAL))).as_py():
            return None
        values = pc.cast(pc.if_else(missing, pa.scalar(None, pa.string()), raw), pa.float64())
        array = values.to_numpy(zero_copy_only=False)
        if np.isinf(array[~np.isnan(array)]).any():
            return None
        columns[column] = array
    when = pd.Series(snapped.to_numpy()).astype("datetime64[us]") + layout.shift
    frame = pd.DataFrame({"observation_date": when.dt.date.to_numpy(), "snapped_at": when} | columns)
    if frame["observation_date"].duplicated().any():
        return None
    return frame


def _parse_export_rows(text: str, coin_id: str, start: dt.date | None) -> pd.DataFrame:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    layout = export_layout(header, coin_id)
    rows = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 4:
            raise PayloadError(SOURCE, coin_id, f"export line {line_no} has {len(row)} fields (truncated?)")
        stamp = row[0].strip()
        try:
            snapped = dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S UTC") + layout.shift
        except ValueError:
            raise PayloadError(
                SOURCE, coin_id, f"export line {line_no}: bad {header[0]} {stamp[:40]!r}"
            ) from None
        values = [number(v, SOURCE, coin_id, f"export line {line_no}") for v in row[1:]]
        rows.append([snapped.date(), snapped, *values])
    if layout.drops_in_progress and rows and rows[-1][2] is None:
        rows.pop()  # the day in progress: no close yet
    frame = pd.DataFrame(rows, columns=MARKET_CHART_COLUMNS)
    dupes = frame["observation_date"][frame["observation_date"].duplicated()]
    if not dupes.empty:
        raise PayloadError(SOURCE, coin_id, f"duplicate date {dupes.iloc[0].isoformat()} in the export")
    return window(_zero_to_null(frame, "market_cap_usd"), start, None)


def parse_market_cap_chart(body: bytes, start: dt.date | None = None) -> pd.DataFrame:
    series = "global_market_cap_chart"
    payload = _json(body, series)
    chart = payload.get("market_cap_chart")
    if not isinstance(chart, dict):
        raise PayloadError(SOURCE, series, "body has no 'market_cap_chart' object")
    caps = _points(chart, "market_cap", series)
    stamps = list(caps)
    volumes: dict[int, float | None] = {}
    if "volume" in chart:  # optional in recorded copies; when present it must line up with market_cap
        volumes = _points(chart, "volume", series)
        stamps = _aligned(series, {"market_cap": caps, "volume": volumes})
    frame = _daily_frame(series, stamps, {"total_market_cap_usd": caps, "total_volume_usd": volumes})
    frame = frame[frame["total_market_cap_usd"].notna()]
    return window(frame, start, None)


def parse_global(body: bytes) -> pd.DataFrame:
    series = "global"
    payload = _json(body, series)
    data = payload.get("data")
    try:
        cap = float(data["total_market_cap"]["usd"])
        volume = float(data["total_volume"]["usd"])
        updated = int(data["updated_at"])
    except (KeyError, TypeError, ValueError):
        raise PayloadError(
            SOURCE, series, "/global body lacks data.total_market_cap.usd or updated_at"
        ) from None
    snapped = dt.datetime.fromtimestamp(updated, dt.UTC).replace(tzinfo=None)
    return pd.DataFrame(
        [[snapped.date(), snapped, cap, volume]],
        columns=["observation_date", "snapped_at", "total_market_cap_usd", "total_volume_usd"],
    )


def market_chart_days(
    last_loaded: dt.date | None, today: dt.date, lookback_days: int, plan: str
) -> int | str:
    """How many days to ask for: everything on a first run, else since the watermark minus a look-back."""
    if last_loaded is None:
        return "max" if plan == "pro" else DEMO_MAX_DAYS
    days = (today - last_loaded).days + lookback_days
    return min(days, DEMO_MAX_DAYS) if plan != "pro" else days


def fetch_market_chart(
    transport: Transport, coin_id: str, days: int | str, api_key: str | None, plan: str, start: dt.date | None
) -> tuple[pd.DataFrame, list]:
    resp = transport.fetch(market_chart_request(coin_id, days, api_key, plan))
    return parse_market_chart(resp.body, coin_id, start), [resp]
