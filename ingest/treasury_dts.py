"""Treasury FiscalData: the Daily Treasury Statement's `operating_cash_balance` (Table I), keyless.

`GET .../v1/accounting/dts/operating_cash_balance?fields=&filter=record_date:gte:YYYY-MM-DD&sort=
record_date&format=json&page[size]=&page[number]=` answers `{"data": [...], "meta": {"count",
"total-count", "total-pages", ...}, "links": {...}}`; every value is a string, missing is the
string "null", amounts are millions of USD. A client follows `meta["total-pages"]`.

Only the rows that hold the TGA balance are asked for (`account_type:eq:<label>`, one request per
label era that can overlap the window, `TGA_ROWS`): the catalog has one DTS series, DTS_TGA_CLOSE,
and Table I's other rows (deposits, withdrawals, the opening balance, the SFP account and the
short-term investments) were three quarters of every answer. The rows are kept as published (one
per record date and label); which label holds the balance changed twice, and staging
(`dbt_project/models/staging/treasury_dts/`), not this module, turns the three eras into one
daily series. A statement published after the newest TGA row received has no row under any known
label (a fourth era): `fetch_tga` asks for one row after it, unfiltered, and refuses the answer
naming that statement's labels, rather than load nothing and call it "nothing new".

The API's query semantics (filter, sort, fields, paging) are also implemented here, in `serve`,
for the replay transport and the local test server: a replay snapshot holds every row of the
endpoint in one body, and a request for page 2 of `record_date:gte:2025-11-01` must get what the
API would send.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable

import pandas as pd

from ingest.errors import PayloadError
from ingest.parsing import iso_date, number, parse_json, try_json
from ingest.transport import Request, Response, Transport

SOURCE = "treasury_dts"
DATASET = "operating_cash_balance"
URL = (
    "https://api.fiscaldata.treasury.gov/services/api/fiscal_service/v1/accounting/dts/operating_cash_balance"
)
REPLAY_PATH = "treasury/dts/operating_cash_balance.json"
# The series catalog line whose release rule and id the raw rows carry (ingest/series_catalog.csv).
CATALOG_SERIES = "DTS_TGA_CLOSE"
PAGE_SIZE = 10_000  # the API's maximum page[size]
BALANCES = ("close_today_bal", "open_today_bal", "open_month_bal", "open_fiscal_year_bal")
# What is asked for and stored: the date, the row's label and position, the four balances. The
# other eight API fields (table name, fiscal/calendar year, quarter, month, day) follow from these.
FIELDS = ("record_date", "account_type", *BALANCES, "table_nbr", "sub_table_name", "src_line_nbr")
COLUMNS = ["observation_date", "account_type", *BALANCES, "table_nbr", "sub_table_name", "src_line_nbr"]
NULL = "null"
# The Table I row that holds the TGA balance, by label era (DOMAIN.md), each with the last record
# date it was published under (None: in use). Staging maps each label to its balance column.
TGA_CLOSING_BALANCE = "Treasury General Account (TGA) Closing Balance"
TGA_ROWS: tuple[tuple[str, dt.date | None], ...] = (
    ("Federal Reserve Account", dt.date(2021, 9, 30)),
    ("Treasury General Account (TGA)", dt.date(2022, 4, 15)),
    (TGA_CLOSING_BALANCE, None),
)


def tga_labels(start: dt.date | None) -> list[str]:
    """The TGA labels whose era can overlap a window beginning on `start` (None: the whole history)."""
    return [label for label, last in TGA_ROWS if start is None or last is None or last >= start]


def request(
    start: dt.date | None,
    end: dt.date | None,
    page: int,
    page_size: int = PAGE_SIZE,
    account_type: str | None = None,
) -> Request:
    """One page of Table I for [start, end]; `account_type` None = every row (the release probe)."""
    conditions = []
    if start:
        conditions.append(f"record_date:gte:{start.isoformat()}")
    if end:
        conditions.append(f"record_date:lte:{end.isoformat()}")
    if account_type:
        conditions.append(f"account_type:eq:{account_type}")
    params = {"fields": ",".join(FIELDS), "sort": "record_date,src_line_nbr", "format": "json"}
    if conditions:
        params["filter"] = ",".join(conditions)
    params["page[number]"] = str(page)
    params["page[size]"] = str(page_size)
    return Request(
        SOURCE,
        f"{DATASET} page {page}",
        URL,
        REPLAY_PATH,
        params,
        describe_error=describe_error,
        replay_query=serve,
    )


def describe_error(body: bytes) -> str | None:
    """FiscalData error bodies: {"error": "...", "message": "..."}."""
    payload = try_json(body)
    if isinstance(payload, dict) and ("error" in payload or "message" in payload):
        return f"FiscalData error: {payload.get('error', '')} {payload.get('message', '')}".strip()
    return None


# --- the API's query semantics over a body holding every row (replay snapshot, test server) ------

_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
}


def _key(field: str, value: str):
    """Sort/compare key: numbers compare as numbers (src_line_nbr 10 after 9), the rest as text
    (ISO dates compare correctly as text)."""
    if field == "record_date" or value == NULL:
        return (0, 0.0, value)
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _condition(text: str) -> Callable[[dict], bool]:
    field, _, rest = text.partition(":")
    op, _, value = rest.partition(":")
    if op == "in":
        allowed = {v.strip() for v in value.strip("()").split(",")}
        return lambda row: row.get(field) in allowed
    if op not in _OPERATORS or not field or not value:
        raise ValueError(f"bad filter condition {text!r}")
    compare = _OPERATORS[op]
    return lambda row: field in row and compare(_key(field, row[field]), _key(field, value))


def _conditions(text: str) -> list[Callable[[dict], bool]]:
    """Split `a:gte:x,b:in:(1,2)` at the commas that join conditions (not those inside `in:(...)`)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current:
        parts.append(current)
    return [_condition(p) for p in parts if p]


