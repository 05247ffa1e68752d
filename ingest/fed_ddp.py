"""Federal Reserve Data Download Program (DDP) CSVs: H.4.1 and H.8 packages.

Wire format (`label=include`): six quoted header rows (`Series Description`, `Unit:`,
`Multiplier:`, `Currency:`, `Unique Identifier:` — with a trailing space in H.4.1 files —,
`Time Period`), then one row per date; CRLF line endings, no final newline; `NA` or an empty field
for missing. Values are multiplied by the column's `Multiplier:` so they arrive in currency units
(USD).

With `label=omit` the DDP drops the four label rows and keeps only `Unique Identifier:` and
`Time Period` (recorded: `data/other/fed_ddp/natashk_EFF-Rate-Scrapper/FRB_H15_2023-01-09.csv`,
downloaded by client code that asks `label=omit`). The labels are most of an incremental request's
bytes (H.4.1: 27.6 KB of its 37.8 KB header, for 191 series), so a request that continues a
release's loaded history omits them; a first load or a history backfill asks for them, and there
every column's `Unit:` is checked against the catalog and its `Multiplier:` against `MULTIPLIERS`,
which then scales the label-free responses.
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
# What `label=omit` keeps of the header.
BARE_HEADER = ("Unique Identifier", "Time Period")
# DDP package ids (the `series=` hash of a saved DDP selection). Taken from public client code that
# downloads these packages: H.4.1 "Factors Affecting Reserve Balances" and H.8 "all commercial
# banks, not seasonally adjusted, weekly". Not verifiable offline: override with
# LIQUIDITY_DDP_PACKAGE_H41 / LIQUIDITY_DDP_PACKAGE_H8 if the Board changes them.
PACKAGES = {
    "H41": "7951a85bb48c5cc679a40e18f2d718bd",
    "H8": "2f71e49efe1992f5ed44db0a0e9b1df5",
}
# The `Multiplier:` every column of the package states (amounts in millions of USD in every recorded
# H.4.1 and H.8 file, 2016-2023). A labelled response that states another one fails, so a change at
# the Board stops the load instead of mis-scaling the label-free responses that follow.
MULTIPLIERS = {"H41": 1_000_000.0, "H8": 1_000_000.0}


def request(release: str, start: dt.date | None, end: dt.date | None, labels: bool = True) -> Request:
    """The package's rows in [start, end]; `labels=False` asks for the two-row header (`label=omit`)."""
    if release not in PACKAGES:
        raise ValueError(f"unknown DDP release {release!r}")
    params = {
        "rel": release,
        "series": os.environ.get(f"LIQUIDITY_DDP_PACKAGE_{release}") or PACKAGES[release],
        "lastobs": "",
        "filetype": "csv",
        "label": "include" if labels else "omit",
        "layout": "seriescolumn",
        "type": "package",
    }
    if start:
        params["from"] = start.strftime("%m/%d/%Y")
    if end:
        params["to"] = end.strftime("%m/%d/%Y")
    return Request(SOURCE, release, URL, f"fed_ddp/{release}.csv", params, replay_query=serve)


def serve(body: bytes, params: dict[str, str]) -> bytes:
    """What the DDP answers to `params` when `body` is the package's labelled file of every date
    (a replay snapshot, the local test server): data rows outside `from`..`to` (MM/DD/YYYY) dropped,
    and with `label=omit` only the `Unique Identifier:` and `Time Period` header rows kept; CRLF and
    the final newline (or its absence) as in `body`. A body without the six header rows is returned
    unchanged, so the parser reports it."""
    lines = body.split(b"\r\n")
    if len(lines) < 6 or tuple(_label(_first_cell(line)) for line in lines[:6]) != HEADER_LABELS:
        return body
    start, end = _us_date(params.get("from")), _us_date(params.get("to"))
    head = lines[4:6] if params.get("label") == "omit" else lines[:6]
    kept = [line for line in lines[6:] if line and _in(_first_cell(line), start, end)]
    out = b"\r\n".join(head + kept)
    return out + b"\r\n" if body.endswith(b"\r\n") else out


