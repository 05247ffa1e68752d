"""FRED: keyless `fredgraph.csv` and, with `FRED_API_KEY`, the API (observations JSON + series metadata)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pandas as pd

from ingest.catalog import Series
from ingest.errors import HttpError, PayloadError, check_series_id
from ingest.parsing import decode, iso_date, number, observations_frame, parse_json, try_json, window
from ingest.transport import Request, Transport

SOURCE = "fred"
FREDGRAPH_URL = "https://fred.stlouisfed.org/graph/fredgraph.csv"
API_ROOT = "https://api.stlouisfed.org/fred"
DATE_HEADERS = ("observation_date", "DATE")


def fredgraph_request(series_id: str, start: dt.date | None, end: dt.date | None) -> Request:
    check_series_id(series_id)
    params = {"id": series_id}
    if start:
        params["cosd"] = start.isoformat()
    if end:
        params["coed"] = end.isoformat()
    return Request(SOURCE, series_id, FREDGRAPH_URL, f"fred/fredgraph/{series_id}.csv", params)


def parse_fredgraph_csv(
    body: bytes, series_id: str, start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """Parse a fredgraph.csv body: header `observation_date,<ID>` (or the older `DATE,<ID>`),
    missing as `.` or an empty field; rows outside [start, end] are dropped client-side."""
    text = decode(body, SOURCE, series_id)
    if not text.endswith("\n"):
        raise PayloadError(SOURCE, series_id, "CSV body does not end with a newline: truncated download")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or len(header) != 2 or header[0].strip() not in DATE_HEADERS:
        raise PayloadError(
            SOURCE, series_id, f"unexpected CSV header {header!r}; expected observation_date,{series_id}"
        )
    if header[1].strip() != series_id:
        raise PayloadError(
            SOURCE, series_id, f"CSV header names series {header[1].strip()!r}, not {series_id!r}"
        )
    rows: list[tuple[dt.date, float]] = []
    for line_no, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 2:
            raise PayloadError(
                SOURCE, series_id, f"line {line_no} has {len(row)} fields, expected 2 (truncated?)"
            )
        day = iso_date(row[0], SOURCE, series_id, f"line {line_no}")
        value = number(row[1], SOURCE, series_id, f"line {line_no} ({row[0]})")
        if value is not None:
            rows.append((day, value))
    return window(observations_frame(series_id, rows, SOURCE), start, end)


def describe_api_error(body: bytes) -> str | None:
    return _describe(try_json(body))


def _describe(payload) -> str | None:
    if isinstance(payload, dict) and "error_message" in payload:
        return f"FRED error {payload.get('error_code')}: {payload['error_message']}"
    return None


def api_observations_request(
    series_id: str, api_key: str, start: dt.date | None, end: dt.date | None
) -> Request:
    check_series_id(series_id)
    params = {"series_id": series_id, "api_key": api_key, "file_type": "json"}
    if start:
        params["observation_start"] = start.isoformat()
    if end:
        params["observation_end"] = end.isoformat()
    return Request(
        SOURCE,
        series_id,
        f"{API_ROOT}/series/observations",
        f"fred/api/series/observations/{series_id}.json",
        params,
        secret_params=("api_key",),
        describe_error=describe_api_error,
    )


def api_series_request(series_id: str, api_key: str) -> Request:
    check_series_id(series_id)
    return Request(
        SOURCE,
        series_id,
        f"{API_ROOT}/series",
        f"fred/api/series/{series_id}.json",
        {"series_id": series_id, "api_key": api_key, "file_type": "json"},
        secret_params=("api_key",),
        describe_error=describe_api_error,
    )


def _json(body: bytes, series_id: str) -> dict:
    payload = parse_json(body, SOURCE, series_id)
    if not isinstance(payload, dict):
        raise PayloadError(SOURCE, series_id, "API body is not a JSON object")
    if "error_code" in payload or "error_message" in payload:
        raise HttpError(SOURCE, series_id, _describe(payload) or "FRED API error", payload.get("error_code"))
    return payload


def parse_api_observations(
    body: bytes, series_id: str, start: dt.date | None = None, end: dt.date | None = None
) -> pd.DataFrame:
    """`series/observations` JSON: string values ('.' missing, some with 10 decimals)."""
    payload = _json(body, series_id)
    observations = payload.get("observations")
    if not isinstance(observations, list):
        raise PayloadError(SOURCE, series_id, "API body has no 'observations' list")
    rows = []
    for i, obs in enumerate(observations):
        if not isinstance(obs, dict) or "date" not in obs or "value" not in obs:
            raise PayloadError(SOURCE, series_id, f"observation {i} lacks date/value")
        day = iso_date(str(obs["date"]), SOURCE, series_id, f"observation {i}")
        value = number(str(obs["value"]), SOURCE, series_id, f"observation {i} ({obs['date']})")
        if value is not None:
            rows.append((day, value))
    return window(observations_frame(series_id, rows, SOURCE), start, end)


def parse_api_series_units(body: bytes, series_id: str) -> str:
    payload = _json(body, series_id)
    seriess = payload.get("seriess")
    if not isinstance(seriess, list) or not seriess or "units" not in seriess[0]:
        raise PayloadError(SOURCE, series_id, "series metadata has no units")
    if seriess[0].get("id", series_id) != series_id:
        raise PayloadError(SOURCE, series_id, f"series metadata describes {seriess[0].get('id')!r}")
    return str(seriess[0]["units"])


def check_units(series: Series, units: str) -> None:
    if units.strip().lower() != series.units.strip().lower():
        raise PayloadError(
            SOURCE,
            series.series_id,
            f"FRED metadata says units {units!r} but the catalog expects {series.units!r}; "
            "the series was rescaled upstream: fix series_catalog.csv (units and scale) before loading",
        )


def fetch(
    transport: Transport, series: Series, start: dt.date | None, end: dt.date | None, api_key: str | None
) -> tuple[pd.DataFrame, list]:
    """Fetch one series: with a key via the API (units checked first), else via fredgraph.csv."""
    if api_key:
        meta = transport.fetch(api_series_request(series.series_id, api_key))
        check_units(series, parse_api_series_units(meta.body, series.series_id))
        resp = transport.fetch(api_observations_request(series.series_id, api_key, start, end))
        return parse_api_observations(resp.body, series.series_id, start, end), [meta, resp]
    resp = transport.fetch(fredgraph_request(series.series_id, start, end))
    return parse_fredgraph_csv(resp.body, series.series_id, start, end), [resp]
