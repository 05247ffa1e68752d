"""The CoinGecko coin load on a replay snapshot: an unknown coin id and the 2026 export layout."""

from __future__ import annotations

import pytest

from ingest import load, warehouse
from ingest.errors import HttpError
from ingest.transport import make_transport


class CoinGeckoDoesNotKnow:
    """The replay transport, except that CoinGecko answers HTTP 404 'coin not found' for `coin`,
    as its API does for an id it does not know; records every request's series and URL."""

    def __init__(self, inner, coin: str):
        self.inner, self.coin, self.asked = inner, coin, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def fetch(self, request):
        self.asked.append((request.series, request.url))
        if request.series == self.coin:
            raise HttpError("coingecko", self.coin, "HTTP 404: CoinGecko error: coin not found", 404)
        return self.inner.fetch(request)


def test_an_unknown_coin_fails_clearly_before_anything_of_it_is_fetched_or_written(
    tmp_path, monkeypatch, replay_root
):
    monkeypatch.setenv("LIQUIDITY_COINS", "bitcoin,etherium")
    transport = CoinGeckoDoesNotKnow(make_transport(replay_root / "2025-11-19", None), "etherium")
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        res = load.run("coingecko_market_chart", load.context(con, transport))
        coins = {
            c for (c,) in con.execute("SELECT DISTINCT coin_id FROM raw.coingecko_market_chart").fetchall()
        }
    bad = res.series[1]
    assert (bad.series, bad.status) == ("etherium", "failed")
    assert bad.message.startswith("coingecko etherium: CoinGecko does not know the coin id 'etherium'")
    assert "LIQUIDITY_COINS" in bad.message
    # the API was asked first and once: the website export of that id was never requested
    assert [url for series, url in transport.asked if series == "etherium"] == [
        "https://api.coingecko.com/api/v3/coins/etherium/market_chart"
    ]
    assert coins == {"bitcoin"}
    with pytest.raises(Exception, match="1 series failed"):
        res.raise_for_failures()
