"""Shared checks for payload parsers: HTML bodies, numbers, dates, duplicates."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ingest.errors import PayloadError

MISSING = frozenset({"", ".", "NA", "N/A", "ND"})


def decode(body: bytes, source: str, series: str | None) -> str:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PayloadError(source, series, "body is not UTF-8 text") from None
    head = text.lstrip()[:512].lower()
    if head.startswith("<!doctype html") or head.startswith("<html") or "<html" in head or "<body" in head:
        raise PayloadError(source, series, "received an HTML page instead of data (status 200 error page?)")
    if not text.strip():
        raise PayloadError(source, series, "empty body")
    return text


def number(raw: str, source: str, series: str, where: str) -> float | None:
    """A published number, or None for the source's missing markers; anything else is an error."""
    value = raw.strip()
    if value in MISSING:
        return None
    try:
        result = float(value)
    except ValueError:
        raise PayloadError(source, series, f"non-numeric value {value[:40]!r} at {where}") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise PayloadError(source, series, f"non-finite value {value[:40]!r} at {where}")
    return result


def iso_date(raw: str, source: str, series: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise PayloadError(
            source, series, f"malformed date {raw.strip()[:40]!r} at {where} (truncated or changed format?)"
        ) from None


def observations_frame(series_id: str, rows: list[tuple[dt.date, float]], source: str) -> pd.DataFrame:
    """Tidy (series_id, observation_date, value) rows; duplicate dates in one payload are an error."""
    frame = pd.DataFrame(rows, columns=["observation_date", "value"])
    dupes = frame["observation_date"][frame["observation_date"].duplicated()]
    if not dupes.empty:
        raise PayloadError(source, series_id, f"duplicate date {dupes.iloc[0].isoformat()} in one payload")
    frame.insert(0, "series_id", series_id)
    return frame


def window(
    frame: pd.DataFrame, start: dt.date | None, end: dt.date | None, column: str = "observation_date"
) -> pd.DataFrame:
    """Keep rows inside [start, end]: clients filter what they asked for even when the server did not."""
    mask = pd.Series(True, index=frame.index)
    if start is not None:
        mask &= frame[column] >= start
    if end is not None:
        mask &= frame[column] <= end
    return frame[mask].reset_index(drop=True)
