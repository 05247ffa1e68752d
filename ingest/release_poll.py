"""Is there something new at a source? A cheap probe per release, for the release sensors.

Plain Python (no Dagster): each `poll_*` asks its source only for observations after the loaded
watermark, for one representative series per release, through the same transport and parsers as
the loads (so a probe is validated like any payload and never trusts a malformed body):

- FRED: one required series per release rule (H.4.1 Wednesday levels, next-morning rates such as
  SOFR, same-day series such as ON RRP, GDP), fredgraph `cosd` = watermark + 1 day: a header line
  when nothing is new;
- Fed DDP: each release (H41, H8) with `from` = watermark + 1 day;
- CoinGecko: the first configured coin's `market_chart` for the days since its watermark;
- Treasury DTS: `record_date:gte:` watermark + 1 day with `page[size]=1`: one row, or none.

Each is `poll(transport, watermarks, today)` (the raw-table registry names each table's probe) and
returns {probed series: newest observation after its watermark}; empty means nothing new.
A series with no watermark yet is left to the first full load (`make run`, the nightly schedule).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from ingest import catalog, coingecko, fed_ddp, fred, settings, treasury_dts
from ingest.transport import Transport

ONE_DAY = dt.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class PollResult:
    new: dict[str, dt.date]  # probed series -> newest observation after its watermark
    requests: int
    bytes: int


def _counted(transport: Transport, probe) -> PollResult:
    requests0 = getattr(transport, "requests_made", 0)
    bytes0 = getattr(transport, "bytes_fetched", 0)
    new = probe()
    return PollResult(
        new,
        getattr(transport, "requests_made", 0) - requests0,
        getattr(transport, "bytes_fetched", 0) - bytes0,
    )


def fred_probes() -> list[catalog.Series]:
    """One required FRED series per release rule: what the sensor asks about."""
    chosen: dict[str, catalog.Series] = {}
    for series in catalog.series_for("fred"):
        if series.required and series.release_rule not in chosen:
            chosen[series.release_rule] = series
    return list(chosen.values())


def poll_fred(transport: Transport, watermarks: dict[str, dt.date], today: dt.date) -> PollResult:
    def probe() -> dict[str, dt.date]:
        found = {}
        for series in fred_probes():
            last = watermarks.get(series.series_id)
            if last is None:
                continue
            frame, _ = fred.fetch(transport, series, last + ONE_DAY, None, None)
            if not frame.empty:
                found[series.series_id] = frame["observation_date"].max()
        return found

    return _counted(transport, probe)


def poll_fed_ddp(transport: Transport, watermarks: dict[str, dt.date], today: dt.date) -> PollResult:
    def probe() -> dict[str, dt.date]:
        found = {}
        for release in ("H41", "H8"):
            last = watermarks.get(release)
            if last is None:
                continue
            wanted = catalog.series_for("fed_ddp", release)
            frame, _ = fed_ddp.fetch(transport, release, wanted, last + ONE_DAY, None, labels=False)
            if not frame.empty:
                found[release] = frame["observation_date"].max()
        return found

    return _counted(transport, probe)


def poll_coingecko(transport: Transport, watermarks: dict[str, dt.date], today: dt.date) -> PollResult:
    keys = settings.api_keys()

    def probe() -> dict[str, dt.date]:
        coin = settings.coins()[0]
        last = watermarks.get(coin)
        if last is None:
            return {}
        days = max((today - last).days + 1, 1)
        frame, _ = coingecko.fetch_market_chart(
            transport, coin, days, keys.coingecko, keys.coingecko_plan, last + ONE_DAY
        )
        return {coin: frame["observation_date"].max()} if not frame.empty else {}

    return _counted(transport, probe)


def poll_treasury_dts(transport: Transport, watermarks: dict[str, dt.date], today: dt.date) -> PollResult:
    def probe() -> dict[str, dt.date]:
        last = watermarks.get(treasury_dts.DATASET)
        if last is None:
            return {}
        frame, counts, _ = treasury_dts.first_row_from(transport, last + ONE_DAY)
        if not counts["total-count"] or frame.empty:
            return {}
        return {treasury_dts.DATASET: frame["observation_date"].max()}

    return _counted(transport, probe)
