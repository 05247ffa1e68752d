"""Identifier checks, secret redaction, Retry-After parsing, settings from the environment."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from pathlib import Path

import pytest

from ingest import coingecko, fred, settings
from ingest.errors import (
    HttpError,
    InvalidIdentifier,
    SourceError,
    check_coin_id,
    check_series_id,
    redact,
)
from ingest.transport import RedactingFilter, Request, _retry_after_seconds

BAD_IDS = [
    "../../etc",
    "..",
    "WALCL/../x",
    "a b",
    "",
    "WALCL;DROP TABLE x",
    "WAL\nCL",
    "%2e%2e",
    "/etc",
    "x" * 65,
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_series_ids_rejected(bad):
    with pytest.raises(InvalidIdentifier, match="rejected series id"):
        check_series_id(bad)
    with pytest.raises(InvalidIdentifier):
        fred.fredgraph_request(bad, None, None)
    with pytest.raises(InvalidIdentifier):
        fred.api_observations_request(bad, "key", None, None)


@pytest.mark.parametrize("bad", [*BAD_IDS, "Bitcoin", "bit_coin", "bitcoin.json"])
def test_bad_coin_ids_rejected(bad):
    with pytest.raises(InvalidIdentifier, match="rejected coin id"):
        check_coin_id(bad)
    with pytest.raises(InvalidIdentifier):
        coingecko.market_chart_request(bad, 365, None, "demo")
    with pytest.raises(InvalidIdentifier):
        coingecko.export_request(bad)


@pytest.mark.parametrize("good", ["WALCL", "RESPPALDK_N.WW", "TLAACBW027SBOG", "RESPPLLDT_XAW_N.WW"])
def test_good_series_ids(good):
    assert check_series_id(good) == good


@pytest.mark.parametrize("good", ["bitcoin", "ethereum", "terra-luna", "usd-coin"])
def test_good_coin_ids(good):
    assert check_coin_id(good) == good


def test_source_error_message_names_source_series_reason():
    err = HttpError("fred", "WALCL", "HTTP 500", 500)
    assert str(err) == "fred WALCL: HTTP 500" and isinstance(err, SourceError)
    assert (err.source, err.series, err.reason, err.status) == ("fred", "WALCL", "HTTP 500", 500)
    assert str(SourceError("coingecko", None, "3 series failed")) == "coingecko: 3 series failed"


def test_redact_secrets_and_api_key_query_values():
    text = "GET /fred/series?series_id=WALCL&api_key=abc123&file_type=json x_cg_demo_api_key=zz9 k3y"
    clean = redact(text, ["k3y"])
    assert "abc123" not in clean and "zz9" not in clean and "k3y" not in clean
    assert "api_key=***" in clean and "series_id=WALCL" in clean


def test_request_redacted_url_and_secrets():
    req = Request(
        "fred",
        "WALCL",
        "https://api.stlouisfed.org/fred/series",
        "x",
        {"api_key": "s3cr3t", "a": "1"},
        headers={"x-cg-demo-api-key": "h3ad"},
        secret_params=("api_key",),
    )
    assert "s3cr3t" not in req.redacted_url() and "a=1" in req.redacted_url()
    assert sorted(req.secrets()) == ["h3ad", "s3cr3t"]


def test_redacting_filter_scrubs_formatted_records():
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '%s://%s:%s "%s %s %s" %s %s',
        (
            "https",
            "api.stlouisfed.org",
            443,
            "GET",
            "/fred/series?series_id=WALCL&api_key=s3cr3t",
            "HTTP/1.1",
            200,
            123,
        ),
        None,
    )
    assert RedactingFilter(["s3cr3t"]).filter(record) is True
    assert "s3cr3t" not in record.getMessage() and "api_key=***" in record.getMessage()


def test_retry_after_seconds_and_http_date():
    assert _retry_after_seconds("3") == 3.0
    assert _retry_after_seconds(None) is None and _retry_after_seconds("soon") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    seconds = _retry_after_seconds(email.utils.format_datetime(later, usegmt=True))
    assert 25 <= seconds <= 31
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30)
    assert _retry_after_seconds(email.utils.format_datetime(past, usegmt=True)) == 0.0


def test_settings_read_the_environment_at_call_time(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(tmp_path / "d"))
    assert settings.data_dir() == (tmp_path / "d").resolve()
    assert settings.warehouse_path() == (tmp_path / "d" / "warehouse.duckdb").resolve()
    assert settings.landing_dir() == (tmp_path / "d" / "landing").resolve()
    assert settings.replay_dir() is None
    monkeypatch.setenv("LIQUIDITY_REPLAY_DIR", str(tmp_path))
    assert settings.replay_dir() == tmp_path.resolve()
    monkeypatch.setenv("LIQUIDITY_REPLAY_DIR", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="LIQUIDITY_REPLAY_DIR"):
        settings.replay_dir()
    monkeypatch.setenv("LIQUIDITY_COINS", " bitcoin, ,ethereum ")
    assert settings.coins() == ["bitcoin", "ethereum"]
    monkeypatch.setenv("COINGECKO_PLAN", "enterprise")
    with pytest.raises(ValueError, match="COINGECKO_PLAN"):
        settings.api_keys()
    monkeypatch.setenv("COINGECKO_PLAN", "PRO")
    monkeypatch.setenv("FRED_API_KEY", "f")
    keys = settings.api_keys()
    assert keys.coingecko_plan == "pro" and keys.secrets() == ["f"]
