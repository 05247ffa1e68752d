"""LiveTransport against a local server: retries, Retry-After, timeouts, truncation, unreachable
hosts, the per-host rate limiter, the User-Agent and the landing archive."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time

import pytest
import requests
import responses
from reliability_support import Reply
from responses import registries

from ingest import fred
from ingest.errors import HttpError, NetworkUnreachable
from ingest.transport import USER_AGENT, HostRateLimiter, Request

PATH = "/graph/fredgraph.csv"
CSV = b"observation_date,WALCL\n2026-01-21,6584580\n2026-01-28,6587568\n"


def walcl(url: str, **params) -> Request:
    return Request("fred", "WALCL", url, "fred/fredgraph/WALCL.csv", {"id": "WALCL", **params})


def transport_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "ingest.transport"]


def retry_waits(caplog) -> list[float]:
    """The waits tenacity chose, as logged by the transport's before_sleep hook."""
    found = (re.search(r"retry \d+/\d+ in ([\d.]+)s", r.getMessage()) for r in transport_records(caplog))
    return [float(m.group(1)) for m in found if m]


def test_429_without_retry_after_is_retried_with_backoff(router, make_transport, caplog, scenario):
    caplog.set_level(logging.WARNING, logger="ingest.transport")
    router.set(PATH, "WALCL", Reply(429, b"Too Many Requests"), Reply(429, b""), Reply(200, CSV))
    resp = make_transport(attempts=5).fetch(walcl(router.url(PATH)))
    assert resp.status == 200 and resp.body == CSV
    assert len(router.hits_for(PATH, "WALCL")) == 3
    waits = retry_waits(caplog)
    assert len(waits) == 2 and all(w <= 0.05 for w in waits)  # exponential, capped by max_backoff
    assert all(
        "HTTP 429" in r.getMessage() and "fred WALCL" in r.getMessage() for r in transport_records(caplog)
    )
    scenario(
        "retried with exponential backoff, then succeeds",
        f"statuses 429, 429, 200; waits {waits} s (backoff capped at 0.05 s in this test)",
        name="transport: 429 without Retry-After",
    )


def test_429_retry_after_is_honoured(router, make_transport, caplog, scenario):
    caplog.set_level(logging.WARNING, logger="ingest.transport")
    router.set(PATH, "WALCL", Reply(429, b"", {"Retry-After": "1"}), Reply(200, CSV))
    started = time.monotonic()
    resp = make_transport(attempts=3).fetch(walcl(router.url(PATH)))
    elapsed = time.monotonic() - started
    assert resp.status == 200
    hits = router.hits_for(PATH, "WALCL")
    assert len(hits) == 2
    assert hits[1].at - hits[0].at >= 0.95  # the server's 1 s, not the 0.01 s backoff
    assert elapsed < 5
    assert retry_waits(caplog) == [1.0]
    scenario(
        "waits the server's Retry-After (not the backoff), then succeeds",
        f"waited {retry_waits(caplog)} s for 'Retry-After: 1'; {len(hits)} requests; 200",
        name="transport: 429 with Retry-After",
    )


def test_retry_after_is_capped(router, make_transport, caplog, scenario):
    caplog.set_level(logging.WARNING, logger="ingest.transport")
    router.set(PATH, "WALCL", Reply(429, b"", {"Retry-After": "3600"}), Reply(200, CSV))
    started = time.monotonic()
    make_transport(retry_after_cap=0.2).fetch(walcl(router.url(PATH)))
    assert time.monotonic() - started < 3
    assert retry_waits(caplog) == [0.2]
    scenario(
        "a huge Retry-After is capped (retry_after_cap)",
        f"'Retry-After: 3600' -> waited {retry_waits(caplog)} s (cap 0.2 s)",
        name="transport: 429 with Retry-After: 3600",
    )


