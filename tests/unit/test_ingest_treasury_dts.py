"""Treasury FiscalData DTS `operating_cash_balance`: the parser on wire-format bodies, the API's
query semantics (`serve`, used by the replay transport and the test server), pagination and its
failure modes, the release rule and the catalog lines.

The rows below are the API's rows for the two label seams (2021-09-30 / 2021-10-01 and
2022-04-15 / 2022-04-18), all 16 fields as strings ("null" for missing), copied from the recorded
replay snapshot; bodies are compact JSON `{"data", "meta", "links"}` as the API sends them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from ingest import calendar, catalog, treasury_dts
from ingest.errors import PayloadError
from ingest.transport import ReplayTransport

FIELDS16 = (
    "record_date",
    "account_type",
    "close_today_bal",
    "open_today_bal",
    "open_month_bal",
    "open_fiscal_year_bal",
    "table_nbr",
    "table_nm",
    "sub_table_name",
    "src_line_nbr",
    "record_fiscal_year",
    "record_fiscal_quarter",
    "record_calendar_year",
    "record_calendar_quarter",
    "record_calendar_month",
    "record_calendar_day",
)


def row(day: str, account: str, close: str, open_: str, month: str, fiscal: str, line: str, sub: str) -> dict:
    y, m, d = day.split("-")
    fy = str(int(y) + (int(m) >= 10))
    values = (day, account, close, open_, month, fiscal, "I", "Operating Cash Balance", sub, line, fy,
              str((int(m) + 2) % 12 // 3 + 1), y, str((int(m) - 1) // 3 + 1), m, d)  # fmt: skip
    return dict(zip(FIELDS16, values, strict=True))


SEAM_ROWS = [
    row("2021-09-30", "Federal Reserve Account", "215160", "173745", "355984", "1781679", "1", "Type of account"),
    row("2021-09-30", "Supplementary Financing Program Account", "0", "0", "0", "0", "2", "Type of account"),
    row("2021-09-30", "Short-Term Cash Investments (Table V)", "0", "0", "0", "0", "3", "Type of account"),
    row("2021-10-01", "Treasury General Account (TGA)", "132452", "215160", "215160", "215160", "1", "Type of account"),
    row("2021-10-01", "Supplementary Financing Program Account", "0", "0", "0", "0", "2", "Type of account"),
    row("2021-10-01", "Short-Term Cash Investments (Table V)", "0", "0", "0", "0", "3", "Type of account"),
    row("2022-04-15", "Treasury General Account (TGA)", "578473", "602292", "651523", "215160", "1", "Type of account"),
    row("2022-04-15", "Supplementary Financing Program Account", "0", "0", "0", "0", "2", "Type of account"),
    row("2022-04-15", "Short-Term Cash Investments (Table V)", "0", "0", "0", "0", "3", "Type of account"),
    row("2022-04-18", "Treasury General Account (TGA) Opening Balance", "null", "578473", "651523", "215160", "1",
        "Cash Balance Details"),
    row("2022-04-18", "Total TGA Deposits (Table II)", "null", "284332", "1147394", "13235796", "2",
        "Cash Balance Details"),
    row("2022-04-18", "Total TGA Withdrawals (Table II) (-)", "null", "21553", "957664", "12609702", "3",
        "Cash Balance Details"),
    row("2022-04-18", "Treasury General Account (TGA) Closing Balance", "null", "841253", "841253", "841253", "4",
        "Cash Balance Details"),
]  # fmt: skip


def body(rows: list[dict], total: int | None = None, pages: int = 1) -> bytes:
    meta = {"count": len(rows), "total-count": len(rows) if total is None else total, "total-pages": pages}
    return json.dumps({"data": rows, "meta": meta, "links": {}}, separators=(",", ":")).encode()


def params(**extra: str) -> dict[str, str]:
    return {"format": "json", **extra}


def test_parse_page_keeps_every_row_as_published_with_null_as_missing():
    frame, counts = treasury_dts.parse_page(body(SEAM_ROWS), 1)
    assert counts == {"count": 13, "total-count": 13, "total-pages": 1}
    assert list(frame.columns) == treasury_dts.COLUMNS
    assert len(frame) == 13
    first = frame.iloc[0]
    assert (first.observation_date, first.account_type, first.close_today_bal, first.open_today_bal) == (
        dt.date(2021, 9, 30),
        "Federal Reserve Account",
        215160.0,
        173745.0,
    )
    closing = frame[frame.account_type == "Treasury General Account (TGA) Closing Balance"].iloc[0]
    assert math.isnan(closing.close_today_bal)  # the API's "null"
    assert closing.open_today_bal == 841253.0
    assert closing.src_line_nbr == 4


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "HTML page"),
        (body(SEAM_ROWS)[:300], "not valid JSON (truncated?)"),
        (b'{"data":[],"links":{}}', "no 'meta' object"),
        (b'{"meta":{"count":0,"total-count":0,"total-pages":1}}', "no 'data' list"),
        (
            body(SEAM_ROWS).replace(b'"count":13', b'"count":12'),
            'meta["count"] is 12 but the page has 13 rows',
        ),
        (body(SEAM_ROWS).replace(b'"215160","open_today_bal"', b'"215,160","open_today_bal"'), "non-numeric"),
        (body(SEAM_ROWS).replace(b'"2021-10-01"', b'"10/01/2021"', 1), "malformed date"),
        (
            body([{k: v for k, v in SEAM_ROWS[0].items() if k != "open_today_bal"}]),
            "row 0 lacks open_today_bal",
        ),
    ],
)
def test_parse_page_refuses_bad_bodies_naming_source_and_page(payload, reason):
    with pytest.raises(PayloadError) as err:
        treasury_dts.parse_page(payload, 3)
    assert str(err.value).startswith("treasury_dts operating_cash_balance page 3: ")
    assert reason in str(err.value)


def test_serve_applies_filter_sort_fields_and_paging_like_the_api():
    full = body(SEAM_ROWS)
    answer = json.loads(
        treasury_dts.serve(
            full,
            params(
                filter="record_date:gte:2021-10-01,record_date:lt:2022-04-18",
                sort="-record_date,src_line_nbr",
                fields="record_date,account_type,src_line_nbr",
                **{"page[size]": "4", "page[number]": "2"},
            ),
        )
    )
    # 6 rows match (2021-10-01 and 2022-04-15, three each): page 2 of 2 at size 4 holds the last two.
    assert answer["meta"] == {"count": 2, "total-count": 6, "total-pages": 2}
    assert answer["data"] == [
        {
            "record_date": "2021-10-01",
            "account_type": "Supplementary Financing Program Account",
            "src_line_nbr": "2",
        },
        {
            "record_date": "2021-10-01",
            "account_type": "Short-Term Cash Investments (Table V)",
            "src_line_nbr": "3",
        },
    ]
    eq_in = json.loads(
        treasury_dts.serve(full, params(filter="record_date:in:(2021-09-30,2022-04-18),src_line_nbr:eq:1"))
    )
    assert [(r["record_date"], r["src_line_nbr"]) for r in eq_in["data"]] == [
        ("2021-09-30", "1"),
        ("2022-04-18", "1"),
    ]


def test_serve_returns_a_body_that_is_not_a_dataset_unchanged():
    html = b"<html><body>maintenance</body></html>"
    assert treasury_dts.serve(html, params()) == html


def test_request_asks_for_a_window_and_a_page_and_names_the_page():
    request = treasury_dts.request(dt.date(2025, 10, 14), dt.date(2025, 11, 18), 2, 500)
    assert request.url == treasury_dts.URL
    assert request.series == "operating_cash_balance page 2"
    assert request.params["filter"] == "record_date:gte:2025-10-14,record_date:lte:2025-11-18"
    assert request.params["page[number]"] == "2" and request.params["page[size]"] == "500"
    assert request.params["fields"].split(",") == list(treasury_dts.FIELDS)
    assert request.replay_path == "treasury/dts/operating_cash_balance.json"


def snapshot(tmp_path: Path, payload: bytes) -> ReplayTransport:
    folder = tmp_path / "2026-01-31" / "treasury" / "dts"
    folder.mkdir(parents=True)
    (folder / "operating_cash_balance.json").write_bytes(payload)
    return ReplayTransport(tmp_path / "2026-01-31", None)


def test_fetch_follows_total_pages_through_the_replay_transport(tmp_path):
    transport = snapshot(tmp_path, body(SEAM_ROWS))
    pages = treasury_dts.fetch(transport, dt.date(2021, 10, 1), None, page_size=4)
    assert [len(frame) for frame, _ in pages] == [4, 4, 2]  # 10 rows from 2021-10-01
    assert transport.requests_made == 3
    assert [resp.request.params["page[number]"] for _, resp in pages] == ["1", "2", "3"]
    dates = [d for frame, _ in pages for d in frame.observation_date]
    assert dates[0] == dt.date(2021, 10, 1) and dates[-1] == dt.date(2022, 4, 18)


class Scripted:
    """A transport answering page n with bodies[n - 1], verbatim (as a server would send them)."""

    mode = "replay"

    def __init__(self, tmp_path: Path, bodies: list[bytes]):
        self.inner = snapshot(tmp_path, b"{}")
        self.bodies = bodies

    def fetch(self, request):
        page = int(request.params["page[number]"])
        path = self.inner.root / request.replay_path
        path.write_bytes(self.bodies[page - 1])
        return self.inner.fetch(dataclasses.replace(request, replay_query=None))


def test_fetch_refuses_a_page_missing_from_the_middle(tmp_path):
    def full(n):
        return treasury_dts.serve(body(SEAM_ROWS), params(**{"page[size]": "5", "page[number]": str(n)}))

    empty_middle = json.dumps(
        {"data": [], "meta": {"count": 0, "total-count": 13, "total-pages": 3}}
    ).encode()
    with pytest.raises(PayloadError) as err:
        treasury_dts.fetch(Scripted(tmp_path, [full(1), empty_middle, full(3)]), None, None, page_size=5)
    assert str(err.value).startswith(
        "treasury_dts operating_cash_balance page 2: page 2 of 3 has 0 rows, expected 5"
    )


def test_fetch_refuses_total_pages_that_disagree_with_the_rows(tmp_path):
    one_page_claim = body(SEAM_ROWS[:5], total=13, pages=1)
    with pytest.raises(PayloadError) as err:
        treasury_dts.fetch(Scripted(tmp_path, [one_page_claim]), None, None, page_size=5)
    assert 'page 1: meta["total-pages"] is 1 but 13 rows at page[size] 5 make 3 pages' in str(err.value)


def test_fetch_refuses_pages_out_of_order_or_repeated(tmp_path):
    def page(rows: list[dict]) -> bytes:
        return body(rows, total=10, pages=2)

    with pytest.raises(PayloadError, match="record dates go back"):
        treasury_dts.fetch(
            Scripted(tmp_path, [page(SEAM_ROWS[5:10]), page(SEAM_ROWS[0:5])]), None, None, page_size=5
        )
    with pytest.raises(PayloadError, match="served twice"):
        treasury_dts.fetch(
            Scripted(tmp_path / "b", [page(SEAM_ROWS[0:5]), page(SEAM_ROWS[4:9])]), None, None, page_size=5
        )


class Recording:
    """The replay transport over `rows`, recording each request's filter (what the server was asked)."""

    mode = "replay"

    def __init__(self, tmp_path: Path, rows: list[dict]):
        self.inner = snapshot(tmp_path, body(rows))
        self.filters: list[str] = []

    def fetch(self, request):
        self.filters.append(request.params.get("filter", ""))
        return self.inner.fetch(request)