def serve(body: bytes, params: dict[str, str]) -> bytes:
    """What the API answers to `params` when its whole dataset is `body` ({"data": [...]}): rows
    filtered, sorted (`-field` descending), cut to `fields`, one page of `page[size]` rows, and
    `meta` counts. A body that is not such a document is returned unchanged, so the parser reports
    it exactly as it would report the same body from the network."""
    try:
        rows = json.loads(body)["data"]
        assert isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    except (ValueError, KeyError, TypeError, AssertionError):
        return body
    for keep in _conditions(params.get("filter", "")):
        rows = [r for r in rows if keep(r)]
    for field in reversed([f for f in params.get("sort", "").split(",") if f]):
        name = field.lstrip("-+")
        rows = sorted(
            rows, key=lambda r, name=name: _key(name, str(r.get(name, ""))), reverse=field[0] == "-"
        )
    fields = [f for f in params.get("fields", "").split(",") if f]
    if fields:
        rows = [{f: r[f] for f in fields if f in r} for r in rows]
    size = int(params.get("page[size]") or 100)
    page = int(params.get("page[number]") or 1)
    chunk = rows[(page - 1) * size : page * size]
    meta = {"count": len(chunk), "total-count": len(rows), "total-pages": max(1, math.ceil(len(rows) / size))}
    return json.dumps({"data": chunk, "meta": meta, "links": {}}, separators=(",", ":")).encode()


# --- client ----------------------------------------------------------------------------------------


def _meta_int(meta: dict, name: str, where: str) -> int:
    value = meta.get(name)
    try:
        result = int(value)
    except (TypeError, ValueError):
        raise PayloadError(SOURCE, where, f'meta["{name}"] is {str(value)[:40]!r}, not a count') from None
    if result < 0:
        raise PayloadError(SOURCE, where, f'meta["{name}"] is negative ({result})')
    return result


def parse_page(body: bytes, page: int) -> tuple[pd.DataFrame, dict[str, int]]:
    """One page: its rows (record_date as `observation_date`, balances as floats in millions USD,
    "null" as NaN) and its meta counts. Anything else than the documented shape is a PayloadError
    naming the page."""
    where = f"{DATASET} page {page}"
    payload = parse_json(body, SOURCE, where)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise PayloadError(SOURCE, where, "body has no 'data' list")
    meta = payload.get("meta")
    if not isinstance(meta, dict):
        raise PayloadError(SOURCE, where, "body has no 'meta' object")
    counts = {name: _meta_int(meta, name, where) for name in ("count", "total-count", "total-pages")}
    data = payload["data"]
    if counts["count"] != len(data):
        raise PayloadError(
            SOURCE, where, f'meta["count"] is {counts["count"]} but the page has {len(data)} rows'
        )
    records = []
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise PayloadError(SOURCE, where, f"row {i} is not an object")
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise PayloadError(SOURCE, where, f"row {i} lacks {', '.join(missing)}")
        day = iso_date(str(row["record_date"]), SOURCE, where, f"row {i}")
        label = str(row["account_type"]).strip()
        if not label or label == NULL:
            raise PayloadError(SOURCE, where, f"row {i} ({day}) has no account_type")
        values = []
        for field in BALANCES:
            raw = str(row[field])
            values.append(None if raw == NULL else number(raw, SOURCE, where, f"row {i} ({day}) {field}"))
        line = number(str(row["src_line_nbr"]), SOURCE, where, f"row {i} ({day}) src_line_nbr")
        records.append((day, label, *values, str(row["table_nbr"]), str(row["sub_table_name"]), line))
    frame = pd.DataFrame(records, columns=COLUMNS)
    frame["src_line_nbr"] = frame["src_line_nbr"].astype("Int64")
    return frame, counts


