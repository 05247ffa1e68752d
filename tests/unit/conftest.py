from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_env(clean_env: pytest.MonkeyPatch, tmp_path):
    """Never use a developer's real keys, data dir or replay setting; data goes to a tmp dir."""
    monkeypatch = clean_env
    monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(tmp_path / "data"))