def _first_cell(line: bytes) -> str:
    return line.split(b",", 1)[0].decode("utf-8", "replace").strip('"')


def _us_date(text: str | None) -> dt.date | None:
    return dt.datetime.strptime(text, "%m/%d/%Y").date() if text else None


def _in(cell: str, start: dt.date | None, end: dt.date | None) -> bool:
    try:
        day = dt.date.fromisoformat(cell)
    except ValueError:
        return True  # not a date row: left for the parser to reject
    return (start is None or day >= start) and (end is None or day <= end)


def _label(cell: str) -> str:
    return cell.strip().rstrip(":").strip()


def parse_ddp_csv(
    body: bytes,
    release: str,
    wanted: list[Series],
    start: dt.date | None = None,
    end: dt.date | None = None,
    labels: bool = True,
) -> pd.DataFrame:
    """Long frame (series_id, observation_date, value in USD) for the wanted catalog series.

    `labels` says which header was asked for: the six rows (`label=include`), or the two that
    `label=omit` keeps, whose values are scaled by `MULTIPLIERS`. A wanted series that is `required`
    must be present; optional ones may be absent from a package.
    """
    text = decode(body, SOURCE, release)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    expected = HEADER_LABELS if labels else BARE_HEADER
    size = len(expected)
    header: dict[str, list[str]] = {}
    for row in rows[:size]:
        if row:
            header[_label(row[0])] = row
    missing = [label for label in expected if label not in header]
    if missing:
        raise PayloadError(
            SOURCE, release, f"DDP header lacks the {', '.join(repr(m + ':') for m in missing)} row(s)"
        )
    width = len(header["Time Period"])
    if any(len(header[label]) != width for label in expected):
        raise PayloadError(SOURCE, release, "DDP header rows have different numbers of columns")
    columns = {cell.strip(): i for i, cell in enumerate(header["Time Period"]) if i > 0}
    # `Unique Identifier:` names each column as <release>/<group>/<id>: the header, all a label-free
    # answer has to go on, must agree with itself
    for i, (uid, sid) in enumerate(zip(header["Unique Identifier"], header["Time Period"], strict=True)):
        if i > 0 and uid.strip().rsplit("/", 1)[-1] != sid.strip():
            raise PayloadError(
                SOURCE,
                release,
                f"DDP column {i + 1}: Unique Identifier {uid.strip()!r} is not {sid.strip()!r}",
            )
    data_rows = rows[size:]
    for line_no, row in enumerate(data_rows, start=size + 1):
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
        multiplier = _column_scale(header, col, series, release) if labels else MULTIPLIERS[release]
        obs = []
        for line_no, row in enumerate(data_rows, start=size + 1):
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


def _column_scale(header: dict[str, list[str]], col: int, series: Series, release: str) -> float:
    """A labelled column's `Multiplier:`, once its `Unit:` matches the catalog and the multiplier the
    one the label-free requests assume."""
    unit = header["Unit"][col].strip()
    if unit.lower() != series.units.lower():
        raise PayloadError(
            SOURCE, series.series_id, f"DDP unit {unit!r} contradicts the catalog's {series.units!r}"
        )
    multiplier = number(header["Multiplier"][col], SOURCE, series.series_id, "Multiplier: row")
    if multiplier is None or multiplier <= 0:
        raise PayloadError(SOURCE, series.series_id, f"bad Multiplier: {header['Multiplier'][col]!r}")
    if multiplier != MULTIPLIERS[release]:
        raise PayloadError(
            SOURCE,
            series.series_id,
            f"DDP Multiplier: {multiplier:g} differs from the {MULTIPLIERS[release]:g} this {release} "
            "package is read with (ingest/fed_ddp.py MULTIPLIERS)",
        )
    return multiplier


def fetch(
    transport: Transport,
    release: str,
    wanted: list[Series],
    start: dt.date | None,
    end: dt.date | None,
    labels: bool = True,
) -> tuple[pd.DataFrame, list]:
    resp = transport.fetch(request(release, start, end, labels))
    return parse_ddp_csv(resp.body, release, wanted, start, end, labels), [resp]