def test_the_label_eras_end_where_the_recorded_rows_change_label():
    """TGA_ROWS against the seam rows: each label's last record date is its last row."""
    frame, _ = treasury_dts.parse_page(body(SEAM_ROWS), 1)
    for label, last in treasury_dts.TGA_ROWS:
        days = frame.loc[frame.account_type == label, "observation_date"]
        assert not days.empty, label
        if last is not None:
            assert days.max() == last, label
    assert treasury_dts.tga_labels(None) == [label for label, _ in treasury_dts.TGA_ROWS]
    assert treasury_dts.tga_labels(dt.date(2022, 4, 15)) == [
        "Treasury General Account (TGA)",
        treasury_dts.TGA_CLOSING_BALANCE,
    ]
    assert treasury_dts.tga_labels(dt.date(2022, 4, 16)) == [treasury_dts.TGA_CLOSING_BALANCE]


def test_fetch_tga_asks_each_label_era_that_overlaps_the_window_then_one_row_after(tmp_path):
    transport = Recording(tmp_path, SEAM_ROWS)
    pages, probe = treasury_dts.fetch_tga(transport, None)
    frame = pd.concat([f for f, _ in pages])
    # the four TGA balance rows of the seams, none of Table I's other rows
    assert list(zip(frame.observation_date.astype(str), frame.account_type, strict=True)) == [
        ("2021-09-30", "Federal Reserve Account"),
        ("2021-10-01", "Treasury General Account (TGA)"),
        ("2022-04-15", "Treasury General Account (TGA)"),
        ("2022-04-18", treasury_dts.TGA_CLOSING_BALANCE),
    ]
    labels = [f"account_type:eq:{label}" for label, _ in treasury_dts.TGA_ROWS]
    assert transport.filters == [*labels, "record_date:gte:2022-04-19"]
    assert probe.request.params["page[size]"] == "1"

    later = Recording(tmp_path / "later", SEAM_ROWS)
    pages, _ = treasury_dts.fetch_tga(later, dt.date(2022, 4, 16))
    assert [len(f) for f, _ in pages] == [1]
    assert later.filters == [f"record_date:gte:2022-04-16,{labels[-1]}", "record_date:gte:2022-04-19"]


