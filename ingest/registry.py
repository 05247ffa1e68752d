"""The raw-table registry: one declaration per raw table, and everything else loops over it.

Each `RawTable` says what the table is (name, columns, primary key, the columns an upsert compares,
the revision column), how it is filled (its loader module under `ingest/loaders/`, whether the
backfill CLI can re-ingest a window of it, its release probe in `ingest/release_poll.py`), how it is
checked (the Python rules of `ingest/quality.py` that apply), and what a materialization shows (its
headline series and preview). From it come:

- the raw DDL and the upsert specs (`ingest/warehouse.py`);
- the loader runner and the backfill (`ingest/load.py`);
- the future-date and schema-drift rules (`ingest/quality.py`);
- the raw Dagster assets, their checks, the run summary, the backfill job, the asset metadata and
  the release sensor (`orchestration/`).

Adding a source: a parser module (`ingest/<source>.py`), a loader (`ingest/loaders/<source>.py`
with `load(ctx, only=None, window=None)`), one entry below, its catalog lines, and its dbt staging
model (README "How to add a source").

Plain data (no Dagster, no DuckDB); loaders and probes are named, not imported, so the registry can
be read by every layer without import cycles.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable

from ingest import catalog, treasury_dts

# Every raw observation row's provenance: when it became public (release date and instant), when it
# was fetched and last revised (with the value it replaced), where from, and the payload's digest.
PROVENANCE_COLUMNS = """
    known_on         DATE      NOT NULL,
    known_at         TIMESTAMP NOT NULL,
    fetched_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    previous_value   DOUBLE,
    source_url       VARCHAR   NOT NULL,
    payload_sha256   VARCHAR   NOT NULL,
"""

OBSERVATION_COLUMNS = """
    series_id        VARCHAR   NOT NULL,
    observation_date DATE      NOT NULL,
    value            DOUBLE    NOT NULL,
"""

# Python rules (ingest/quality.py) a raw table can have, by check name (orchestration/checks.py
# turns each into a Dagster asset check on the table's asset).
CATALOG_RULES = ("unit_drift", "continuity", "freshness", "served")  # per catalog source: fred, fed_ddp


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """What an upsert needs: the table, its key, the compared value columns and the revision column."""

    name: str
    key: tuple[str, ...]
    values: tuple[str, ...]
    revision_value: str  # the column whose old value goes into previous_value


@dataclasses.dataclass(frozen=True)
class Headline:
    """The newest non-NULL `column` of the rows matching `where`, ordered by the table's date column."""

    name: str  # metadata key of the value, with its unit (a number, so the UI plots it over runs)
    column: str
    where: str = "TRUE"
    tie_break: str = ""  # extra ORDER BY terms after the date, e.g. prefer the API over the export
    scale: float = 1.0  # value shown = column * scale (raw values are as published)


def catalog_headline(source: str, series_id: str) -> Headline:
    """A raw catalog series in its catalog target unit (value x scale, e.g. USD mn -> USD bn)."""
    s = catalog.get(source, series_id)
    return Headline(
        f"{series_id} ({s.target_unit})", "value", where=f"series_id = '{series_id}'", scale=s.scale
    )


