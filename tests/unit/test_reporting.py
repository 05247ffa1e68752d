"""The reporting package without a pipeline run: the CLI's exit code without serving.duckdb, the asset's
failure message, the single places the report reads its facts from (dbt vars, seed phases, catalog
credits), and the small helpers behind stale notes and number formats."""

from __future__ import annotations

import csv
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from ingest import catalog, settings
from reporting import charts, content, credits, html
from reporting.data import Serving, Thresholds, freshness, inputs_on, stale_since
from tests.conftest import PIPELINE_ENV


def test_cli_exits_2_and_points_to_make_run_without_serving(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in PIPELINE_ENV}
    env["LIQUIDITY_DATA_DIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "reporting"],
        cwd=settings.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "serving.duckdb does not exist yet" in proc.stderr
    assert "make run" in proc.stderr
    assert str(tmp_path / "serving.duckdb") in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "report").exists()


def test_asset_fails_with_the_same_hint_without_serving(tmp_path, clean_env):
    from orchestration.assets.report import liquidity_report

    clean_env.setenv("LIQUIDITY_DATA_DIR", str(tmp_path))
    result = dg.materialize([liquidity_report], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.event_specific_data.error.message
    assert "make run" in message and "serving.duckdb" in message
    assert not (tmp_path / "serving.duckdb").exists()


def test_report_asset_sits_after_serving_in_its_own_group():
    # The asset definition itself, not orchestration.definitions: importing that module here would build
    # its resources from this test's environment before the integration fixtures set theirs.
    from orchestration.assets.report import liquidity_report

    key = dg.AssetKey(["report", "liquidity_report"])
    spec = next(iter(liquidity_report.specs))
    assert spec.key == key
    assert spec.group_name == "report"
    assert spec.owners == ["team:analytics"]
    assert {dep.asset_key for dep in spec.deps} == {dg.AssetKey(["serving", "serving_duckdb"])}
    assert spec.description
    assert not liquidity_report.required_resource_keys - {"io_manager"}


def test_thresholds_are_read_from_the_liquidity_thresholds_rows():
    """The report takes each threshold from the mart's row (what the marts were built with), never
    from dbt_project.yml; a missing row is an error, not a default."""
    rows = pd.DataFrame(
        [
            ("reserve_abundant_pct", 14.5, None),
            ("reserve_scarce_pct", 9.0, None),
            ("reserves_gdp_threshold_pct", 10.0, None),
            ("sofr_iorb_threshold_bp", 0.0, None),
            ("sofr_effr_percentile", 0.95, None),
            ("sofr_effr_lookback_days", 365.0, None),
            ("on_rrp_buffer_bn", 75.0, None),
            ("standing_repo_used_min_bn", 0.0, None),
            ("on_rrp_zero_before", None, pd.Timestamp("2013-09-23")),
        ],
        columns=["name", "value", "value_date"],
    )
    t = Thresholds.from_mart(rows)
    assert (t.reserve_abundant_pct, t.on_rrp_buffer_bn, t.sofr_effr_lookback_days) == (14.5, 75.0, 365)
    assert t.on_rrp_zero_before == dt.date(2013, 9, 23)
    with pytest.raises(ValueError, match="on_rrp_buffer_bn"):
        Thresholds.from_mart(rows[rows["name"] != "on_rrp_buffer_bn"])


def test_every_seed_policy_phase_has_a_stance_the_charts_shade_or_leave_steady():
    with (settings.DBT_PROJECT_DIR / "seeds" / "fed_policy_events.csv").open(newline="") as fh:
        stances = {row["stance"] for row in csv.DictReader(fh)}
    assert stances <= {*charts.STANCE_STYLE, "steady"}
    assert not hasattr(charts, "PHASE_STANCE")


def test_every_fred_series_of_the_catalog_has_a_credited_publisher():
    fred = [s.series_id for s in catalog.series_for("fred")]
    missing = [sid for sid in fred if sid not in credits.FRED_PUBLISHERS]
    assert not missing, f"add the original source of {missing} to reporting.credits.FRED_PUBLISHERS"
    ddp_datasets = {s.dataset for s in catalog.series_for("fed_ddp")}
    assert ddp_datasets <= set(credits.DDP_RELEASES)


def test_credits_follow_fred_citation_form_and_group_by_source():
    lines = credits.short_credit(["WALCL", "RRPONTSYD", "WTREGEN", "B1151NCBD"], coingecko=True)
    assert lines[0] == (
        "Source: Board of Governors of the Federal Reserve System (US) [WALCL, WTREGEN]; "
        "Federal Reserve Bank of New York [RRPONTSYD], retrieved from FRED, Federal Reserve Bank of St. Louis."
    )
    assert "(H.8), Data Download Program [B1151NCBD]" in lines[1]
    assert lines[2].startswith("Data provided by CoinGecko")
    (walcl,) = credits.full_citations(["WALCL"])
    assert walcl.endswith(
        "[WALCL], retrieved from FRED, Federal Reserve Bank of St. Louis; https://fred.stlouisfed.org/series/WALCL"
    )
    (dts,) = credits.short_credit(["DTS_TGA_CLOSE"])
    assert dts == (
        "Source: U.S. Department of the Treasury, Bureau of the Fiscal Service, Daily Treasury Statement, "
        "Operating Cash Balance [DTS_TGA_CLOSE], Fiscal Data."
    )
    (dts_citation,) = credits.full_citations(["DTS_TGA_CLOSE"])
    assert dts_citation.endswith(
        "[DTS_TGA_CLOSE], Fiscal Data; https://fiscaldata.treasury.gov/datasets/daily-treasury-statement/"
        "operating-cash-balance"
    )
    assert credits.series_id("fed_total_assets") == "WALCL"
    with pytest.raises(KeyError):
        credits.series_id("no_such_concept")


def frame(stale: list[str | None], missing: list[str | None] | None = None) -> pd.DataFrame:
    days = pd.date_range("2026-01-01", periods=len(stale), freq="D")
    return pd.DataFrame(
        {"date": days, "stale_inputs": stale, "missing_inputs": missing or [None] * len(stale)}
    )


def test_stale_since_is_the_start_of_the_final_stale_run():
    f = frame(["btfp", None, "btfp", "bank_assets,btfp", "bank_assets,btfp"])
    assert stale_since(f, "btfp") == dt.date(2026, 1, 3)
    assert stale_since(f, "bank_assets") == dt.date(2026, 1, 4)
    assert stale_since(f, "tga") is None
    assert stale_since(frame(["gdp", "gdp"]), "gdp") == dt.date(2026, 1, 1)
    assert stale_since(frame(["btfp", None]), "btfp") is None
    assert inputs_on(f, "stale_inputs", dt.date(2026, 1, 4)) == {"bank_assets", "btfp"}
    assert inputs_on(f, "stale_inputs", dt.date(2026, 1, 2)) == set()


def test_number_formats():
    assert content._fmt(5654.897, "USD bn") == "5,654.9"
    assert content._fmt(84141.77, "USD") == "84,142"
    assert content._fmt(9.33051, "%") == "9.33"
    assert content._fmt(3.0, "bp") == "+3.0"
    assert content._fmt(-0.04, "bp") == "0.0"
    assert content._fmt(-12.25, "bp") == "-12.2"


def mart_row(
    source, series_id, status, last=None, value=None, known=None, *, unit="usd_bn", stale=13, required=True
):
    """A series_freshness row as serving.duckdb holds it (only the columns the report reads)."""
    as_of = dt.date(2026, 1, 31)
    return {
        "source": source,
        "series_id": series_id,
        "title": f"title of {series_id}",
        "cadence": "weekly" if stale == 13 else "daily",
        "is_required": required,
        "max_stale_days": stale,
        "target_unit": unit,
        "last_observation_date": last,
        "last_value": value,
        "last_known_on": known,
        "as_of_date": as_of,
        "days_since_observation": None if last is None else (as_of - last).days,
        "stale_from_date": None if last is None else last + dt.timedelta(days=stale + 1),
        "status": status,
    }


def test_freshness_rows_are_the_marts_in_catalog_order_with_display_units():
    d = dt.date
    rows = [
        mart_row(
            "coingecko",
            "global",
            "stale",
            d(2025, 8, 15),
            4.0843e12,
            d(2025, 8, 15),
            unit="usd",
            stale=1,
            required=False,
        ),
        mart_row(
            "coingecko", "bitcoin", "current", d(2026, 1, 31), 1.6808e12, d(2026, 1, 31), unit="usd", stale=1
        ),
        mart_row(
            "fed_ddp", "RESPPALDK_N.WW", "stale", d(2023, 3, 22), 53.669, d(2023, 3, 23), required=False
        ),
        mart_row("fred", "RPONTSYD", "missing", stale=4, required=False),
        mart_row("fred", "SOFR", "current", d(2026, 1, 30), 3.68, d(2026, 2, 2), unit="pct", stale=4),
        mart_row("fred", "WALCL", "current", d(2026, 1, 28), 6587.568, d(2026, 1, 29)),
    ]
    empty = pd.DataFrame()
    serving = Serving(
        Path("serving.duckdb"),
        dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        *[empty] * 5,
        pd.DataFrame(rows),
        lead_over_time=empty,
        event_windows=empty,
        thresholds=None,
    )
    out = freshness(serving)
    # catalog order (ingest/series_catalog.csv), then the coins, the total market cap last
    assert [f.series for f in out] == ["WALCL", "SOFR", "RPONTSYD", "RESPPALDK_N.WW", "bitcoin", "global"]
    walcl, sofr, repo, btfp, btc, total = out
    assert (walcl.source, walcl.last_observation, walcl.known_on) == ("FRED", d(2026, 1, 28), d(2026, 1, 29))
    assert (walcl.value, walcl.unit, walcl.days_behind, walcl.status, walcl.note) == (
        6587.568,
        "USD bn",
        3,
        "current",
        "",
    )
    assert (sofr.unit, sofr.cadence) == ("%", "daily, 4 d")
    assert (repo.value, repo.last_observation, repo.days_behind, repo.status) == (None, None, None, "missing")
    assert repo.note == "optional; no observation in the warehouse"
    assert btfp.source == "Fed DDP" and btfp.note == "optional; stale since 2023-04-05"
    assert btc.source == "CoinGecko" and btc.value == pytest.approx(1680.8) and btc.unit == "USD bn"
    assert total.note == "optional; stale since 2025-08-17" and total.days_behind == 169

    page = html.render(
        data_through=d(2026, 1, 31),
        generated="now",
        serving_path="serving.duckdb",
        serving_modified="then",
        warnings=[],
        latest=[],
        signals_date=d(2026, 1, 31),
        signals=[],
        signals_summary="",
        charts=[],
        coin_leads=[],
        lead_intervals=[],
        events=[],
        freshness=out,
        citations=[],
        coingecko=credits.COINGECKO,
    )
    table = page.split('id="freshness-table"')[1].split("</table>")[0].replace("\n", "")
    assert '<tr data-series="WALCL">' in table and '<tr data-series="RPONTSYD" class="stale">' in table
    walcl_row = table.split('data-series="WALCL"')[1].split("</tr>")[0]
    assert '<td class="num">6,587.6</td><td class="nowrap">USD bn</td>' in walcl_row
    assert '<td class="num">3</td><td>current</td>' in walcl_row
    btc_row = table.split('data-series="bitcoin"')[1].split("</tr>")[0]
    assert '<td class="num">1,680.8</td>' in btc_row
    repo_row = table.split('data-series="RPONTSYD"')[1].split("</tr>")[0]
    assert (
        '<td class="num">-</td><td class="nowrap">USD bn</td><td class="num">-</td><td>missing</td>'
        in repo_row
    )
