"""Provider credits, in the form each provider's terms ask for.

- FRED: "<source>, <title> [<ID>], retrieved from FRED, Federal Reserve Bank of St. Louis;
  https://fred.stlouisfed.org/series/<ID>" (FRED's citation form; the original source comes first).
- Fed Data Download Program: the Board of Governors and the release (H.4.1, H.8).
- Treasury FiscalData: the Bureau of the Fiscal Service's Daily Treasury Statement dataset.
- CoinGecko: "Data provided by CoinGecko" with a link to coingecko.com.

Series ids and titles come from `ingest/series_catalog.csv`. The catalog has no column for the
agency that originally publishes each FRED series, so that one fact lives here (FRED_PUBLISHERS);
a unit test fails when a FRED series is added to the catalog without a publisher.
"""

from __future__ import annotations

from collections.abc import Iterable

from ingest import catalog

BOARD = "Board of Governors of the Federal Reserve System (US)"
NY_FED = "Federal Reserve Bank of New York"
BEA = "U.S. Bureau of Economic Analysis"

# Original source of each FRED series, as FRED's series page names it ("Source: ...").
FRED_PUBLISHERS: dict[str, str] = {
    "WALCL": BOARD,
    "WTREGEN": BOARD,
    "WDTGAL": BOARD,
    "WRESBAL": BOARD,
    "IORB": BOARD,
    "DFF": BOARD,
    "TLAACBW027SBOG": BOARD,
    "RRPONTSYD": NY_FED,
    "RPONTSYD": NY_FED,
    "SOFR": NY_FED,
    "EFFR": NY_FED,
    "GDP": BEA,
}
FRED_TAIL = "retrieved from FRED, Federal Reserve Bank of St. Louis"
DDP_RELEASES = {
    "H41": "Factors Affecting Reserve Balances (H.4.1)",
    "H8": "Assets and Liabilities of Commercial Banks in the United States (H.8)",
}
COINGECKO = "Data provided by CoinGecko (https://www.coingecko.com)"
FISCAL_SERVICE = "U.S. Department of the Treasury, Bureau of the Fiscal Service, Daily Treasury Statement"
DTS_DATASET_URL = "https://fiscaldata.treasury.gov/datasets/daily-treasury-statement/operating-cash-balance"


def series_id(concept: str) -> str:
    """The catalog series id behind a mart concept (e.g. 'fed_total_assets' -> 'WALCL')."""
    for s in catalog.load_catalog():
        if s.concept == concept:
            return s.series_id
    raise KeyError(f"concept {concept!r} is not in the series catalog")


def _catalog_entry(sid: str) -> catalog.Series:
    for s in catalog.load_catalog():
        if s.series_id == sid:
            return s
    raise KeyError(f"series {sid!r} is not in the series catalog")


def short_credit(series_ids: Iterable[str], coingecko: bool = False) -> list[str]:
    """Chart-footer credits: FRED series grouped by original source, DDP series by release."""
    by_publisher: dict[str, list[str]] = {}
    by_release: dict[str, list[str]] = {}
    treasury: list[str] = []
    for sid in dict.fromkeys(series_ids):
        entry = _catalog_entry(sid)
        if entry.source == "fred":
            by_publisher.setdefault(FRED_PUBLISHERS[sid], []).append(sid)
        elif entry.source == "treasury_dts":
            treasury.append(sid)
        else:
            by_release.setdefault(entry.dataset, []).append(sid)
    lines = []
    if by_publisher:
        parts = "; ".join(f"{pub} [{', '.join(ids)}]" for pub, ids in by_publisher.items())
        lines.append(f"Source: {parts}, {FRED_TAIL}.")
    for release, ids in by_release.items():
        lines.append(
            f"Source: Board of Governors of the Federal Reserve System, {DDP_RELEASES[release]}, "
            f"Data Download Program [{', '.join(ids)}]."
        )
    if treasury:
        lines.append(
            f"Source: {FISCAL_SERVICE}, Operating Cash Balance [{', '.join(treasury)}], Fiscal Data."
        )
    if coingecko:
        lines.append(f"{COINGECKO}.")
    return lines


def full_citations(series_ids: Iterable[str]) -> list[str]:
    """One citation per series for the report's sources section (FRED's citation form)."""
    out = []
    for sid in dict.fromkeys(series_ids):
        entry = _catalog_entry(sid)
        if entry.source == "fred":
            out.append(
                f"{FRED_PUBLISHERS[sid]}, {entry.title} [{sid}], {FRED_TAIL}; "
                f"https://fred.stlouisfed.org/series/{sid}"
            )
        elif entry.source == "treasury_dts":
            out.append(f"{FISCAL_SERVICE}, {entry.title} [{sid}], Fiscal Data; {DTS_DATASET_URL}")
        else:
            out.append(
                f"Board of Governors of the Federal Reserve System, {DDP_RELEASES[entry.dataset]}, "
                f"{entry.title} [{sid}], Data Download Program; https://www.federalreserve.gov/datadownload/"
            )
    return out
