"""The series catalog: `series_catalog.csv` is the one place that lists every series.

Each row gives the source, id, expected units, the scale to the target unit (USD billions or
percent), cadence, dating convention, release rule, maximum staleness, whether it is required,
a magnitude band (in target units) used by unit-drift checks, and for DDP series the FRED series
they must equal exactly (cross-source reconciliation), and the date a series begins at its source
(a later run re-requests full history while the loaded history starts later than that). Adding a FRED series is one
line in that file.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from ingest.errors import check_series_id

CATALOG_PATH = Path(__file__).with_name("series_catalog.csv")

CADENCES = {"weekly", "daily", "quarterly"}
DATINGS = {"wednesday_level", "week_average", "business_day", "calendar_day", "quarter_start"}
RELEASE_RULES = {"h41", "h8", "next_business_day", "same_day", "gdp_advance", "dts"}
TARGET_UNITS = {"usd_bn", "pct"}
SOURCES = {"fred", "fed_ddp", "treasury_dts"}


@dataclass(frozen=True)
class Series:
    source: str
    series_id: str
    dataset: str
    concept: str
    title: str
    units: str
    target_unit: str
    scale: float
    cadence: str
    dating: str
    release_rule: str
    max_stale_days: int
    required: bool
    min_value: float
    max_value: float
    # DDP: the FRED series it must equal exactly (millions USD). DTS: the series (space separated)
    # its daily closes reconcile with, each by that series' dating (Wednesday level or week average).
    reconciles_with: str
    first_observation: dt.date | None  # the source's first date; None: not tracked (no history backfill)


def _parse_row(row: dict[str, str], line: int) -> Series:
    try:
        series = Series(
            source=row["source"],
            series_id=check_series_id(row["series_id"]),
            dataset=row["dataset"],
            concept=row["concept"],
            title=row["title"],
            units=row["units"],
            target_unit=row["target_unit"],
            scale=float(row["scale"]),
            cadence=row["cadence"],
            dating=row["dating"],
            release_rule=row["release_rule"],
            max_stale_days=int(row["max_stale_days"]),
            required=row["required"].strip().lower() == "true",
            min_value=float(row["min_value"]),
            max_value=float(row["max_value"]),
            reconciles_with=row.get("reconciles_with", "").strip(),
            first_observation=dt.date.fromisoformat(row["first_observation"])
            if row.get("first_observation")
            else None,
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{CATALOG_PATH.name} line {line}: {exc}") from exc
    for field, allowed in (
        ("source", SOURCES),
        ("cadence", CADENCES),
        ("dating", DATINGS),
        ("release_rule", RELEASE_RULES),
        ("target_unit", TARGET_UNITS),
    ):
        if getattr(series, field) not in allowed:
            raise ValueError(
                f"{CATALOG_PATH.name} line {line}: {field}={getattr(series, field)!r} not in {allowed}"
            )
    if series.min_value > series.max_value or series.scale <= 0:
        raise ValueError(f"{CATALOG_PATH.name} line {line}: bad scale or magnitude band")
    return series


@cache
def load_catalog(path: Path = CATALOG_PATH) -> tuple[Series, ...]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = [_parse_row(row, i) for i, row in enumerate(csv.DictReader(fh), start=2)]
    keys = [(s.source, s.series_id) for s in rows]
    if len(keys) != len(set(keys)):
        raise ValueError(f"{path.name}: duplicate (source, series_id)")
    concepts = [s.concept for s in rows]
    if len(concepts) != len(set(concepts)):
        raise ValueError(f"{path.name}: duplicate concept")
    return tuple(rows)


def series_for(source: str, dataset: str | None = None) -> list[Series]:
    return [s for s in load_catalog() if s.source == source and (dataset is None or s.dataset == dataset)]


def get(source: str, series_id: str) -> Series:
    for s in load_catalog():
        if s.source == source and s.series_id == series_id:
            return s
    raise KeyError(f"{source} {series_id} is not in the series catalog")