def test_429_persistent_names_source_series_and_rate_limit(router, make_transport, scenario):
    router.set(PATH, "WALCL", Reply(429, b"", {"Retry-After": "0"}))
    with pytest.raises(HttpError) as info:
        make_transport(attempts=3).fetch(walcl(router.url(PATH)))
    assert str(info.value).startswith("fred WALCL: rate limited (HTTP 429)")
    assert "still limited after 3 attempts" in str(info.value)
    assert info.value.status == 429
    assert len(router.hits_for(PATH, "WALCL")) == 3
    scenario(
        "gives up after the attempts with an error naming source, series and the rate limit",
        f"{len(router.hits_for(PATH, 'WALCL'))} requests; '{str(info.value)[:70]}...'",
        name="transport: persistent 429",
    )


def test_500_burst_then_success(router, make_transport, scenario):
    router.set(PATH, "WALCL", Reply(500), Reply(502), Reply(503), Reply(200, CSV))
    resp = make_transport(attempts=5).fetch(walcl(router.url(PATH)))
    assert resp.body == CSV
    assert len(router.hits_for(PATH, "WALCL")) == 4
    scenario(
        "retried, then succeeds with the full body",
        "statuses 500, 502, 503, 200; body intact",
        name="transport: 500/502/503 burst",
    )


