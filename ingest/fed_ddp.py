"""Federal Reserve Data Download Program (DDP) CSVs: H.4.1 and H.8 packages.

Wire format: six quoted header rows (`Series Description`, `Unit:`, `Multiplier:`, `Currency:`,
`Unique Identifier:` — with a trailing space in H.4.1 files —, `Time Period`), then one row per
date; CRLF line endings, no final newline; `NA` or an empty field for missing. Values are
multiplied by the column's `Multiplier:` so they arrive in currency units (USD).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os

import pandas as pd

from ingest.catalog import Series
from ingest.errors import PayloadError
from ingest.parsing import decode, iso_date, number, observations_frame, window
from ingest.transport import Request, Transport

SOURCE = "fed_ddp"
URL = "https://www.federalreserve.gov/datadownload/Output.aspx"
HEADER_LABELS = ("Series Description", "Unit", "Multiplier", "Currency", "Unique Identifier", "Time Period")
# DDP package ids (the `series=` hash of a saved DDP selection). Taken from public client code that
# downloads these packages: H.4.1 "Factors Affecting Reserve Balances" and H.8 "all commercial
# banks, not seasonally adjusted, weekly". Not verifiable offline: override with
# LIQUIDITY_DDP_PACKAGE_H41 / LIQUIDITY_DDP_PACKAGE_H8 if the Board changes them.
PACKAGES = {
    "H41": "7951a85bb48c5cc679a40e18f2d718bd",
    "H8": "2f71e49efe1992f5ed44db0a0e9b1df5",
}


def request(release: str, start: dt.date | None, end: dt.date | None) -> Request:
    if release not in PACKAGES:
        raise ValueError(f"unknown DDP release {release!r}")
    params = {
        "rel": release,
        "series": os.environ.get(f"LIQUIDITY_DDP_PACKAGE_{release}") or PACKAGES[release],
        "lastobs": "",
        "filetype": "csv",
        "label": "include",
        "layout": "seriescolumn",
        "type": "package",
    }
    if start:
        params["from"] = start.strftime("%m/%d/%Y")
    if end:
        params["to"] = end.strftime("%m/%d/%Y")
    return Request(SOURCE, release, URL, f"fed_ddp/{release}.csv", params)


def _label(cell: str) -> str:
    return cell.strip().rstrip(":").strip()


def parse_ddp_csv(
    body: bytes,
    release: str,
    wanted: list[Series],
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """Long frame (series_id, observation_date, value in USD) for the wanted catalog series.

    A wanted series that is `required` must be present; optional ones may be absent from a package.
    """
    text = decode(body, SOURCE, release)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header: dict[str, list[str]] = {}
    for row in rows[:6]:
        if row:
            header[_label(row[0])] = row
    missing = [label for label in HEADER_LABELS if label not in header]
    if missing:
        raise PayloadError(
            SOURCE, release, f"DDP header lacks the {', '.join(repr(m + ':') for m in missing)} row(s)"
        )
    width = len(header["Time Period"])
    if any(len(header[label]) != width for label in HEADER_LABELS):
        raise PayloadError(SOURCE, release, "DDP header rows have different numbers of columns")
    columns = {cell.strip(): i for i, cell in enumerate(header["Time Period"]) if i > 0}
    data_rows = rows[6:]
    for line_no, row in enumerate(data_rows, start=7):
        if row and len(row) != width:
            raise PayloadError(
                SOURCE, release, f"line {line_no} has {len(row)} fields, expected {width} (truncated?)"
            )
    frames = []
    for series in wanted:
        col = columns.get(series.series_id)
        if col is None:
            if series.required:
                raise PayloadError(SOURCE, series.series_id, f"column missing from the {release} DDP file")
            continue
        unit = header["Unit"][col].strip()
        if unit.lower() != series.units.lower():
            raise PayloadError(
                SOURCE, series.series_id, f"DDP unit {unit!r} contradicts the catalog's {series.units!r}"
            )
        multiplier = number(header["Multiplier"][col], SOURCE, series.series_id, "Multiplier: row")
        if multiplier is None or multiplier <= 0:
            raise PayloadError(SOURCE, series.series_id, f"bad Multiplier: {header['Multiplier'][col]!r}")
        obs = []
        for line_no, row in enumerate(data_rows, start=7):
            if not row:
                continue
            day = iso_date(row[0], SOURCE, series.series_id, f"line {line_no}")
            value = number(row[col], SOURCE, series.series_id, f"line {line_no} ({row[0]})")
            if value is not None:
                obs.append((day, value * multiplier))
        frames.append(observations_frame(series.series_id, obs, SOURCE))
    if not frames:
        return pd.DataFrame(columns=["series_id", "observation_date", "value"])
    return window(pd.concat(frames, ignore_index=True), start, end)


def fetch(
    transport: Transport, release: str, wanted: list[Series], start: dt.date | None, end: dt.date | None
) -> tuple[pd.DataFrame, list]:
    resp = transport.fetch(request(release, start, end))
    return parse_ddp_csv(resp.body, release, wanted, start, end), [resp]