@dataclasses.dataclass(frozen=True)
class RawTable:
    name: str  # asset raw/<name>, table raw.<name>
    source: str  # raw.load_log.source, the catalog's source, the backfill CLI's --source
    description: str  # the asset's description in the UI
    columns: str  # DDL column list, before the provenance columns
    key: tuple[str, ...]
    values: tuple[str, ...]
    revision_value: str
    loader: str  # module ingest/loaders/<loader>.py: load(ctx, only=None, window=None)
    series_column: str  # what names one series of the table (coin, account, origin...)
    value_sql: str  # the value an offending row is shown with
    headline: Callable[[], Headline]
    preview: tuple[str, ...]
    preview_where: str = "TRUE"
    preview_order: str = ""  # default: observation_date DESC
    summary_by: str = (
        ""  # the per-series summary in the asset's metadata groups by this; default series_column
    )
    rules: tuple[str, ...] = ()  # Python rules beyond schema_drift and no_future_dates
    backfill: bool = True  # the backfill CLI / job can re-ingest a window of one series
    poll: str | None = None  # ingest/release_poll.py function: poll(transport, watermarks, today)
    # raw.load_log rows of this table when its source has several tables: their `series` values
    load_log_series: tuple[str, ...] | None = None
    date_column: str = "observation_date"
    label: str = ""  # the table in the run summary; default its source

    @property
    def table(self) -> str:
        return f"raw.{self.name}"

    @property
    def spec(self) -> TableSpec:
        return TableSpec(self.table, self.key, self.values, self.revision_value)

    @property
    def ddl(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ({self.columns}{PROVENANCE_COLUMNS}"
            f"    PRIMARY KEY ({', '.join(self.key)})\n);"
        )

    def load_module(self):
        return importlib.import_module(f"ingest.loaders.{self.loader}")

    def owns_load(self, source: str, series: str) -> bool:
        """Whether a raw.load_log row (source, series) was written by this table's loader."""
        if source != self.source:
            return False
        if self.load_log_series is not None:
            return series in self.load_log_series
        claimed = {
            s for t in RAW_TABLES if t.source == source and t.load_log_series for s in t.load_log_series
        }
        return series not in claimed


OBSERVATION_PREVIEW = ("series_id", "observation_date", "value", "known_on", "updated_at", "previous_value")

RAW_TABLES: tuple[RawTable, ...] = (
    RawTable(
        name="fred_observations",
        source="fred",
        description="FRED series from the catalog (fredgraph.csv, or the API with FRED_API_KEY), as published, "
        "with release dates.",
        columns=OBSERVATION_COLUMNS,
        key=("series_id", "observation_date"),
        values=("value",),
        revision_value="value",
        loader="fred",
        series_column="series_id",
        value_sql="value",
        headline=lambda: catalog_headline("fred", "WALCL"),
        preview=OBSERVATION_PREVIEW,
        preview_where="series_id = 'WALCL'",
        rules=CATALOG_RULES,
        poll="poll_fred",
    ),
    RawTable(
        name="fed_ddp_observations",
        source="fed_ddp",
        description="Federal Reserve DDP CSVs (H.4.1 and H.8): catalog series, multiplier applied (USD).",
        columns="""
    release          VARCHAR   NOT NULL,"""
        + OBSERVATION_COLUMNS,
        key=("series_id", "observation_date"),
        values=("value",),
        revision_value="value",
        loader="fed_ddp",
        series_column="series_id",
        value_sql="value",
        headline=lambda: catalog_headline("fed_ddp", "RESH4R_XAW_N.WW"),
        preview=("release", *OBSERVATION_PREVIEW),
        preview_where="series_id = 'RESH4R_XAW_N.WW'",
        rules=CATALOG_RULES,
        poll="poll_fed_ddp",
    ),
    RawTable(
        name="coingecko_market_chart",
        source="coingecko",
        description="CoinGecko daily price, market cap and volume per coin (API market_chart + website export "
        "backfill).",
        columns="""
    coin_id          VARCHAR   NOT NULL,
    observation_date DATE      NOT NULL,
    origin           VARCHAR   NOT NULL,
    snapped_at       TIMESTAMP NOT NULL,
    price_usd        DOUBLE,
    market_cap_usd   DOUBLE,
    total_volume_usd DOUBLE,""",
        key=("coin_id", "observation_date", "origin"),
        values=("price_usd", "market_cap_usd", "total_volume_usd"),
        revision_value="price_usd",
        loader="coingecko",
        series_column="coin_id",
        value_sql="price_usd",
        headline=lambda: Headline(
            "bitcoin price (usd)", "price_usd", where="coin_id = 'bitcoin'", tie_break="origin = 'api' DESC"
        ),
        preview=("coin_id", "observation_date", "origin", "price_usd", "market_cap_usd", "total_volume_usd"),
        preview_where="coin_id = 'bitcoin'",
        preview_order="observation_date DESC, origin",
        summary_by="coin_id || '/' || origin",
        poll="poll_coingecko",
        rules=("freshness",),
    ),
    RawTable(
        name="coingecko_global",
        source="coingecko",
        description="Total crypto market cap: /global snapshot once per run, history from "
        "/global/market_cap_chart (pro).",
        columns="""
    origin               VARCHAR   NOT NULL,
    snapped_at           TIMESTAMP NOT NULL,
    observation_date     DATE      NOT NULL,
    total_market_cap_usd DOUBLE    NOT NULL,
    total_volume_usd     DOUBLE,""",
        key=("origin", "snapped_at"),
        values=("total_market_cap_usd", "total_volume_usd"),
        revision_value="total_market_cap_usd",
        loader="coingecko_global",
        series_column="origin",
        value_sql="total_market_cap_usd",
        headline=lambda: Headline(
            "total crypto market cap (usd)", "total_market_cap_usd", tie_break="snapped_at DESC"
        ),
        preview=("origin", "observation_date", "snapped_at", "total_market_cap_usd", "total_volume_usd"),
        preview_order="observation_date DESC, snapped_at DESC",
        backfill=False,
        load_log_series=("global", "global_market_cap_chart"),
        label="coingecko_global",
    ),
    # observation_date is the DTS record_date. previous_value keeps open_today_bal, the one balance
    # every label era fills (from 2022-04-18 the TGA closing balance is in open_today_bal).
    RawTable(
        name="treasury_dts_cash_balance",
        source="treasury_dts",
        description="Treasury FiscalData Daily Treasury Statement, Table I (operating cash balance): the rows "
        "that hold the TGA balance, under each of its three labels, as published, all pages, balances in "
        "millions USD; dbt staging picks the daily TGA closing balance out of each label era.",
        columns="""
    observation_date     DATE      NOT NULL,
    account_type         VARCHAR   NOT NULL,
    close_today_bal      DOUBLE,
    open_today_bal       DOUBLE,
    open_month_bal       DOUBLE,
    open_fiscal_year_bal DOUBLE,
    table_nbr            VARCHAR,
    sub_table_name       VARCHAR,
    src_line_nbr         INTEGER,""",
        key=("observation_date", "account_type"),
        values=("close_today_bal", "open_today_bal", "open_month_bal", "open_fiscal_year_bal"),
        revision_value="open_today_bal",
        loader="treasury_dts",
        series_column="account_type",
        value_sql="coalesce(close_today_bal, open_today_bal)",
        # The label of the TGA closing row since 2022-04-18 (earlier eras: see dbt staging).
        headline=lambda: Headline(
            "TGA closing balance (usd_bn)",
            "open_today_bal",
            where=f"account_type = '{treasury_dts.TGA_CLOSING_BALANCE}'",
            scale=catalog.get("treasury_dts", "DTS_TGA_CLOSE").scale,
        ),
        preview=(
            "observation_date",
            "account_type",
            "close_today_bal",
            "open_today_bal",
            "known_on",
            "updated_at",
        ),
        preview_order="observation_date DESC, src_line_nbr",
        poll="poll_treasury_dts",
        rules=("freshness",),
    ),
)

BY_NAME = {t.name: t for t in RAW_TABLES}
BY_TABLE = {t.table: t for t in RAW_TABLES}
# Backfill --source -> its table (coingecko: the coins' market chart).
BACKFILL = {t.source: t for t in RAW_TABLES if t.backfill}


def get(name: str) -> RawTable:
    return BY_NAME[name]


def for_catalog_source(source: str) -> RawTable:
    """The raw table a catalog source's observations land in (fred, fed_ddp)."""
    return next(t for t in RAW_TABLES if t.source == source and t.series_column == "series_id")
