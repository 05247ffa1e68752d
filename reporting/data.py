"""What the report reads: the marts in `serving.duckdb` (read-only), nothing else.

Nothing here writes anywhere. The serving file is opened read-only, every mart is copied into
pandas in one go and the connection is closed before any chart is drawn, so the pipeline's atomic
swap of serving.duckdb is never blocked and a failing report cannot change the file.

Thresholds (reserve regimes, buffers, percentiles) are dbt vars; the marts publish the values they
were built with in `liquidity_thresholds`, which is what the report draws and explains, so it can
never disagree with the served flags. The lead of liquidity over crypto is read from the data
(`crypto_vs_liquidity.lag_days`); the stance of each policy phase from
`liquidity_daily.policy_stance` (seed fed_policy_events).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from ingest import catalog, settings

MARTS = (
    "liquidity_daily",
    "crypto_vs_liquidity",
    "liquidity_lag_scan",
    "liquidity_signals",
    "reserve_adequacy",
    "series_freshness",
    "liquidity_lead_over_time",
    "policy_event_windows",
    "liquidity_thresholds",
)


class ServingMissing(FileNotFoundError):
    """serving.duckdb has not been published yet."""


@dataclass(frozen=True)
class Thresholds:
    """The dbt vars the served marts' flags and regimes were computed with (mart liquidity_thresholds)."""

    reserve_abundant_pct: float
    reserve_scarce_pct: float
    reserves_gdp_threshold_pct: float
    sofr_iorb_threshold_bp: float
    sofr_effr_percentile: float
    sofr_effr_lookback_days: int
    on_rrp_buffer_bn: float
    standing_repo_used_min_bn: float
    on_rrp_zero_before: dt.date

    @classmethod
    def from_mart(cls, frame: pd.DataFrame) -> Thresholds:
        """From the rows of liquidity_thresholds (name, value, value_date)."""
        rows = frame.set_index("name")
        values = {}
        for f in dataclasses.fields(cls):
            if f.name not in rows.index:
                raise ValueError(f"liquidity_thresholds has no row {f.name!r}: re-run `make run`")
            row = rows.loc[f.name]
            if f.type == "dt.date":
                values[f.name] = _day(row["value_date"])
            elif f.type == "int":
                values[f.name] = int(row["value"])
            else:
                values[f.name] = float(row["value"])
        return cls(**values)


@dataclass(frozen=True)
class Serving:
    path: Path
    modified: dt.datetime
    daily: pd.DataFrame  # liquidity_daily
    crypto: pd.DataFrame  # crypto_vs_liquidity
    lag_scan: pd.DataFrame  # liquidity_lag_scan
    signals: pd.DataFrame  # liquidity_signals
    adequacy: pd.DataFrame  # reserve_adequacy
    freshness: pd.DataFrame  # series_freshness
    lead_over_time: pd.DataFrame  # liquidity_lead_over_time
    event_windows: pd.DataFrame  # policy_event_windows
    thresholds: Thresholds  # liquidity_thresholds

    @property
    def data_through(self) -> dt.date:
        """Last day of the liquidity marts (the calendar spine ends at the newest observation)."""
        return _day(self.daily["date"].max())

    @property
    def lag_days(self) -> int:
        """The configured lead of net liquidity over crypto, as the mart was built with it."""
        values = self.crypto["lag_days"].dropna().unique()
        if len(values) != 1:
            raise ValueError(f"crypto_vs_liquidity.lag_days should hold one value, found {sorted(values)}")
        return int(values[0])


def _day(value) -> dt.date:
    return pd.Timestamp(value).date()


