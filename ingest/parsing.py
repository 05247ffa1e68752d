"""Shared checks for payload parsers: size and nesting limits, HTML bodies, numbers, dates, duplicates."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd

from ingest.errors import PayloadError

MISSING = frozenset({"", ".", "NA", "N/A", "ND"})
# Limits on what a parser accepts. The largest real body a source sends is about 4 MB (a page of the
# Treasury DTS; a FRED series' full history is under 1 MB): anything past these is not data.
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_JSON_DEPTH = 32  # the deepest real payload (CoinGecko /global) nests 4 levels


def check_size(size: int, source: str, series: str | None, limit: int = MAX_BODY_BYTES) -> None:
    if size > limit:
        raise PayloadError(
            source, series, f"body of {size:,} bytes is larger than the {limit // 2**20} MiB limit: refused"
        )


def decode(body: bytes, source: str, series: str | None) -> str:
    check_size(len(body), source, series)
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


def parse_json(body: bytes, source: str, series: str | None) -> Any:
    """A JSON body within MAX_BODY_BYTES and MAX_JSON_DEPTH; anything else is a PayloadError (never
    a RecursionError or MemoryError from deep inside the decoder)."""
    text = decode(body, source, series)
    try:
        payload = json.loads(text)
    except RecursionError:
        raise PayloadError(
            source, series, f"JSON nested deeper than {MAX_JSON_DEPTH} levels: refused"
        ) from None
    except ValueError:
        raise PayloadError(source, series, "body is not valid JSON (truncated?)") from None
    if _depth_exceeds(payload, MAX_JSON_DEPTH):
        raise PayloadError(source, series, f"JSON nested deeper than {MAX_JSON_DEPTH} levels: refused")
    return payload


def try_json(body: bytes) -> Any:
    """The body as JSON when it is small and well-formed enough, else None: for describing error
    bodies, where a bad body must never raise."""
    if len(body) > MAX_BODY_BYTES:
        return None
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return None if _depth_exceeds(payload, MAX_JSON_DEPTH) else payload


def _depth_exceeds(payload: Any, limit: int) -> bool:
    stack = [(payload, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


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