def fetch(
    transport: Transport,
    start: dt.date | None,
    end: dt.date | None = None,
    page_size: int | None = None,
    account_type: str | None = None,
) -> list[tuple[pd.DataFrame, Response]]:
    """Every page of the answer, in order, each with the response it came from (`account_type`: only
    the rows of that label, and a row of another label in the answer is a PayloadError).

    Follows `meta["total-pages"]` and checks that the pages add up: the same totals on every page,
    `total-pages` = ceil(`total-count` / page size), full pages before the last, the rows counted
    in total, record dates never going back across pages, no (record date, account) twice. A page
    missing from the middle or a total that disagrees with the rows served is a PayloadError
    naming the page; nothing is returned then, so nothing is loaded."""
    page_size = page_size or PAGE_SIZE
    pages: list[tuple[pd.DataFrame, Response]] = []
    totals: tuple[int, int] | None = None
    page = 1
    while True:
        resp = transport.fetch(request(start, end, page, page_size, account_type))
        frame, counts = parse_page(resp.body, page)
        where = f"{DATASET} page {page}"
        others = frame.loc[frame["account_type"] != account_type, "account_type"]
        if account_type is not None and not others.empty:
            raise PayloadError(
                SOURCE,
                where,
                f"asked for the rows labelled {account_type!r} and got one labelled {others.iloc[0]!r} "
                "(the API ignored the account_type filter?); nothing of this answer was written",
            )
        if totals is None:
            totals = (counts["total-count"], counts["total-pages"])
            expected_pages = max(1, math.ceil(totals[0] / page_size))
            if totals[1] != expected_pages:
                raise PayloadError(
                    SOURCE,
                    where,
                    f'meta["total-pages"] is {totals[1]} but {totals[0]} rows at page[size] {page_size} '
                    f"make {expected_pages} pages",
                )
        elif (counts["total-count"], counts["total-pages"]) != totals:
            raise PayloadError(
                SOURCE,
                where,
                f"totals changed between pages: {counts['total-count']} rows in {counts['total-pages']} pages "
                f"after {totals[0]} rows in {totals[1]} pages on page 1",
            )
        last_page = page == totals[1]
        expected_rows = totals[0] - (totals[1] - 1) * page_size if last_page else page_size
        if len(frame) != expected_rows:
            raise PayloadError(
                SOURCE,
                where,
                f"page {page} of {totals[1]} has {len(frame)} rows, expected {expected_rows} "
                f"({totals[0]} rows in total; a page missing or cut short?)",
            )
        if (
            pages
            and not frame.empty
            and frame["observation_date"].iloc[0] < pages[-1][0]["observation_date"].iloc[-1]
        ):
            raise PayloadError(
                SOURCE,
                where,
                f"record dates go back from {pages[-1][0]['observation_date'].iloc[-1]} to "
                f"{frame['observation_date'].iloc[0]} across pages (pages out of order?)",
            )
        pages.append((frame, resp))
        if last_page:
            break
        page += 1
    everything = pd.concat([f for f, _ in pages], ignore_index=True)
    dupes = everything[everything.duplicated(["observation_date", "account_type"], keep=False)]
    if not dupes.empty:
        first = dupes.iloc[0]
        raise PayloadError(
            SOURCE,
            DATASET,
            f"{first['observation_date']} {first['account_type']!r} served twice across {len(pages)} pages",
        )
    return pages


def first_row_from(
    transport: Transport, start: dt.date | None, end: dt.date | None = None
) -> tuple[pd.DataFrame, dict[str, int], Response]:
    """One row of Table I, any label, the earliest on or after `start` (to `end`): whether a
    statement was published there. The release probe's request, and `fetch_tga`'s check."""
    resp = transport.fetch(request(start, end, 1, 1))
    frame, counts = parse_page(resp.body, 1)
    return frame, counts, resp


def fetch_tga(
    transport: Transport, start: dt.date | None, end: dt.date | None = None, page_size: int | None = None
) -> tuple[list[tuple[pd.DataFrame, Response]], Response | None]:
    """The TGA balance rows of [start, end]: every page of one request per label era that can
    overlap the window (`tga_labels`), in era order, and the probe's response (None: not asked).

    The probe is one unfiltered row after the newest record date received (the release probe's
    request): a statement there has no row under any label of `TGA_ROWS`, and the answer is a
    PayloadError naming that statement and its first label, so a relabelling stops the load loudly
    instead of reading as "nothing new"."""
    pages: list[tuple[pd.DataFrame, Response]] = []
    for label in tga_labels(start):
        pages += fetch(transport, start, end, page_size, label)
    received = [frame["observation_date"].max() for frame, _ in pages if not frame.empty]
    after = max(received) + dt.timedelta(days=1) if received else start
    if end is not None and after is not None and after > end:
        return pages, None
    frame, counts, resp = first_row_from(transport, after, end)
    if not frame.empty:
        day, label = frame["observation_date"].iloc[0], frame["account_type"].iloc[0]
        known = ", ".join(repr(label) for label, _ in TGA_ROWS)
        raise PayloadError(
            SOURCE,
            DATASET,
            f"the statement of {day} has no TGA balance row under a known label ({known}); "
            f"its first row is labelled {label!r} ({counts['total-count']} rows from {after} on): "
            "the DTS relabelled Table I? nothing of this answer was written",
        )
    return pages, resp