def load_serving(path: Path | None = None) -> Serving:
    path = path or settings.serving_path()
    if not path.exists():
        raise ServingMissing(
            f"{path} does not exist yet: run `make run` first (it ingests, builds the marts and publishes "
            "serving.duckdb); `make report` then redraws the report from it without re-ingesting"
        )
    modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
    con = duckdb.connect(str(path), read_only=True)
    try:
        present = {
            row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        absent = [t for t in MARTS if t not in present]
        if absent:
            raise ValueError(f"{path} lacks {', '.join(absent)}: re-run `make run` to publish every mart")
        order = {
            "liquidity_lag_scan": "asset, period, lead_days",
            "reserve_adequacy": "quarter_start",
            "series_freshness": "source, series_id",
            "liquidity_lead_over_time": "asset, window_end",
            "policy_event_windows": "event_date, event_kind, asset, rel_day",
            "liquidity_thresholds": "name",
        }
        frames = {t: con.execute(f"SELECT * FROM {t} ORDER BY {order.get(t, 'date')}").df() for t in MARTS}
    finally:
        con.close()
    return Serving(
        path=path,
        modified=modified,
        daily=frames["liquidity_daily"],
        crypto=frames["crypto_vs_liquidity"],
        lag_scan=frames["liquidity_lag_scan"],
        signals=frames["liquidity_signals"],
        adequacy=frames["reserve_adequacy"],
        freshness=frames["series_freshness"],
        lead_over_time=frames["liquidity_lead_over_time"],
        event_windows=frames["policy_event_windows"],
        thresholds=Thresholds.from_mart(frames["liquidity_thresholds"]),
    )


def last_valid(frame: pd.DataFrame, column: str, date_column: str = "date") -> tuple[dt.date, object] | None:
    """(date, value) of the last non-null value of `column`, or None when it has none."""
    valid = frame.loc[frame[column].notna(), [date_column, column]]
    if valid.empty:
        return None
    row = valid.iloc[-1]
    return _day(row[date_column]), row[column]


def stale_since(frame: pd.DataFrame, concept: str) -> dt.date | None:
    """First day of the final run of days on which `concept` is listed in `stale_inputs`."""
    flags = frame["stale_inputs"].fillna("").str.split(",").apply(lambda items: concept in items)
    if not flags.iloc[-1]:
        return None
    not_stale = flags[~flags]
    start = not_stale.index[-1] + 1 if len(not_stale) else flags.index[0]
    return _day(frame.loc[start, "date"])


def inputs_on(frame: pd.DataFrame, column: str, day: dt.date) -> set[str]:
    """Concepts listed in `stale_inputs` / `missing_inputs` on `day`."""
    row = frame.loc[frame["date"] == pd.Timestamp(day), column]
    if row.empty or pd.isna(row.iloc[0]):
        return set()
    return set(str(row.iloc[0]).split(","))


# --- per-series freshness ------------------------------------------------------------------------

SOURCE_NAMES = {
    "fred": "FRED",
    "fed_ddp": "Fed DDP",
    "treasury_dts": "Treasury DTS",
    "coingecko": "CoinGecko",
}
# How a series_freshness.target_unit is shown: (unit label, factor). Market caps are shown in USD
# billions, as in the latest-values table.
UNIT_DISPLAY = {"usd_bn": ("USD bn", 1.0), "pct": ("%", 1.0), "usd": ("USD bn", 1e-9)}


@dataclass(frozen=True)
class Freshness:
    """One row of series_freshness, as the report shows it."""

    series: str  # series_id
    source: str  # FRED | Fed DDP | Treasury DTS | CoinGecko
    what: str  # title
    cadence: str  # cadence and max staleness, e.g. "weekly, 13 d"
    last_observation: dt.date | None
    known_on: dt.date | None  # the day the last observation became public
    value: float | None  # last value, in `unit`
    unit: str
    days_behind: int | None  # as_of - last_observation
    status: str  # current | stale | missing
    note: str = ""


def _date_or_none(value) -> dt.date | None:
    return None if pd.isna(value) else _day(value)


def freshness(serving: Serving) -> list[Freshness]:
    """The rows of the series_freshness mart (one per catalog series, CoinGecko coin and the total
    market cap), in catalog order, then CoinGecko. Status and dates are the mart's own."""
    order = {(s.source, s.series_id): i for i, s in enumerate(catalog.load_catalog())}
    frame = serving.freshness
    rows = sorted(
        frame.itertuples(index=False),
        key=lambda r: (order.get((r.source, r.series_id), len(order)), r.series_id == "global", r.series_id),
    )
    out = []
    for r in rows:
        unit, factor = UNIT_DISPLAY[r.target_unit]
        notes = [] if r.is_required else ["optional"]
        if r.status == "stale":
            notes.append(f"stale since {_day(r.stale_from_date)}")
        elif r.status == "missing":
            notes.append("no observation in the warehouse")
        out.append(
            Freshness(
                series=r.series_id,
                source=SOURCE_NAMES.get(r.source, r.source),
                what=r.title,
                cadence=f"{r.cadence}, {r.max_stale_days} d",
                last_observation=_date_or_none(r.last_observation_date),
                known_on=_date_or_none(r.last_known_on),
                value=None if pd.isna(r.last_value) else float(r.last_value) * factor,
                unit=unit,
                days_behind=None if pd.isna(r.days_since_observation) else int(r.days_since_observation),
                status=r.status,
                note="; ".join(notes),
            )
        )
    return out