def test_fetch_tga_refuses_a_statement_without_a_tga_row_under_a_known_label(tmp_path):
    """The DTS relabels the closing row: asking by the known labels alone would read as "nothing
    new" forever; the row after the newest TGA row names the statement and its label instead."""
    relabelled = [
        *SEAM_ROWS,
        row("2022-04-19", "Treasury General Account (TGA) Opening Balance", "null", "841253", "651523",
            "215160", "1", "Cash Balance Details"),
        row("2022-04-19", "TGA Closing Balance", "null", "850000", "651523", "215160", "4",
            "Cash Balance Details"),
    ]  # fmt: skip
    with pytest.raises(PayloadError) as err:
        treasury_dts.fetch_tga(Recording(tmp_path, relabelled), dt.date(2022, 4, 16))
    message = str(err.value)
    assert message.startswith("treasury_dts operating_cash_balance: the statement of 2022-04-19 has no TGA")
    assert "'Treasury General Account (TGA) Opening Balance' (2 rows from 2022-04-19 on)" in message


def test_fetch_refuses_an_answer_that_ignored_the_account_type_filter(tmp_path):
    ignoring = Scripted(tmp_path, [body(SEAM_ROWS)])  # every row, whatever was asked
    with pytest.raises(PayloadError) as err:
        treasury_dts.fetch(ignoring, None, None, account_type=treasury_dts.TGA_CLOSING_BALANCE)
    assert "got one labelled 'Federal Reserve Account' (the API ignored the account_type filter?)" in str(
        err.value
    )


