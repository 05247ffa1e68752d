from __future__ import annotations

import pytest

ENV = (
    "FRED_API_KEY",
    "COINGECKO_API_KEY",
    "COINGECKO_PLAN",
    "LIQUIDITY_DATA_DIR",
    "LIQUIDITY_REPLAY_DIR",
    "LIQUIDITY_START",
    "LIQUIDITY_COINS",
    "LIQUIDITY_DDP_PACKAGE_H41",
    "LIQUIDITY_DDP_PACKAGE_H8",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Never use a developer's real keys, data dir or replay setting."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(tmp_path / "data"))