def test_500_persistent_is_an_http_error_naming_source_and_series(router, make_transport, scenario):
    router.set(PATH, "WALCL", Reply(500, b"Internal Server Error"))
    with pytest.raises(HttpError) as info:
        make_transport(attempts=3).fetch(walcl(router.url(PATH)))
    err = info.value
    assert (err.source, err.series, err.status) == ("fred", "WALCL", 500)
    assert str(err).startswith("fred WALCL: HTTP 500 from http://127.0.0.1:")
    assert "still failing after 3 attempts" in str(err)
    assert len(router.hits_for(PATH, "WALCL")) == 3
    scenario(
        "HttpError naming source, series, status and URL after the attempts",
        f"3 requests; '{str(err)[:60]}...'",
        name="transport: persistent 500",
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(router, make_transport, status, scenario):
    router.set(PATH, "WALCL", Reply(status, b"Bad Request.  The series does not exist."))
    with pytest.raises(HttpError) as info:
        make_transport().fetch(walcl(router.url(PATH)))
    assert info.value.status == status
    assert f"HTTP {status} from" in str(info.value) and "The series does not exist." in str(info.value)
    assert len(router.hits_for(PATH, "WALCL")) == 1
    scenario(
        "not retried; the error quotes the source's message",
        f"{len(router.hits_for(PATH, 'WALCL'))} request; HttpError status {info.value.status}",
        name=f"transport: HTTP {status}",
    )


def test_slow_response_times_out_with_a_clear_error(router, make_transport, scenario):
    router.set(PATH, "WALCL", Reply(hang=True))
    started = time.monotonic()
    with pytest.raises(HttpError) as info:
        make_transport(timeout=0.2, attempts=2).fetch(walcl(router.url(PATH)))
    assert time.monotonic() - started < 3
    assert str(info.value).startswith("fred WALCL: no response within 0.2s (timeout)")
    assert "still failing after 2 attempts" in str(info.value)
    assert len(router.hits_for(PATH, "WALCL")) == 2
    scenario(
        "each attempt times out; a clear timeout error, in bounded time",
        f"2 requests; '{str(info.value)[:60]}...'",
        name="transport: slow response past the timeout (persistent)",
    )


def test_timeout_then_success(router, make_transport, scenario):
    router.set(PATH, "WALCL", Reply(hang=True), Reply(200, CSV))
    assert make_transport(timeout=0.2).fetch(walcl(router.url(PATH))).body == CSV
    scenario(
        "retried after the timeout, then succeeds",
        f"{len(router.hits_for(PATH, 'WALCL'))} requests; body intact",
        name="transport: slow response past the timeout, once",
    )


def test_connection_refused_is_network_unreachable_naming_the_replay_setting(
    closed_port_url, make_transport, scenario
):
    started = time.monotonic()
    with pytest.raises(NetworkUnreachable) as info:
        make_transport(attempts=2).fetch(walcl(closed_port_url + PATH))
    assert time.monotonic() - started < 3
    message = str(info.value)
    assert message.startswith("fred WALCL: cannot connect to 127.0.0.1")
    assert "LIQUIDITY_REPLAY_DIR" in message
    scenario(
        "fails fast (one quick retry) with NetworkUnreachable naming LIQUIDITY_REPLAY_DIR",
        f"'{message[:60]}...'",
        name="transport: connection refused",
    )


@responses.activate
def test_dns_failure_is_network_unreachable(make_transport, scenario):
    url = "https://fred.stlouisfed.org/graph/fredgraph.csv"
    responses.add(
        responses.GET,
        url,
        body=requests.exceptions.ConnectionError(
            "HTTPSConnectionPool(host='fred.stlouisfed.org', port=443): Max retries exceeded "
            "(Caused by NameResolutionError(\"Failed to resolve 'fred.stlouisfed.org' "
            '([Errno -3] Temporary failure in name resolution)"))'
        ),
    )
    with pytest.raises(NetworkUnreachable, match="LIQUIDITY_REPLAY_DIR") as info:
        make_transport(attempts=2).fetch(walcl(url))
    scenario(
        "NetworkUnreachable naming LIQUIDITY_REPLAY_DIR",
        f"{len(responses.calls)} calls; '{str(info.value)[:60]}...'",
        name="transport: DNS failure",
    )


@responses.activate
def test_connect_timeout_is_network_unreachable(make_transport):
    url = "https://fred.stlouisfed.org/graph/fredgraph.csv"
    responses.add(responses.GET, url, body=requests.exceptions.ConnectTimeout("connect timed out"))
    with pytest.raises(NetworkUnreachable, match="connection to fred.stlouisfed.org timed out"):
        make_transport(attempts=2).fetch(walcl(url))


@responses.activate(registry=registries.OrderedRegistry)
def test_connection_reset_is_retried(make_transport, scenario):
    url = "https://fred.stlouisfed.org/graph/fredgraph.csv"
    responses.add(responses.GET, url, body=requests.exceptions.ConnectionError("Connection aborted."))
    responses.add(responses.GET, url, body=CSV, status=200)
    assert make_transport().fetch(walcl(url)).body == CSV
    assert len(responses.calls) == 2
    scenario(
        "retried, then succeeds",
        f"{len(responses.calls)} calls ('Connection aborted.', then 200)",
        name="transport: connection reset",
    )


def truncated(body: bytes, declared: int) -> bytes:
    head = f"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


def test_truncated_body_is_retried_then_a_clear_error(raw_server, make_transport, scenario):
    server = raw_server(lambda n: truncated(CSV[:30], len(CSV)), max_connections=3)
    with pytest.raises(HttpError) as info:
        make_transport(attempts=3).fetch(walcl(server.url + PATH))
    assert str(info.value).startswith(
        "fred WALCL: response body truncated (connection closed before Content-Length)"
    )
    assert server.connections == 3  # every attempt was made
    scenario(
        "each truncated body retried; then a clear error",
        f"{server.connections} connections; '{str(info.value)[:70]}...'",
        name="transport: truncated body (persistent)",
    )


def test_truncated_body_then_complete_body(raw_server, make_transport, scenario):
    server = raw_server(lambda n: truncated(CSV[:30], len(CSV)) if n == 0 else truncated(CSV, len(CSV)), 2)
    resp = make_transport(attempts=3).fetch(walcl(server.url + PATH))
    assert resp.body == CSV and server.connections == 2
    scenario(
        "retried, then the complete body",
        f"{server.connections} connections; body intact",
        name="transport: truncated body, once",
    )


def test_user_agent_and_query_are_sent(router, make_transport):
    router.set(PATH, "WALCL", Reply(200, CSV))
    make_transport().fetch(walcl(router.url(PATH), cosd="2026-01-01"))
    hit = router.hits_for(PATH, "WALCL")[0]
    assert hit.headers["User-Agent"] == USER_AGENT
    assert hit.args == {"id": "WALCL", "cosd": "2026-01-01"}


def test_coingecko_key_header_is_sent(router, make_transport):
    router.set("/api/v3/coins/bitcoin/market_chart", None, Reply(200, b'{"prices":[]}'))
    req = Request(
        "coingecko",
        "bitcoin",
        router.url("/api/v3/coins/bitcoin/market_chart"),
        "x",
        {"vs_currency": "usd"},
        headers={"x-cg-demo-api-key": "demo-k"},
    )
    make_transport().fetch(req)
    assert router.hits[-1].headers["X-Cg-Demo-Api-Key"] == "demo-k"


def test_rate_limiter_enforces_min_interval_per_host():
    limiter = HostRateLimiter({"a.example": 0.1})
    stamps = []
    for _ in range(4):
        limiter.wait("a.example")
        stamps.append(time.monotonic())
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert all(g >= 0.095 for g in gaps), gaps
    started = time.monotonic()
    limiter.wait("b.example")  # another host: no wait (default 0)
    assert time.monotonic() - started < 0.05


def test_rate_limiter_defaults_cover_every_source_host():
    limiter = HostRateLimiter()
    assert limiter.min_interval["api.stlouisfed.org"] >= 0.5  # FRED: bursts over ~2/s get 429
    assert limiter.min_interval["api.coingecko.com"] >= 2.0  # demo: ~30 calls/minute
    assert "www.federalreserve.gov" in limiter.min_interval


def test_transport_applies_the_rate_limiter(router, make_transport):
    router.set(PATH, "WALCL", Reply(200, CSV))
    transport = make_transport(rate_limiter=HostRateLimiter({"127.0.0.1": 0.15}))
    started = time.monotonic()
    for _ in range(3):
        transport.fetch(walcl(router.url(PATH)))
    assert time.monotonic() - started >= 0.29
    hits = router.hits_for(PATH, "WALCL")
    assert all(b.at - a.at >= 0.08 for a, b in zip(hits, hits[1:], strict=False))  # server-side jitter


def test_landing_archive_body_and_meta(router, make_transport, tmp_path):
    router.set("/fred/series/observations", "WALCL", Reply(200, CSV))
    router.set(PATH, "WTREGEN", Reply(500, b"oops"), Reply(200, CSV.replace(b"WALCL", b"WTREGEN")))
    transport = make_transport()
    req = fred.api_observations_request("WALCL", "landing-key-123", None, None)
    req = Request(
        req.source,
        req.series,
        router.url("/fred/series/observations"),
        req.replay_path,
        req.params,
        secret_params=req.secret_params,
    )
    resp = transport.fetch(req)
    assert resp.landing_path is not None and resp.landing_path.read_bytes() == CSV
    meta = json.loads(resp.landing_path.with_name(resp.landing_path.name + ".meta.json").read_text())
    assert meta["sha256"] == hashlib.sha256(CSV).hexdigest() == resp.sha256
    assert meta["status"] == 200 and meta["bytes"] == len(CSV)
    assert meta["source"] == "fred" and meta["series"] == "WALCL"
    assert "landing-key-123" not in meta["url"] and "api_key=%2A%2A%2A" in meta["url"]
    assert resp.landing_path.parent.parent.name == "fred"
    assert resp.landing_path.name.endswith("_200_fred__api__series__observations__WALCL.json")
    # error bodies are archived too, with their status
    transport.fetch(
        Request("fred", "WTREGEN", router.url(PATH), "fred/fredgraph/WTREGEN.csv", {"id": "WTREGEN"})
    )
    names = sorted(p.name for p in (tmp_path / "landing").rglob("*") if p.is_file())
    assert any("_500_fred__fredgraph__WTREGEN.csv" in n and not n.endswith(".json") for n in names)
    assert not any(n.endswith(".part") for n in names)
    for path in (tmp_path / "landing").rglob("*"):
        if path.is_file():
            assert b"landing-key-123" not in path.read_bytes()


def test_no_landing_root_writes_nothing(router, make_transport, tmp_path):
    router.set(PATH, "WALCL", Reply(200, CSV))
    resp = make_transport(landing=None).fetch(walcl(router.url(PATH)))
    assert resp.landing_path is None and not (tmp_path / "landing").exists()


def test_counters(router, make_transport):
    router.set(PATH, "WALCL", Reply(500), Reply(200, CSV))
    transport = make_transport()
    transport.fetch(walcl(router.url(PATH)))
    assert transport.requests_made == 2
    assert transport.bytes_fetched == len(CSV)