def test_dts_release_rule_is_the_next_business_day_at_16_et():
    assert calendar.RELEASE_TIME_ET["dts"] == dt.time(16, 0)
    assert calendar.known_on("dts", dt.date(2025, 11, 21)) == dt.date(2025, 11, 24)  # Friday -> Monday
    assert calendar.known_on("dts", dt.date(2025, 11, 26)) == dt.date(2025, 11, 28)  # Thanksgiving skipped
    assert calendar.known_on("dts", dt.date(2025, 12, 31)) == dt.date(2026, 1, 2)  # New Year's Day skipped


def test_catalog_lists_the_dts_close_and_the_wednesday_tga_with_reconciliation_partners():
    dts = catalog.get("treasury_dts", "DTS_TGA_CLOSE")
    assert (dts.concept, dts.units, dts.scale, dts.cadence, dts.release_rule) == (
        "tga_daily",
        "Millions of U.S. Dollars",
        0.001,
        "daily",
        "dts",
    )
    partners = {
        p: catalog.get("fred" if "." not in p else "fed_ddp", p).dating for p in dts.reconciles_with.split()
    }
    assert partners == {
        "WDTGAL": "wednesday_level",
        "RESPPLLDT_N.WW": "wednesday_level",
        "WTREGEN": "week_average",
    }
    wdtgal = catalog.get("fred", "WDTGAL")
    assert (wdtgal.units, wdtgal.dating, wdtgal.release_rule) == (
        "Millions of U.S. Dollars",
        "wednesday_level",
        "h41",
    )
