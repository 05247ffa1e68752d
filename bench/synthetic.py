"""Deterministic SYNTHETIC coins for the scale benchmark, in CoinGecko's exact wire formats.

`build_replay_dir(root, n_coins)` writes a replay snapshot folder `root/<cut>/` that the real
ingest path reads like any other (`LIQUIDITY_REPLAY_DIR`):

- `fred/`, `fed_ddp/`, `coingecko/global/` and the real `bitcoin` / `ethereum` files: copied byte
  for byte from the recorded snapshot `../shared/data/replay/<cut>`;
- `coingecko/export/synthetic-coin-NNNN-usd-max.csv`: a website-export body (header
  `snapped_at,price,market_cap,total_volume`, CRLF, one row per UTC day, 10 years to the cut);
- `coingecko/coins/synthetic-coin-NNNN/market_chart.json`: a `/market_chart?days=365` body
  (compact JSON, `[ms, value]` pairs at 00:00 UTC, the last 366 days of the same series);
- `MANIFEST.md` saying all of that.

The numbers are invented (a seeded geometric random walk), never market data: every id says
`synthetic-coin`, the MANIFEST says so, and the same seed always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import numpy as np

from ingest.errors import check_coin_id

SEED = 20260131
YEARS = 10
PREFIX = "synthetic-coin-"
REAL_COINS = ("bitcoin", "ethereum")
API_DAYS = 365  # the demo plan's market_chart window (ingest.coingecko.DEMO_MAX_DAYS)
GENERATOR_VERSION = 2  # bump when the bytes written change (2: treasury/ copied too)


def coin_id(index: int) -> str:
    return check_coin_id(f"{PREFIX}{index:04d}")


def coin_ids(n: int) -> list[str]:
    return [coin_id(i) for i in range(1, n + 1)]


def days(cut: dt.date, years: int = YEARS) -> list[dt.date]:
    first = cut.replace(year=cut.year - years)
    return [first + dt.timedelta(days=i) for i in range((cut - first).days + 1)]


def series(index: int, n_days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(price, market_cap, volume) in USD for coin `index`: a random walk seeded by (SEED, index)."""
    rng = np.random.default_rng([SEED, index])
    start_price = 10 ** rng.uniform(-3, 3)
    drift, vol = rng.uniform(-0.0005, 0.0015), rng.uniform(0.02, 0.07)
    price = start_price * np.exp(np.cumsum(rng.normal(drift, vol, n_days)))
    supply = 10 ** rng.uniform(5, 9) * np.exp(np.cumsum(np.abs(rng.normal(0.0002, 0.0002, n_days))))
    market_cap = price * supply
    volume = market_cap * np.exp(rng.normal(-3.0, 0.6, n_days))
    return price, market_cap, volume


def export_csv(dates: list[dt.date], price, market_cap, volume) -> bytes:
    lines = ["snapped_at,price,market_cap,total_volume"]
    lines += [
        f"{d.isoformat()} 00:00:00 UTC,{p!r},{c!r},{v!r}"
        for d, p, c, v in zip(dates, price.tolist(), market_cap.tolist(), volume.tolist(), strict=True)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def market_chart_json(dates: list[dt.date], price, market_cap, volume) -> bytes:
    tail = slice(len(dates) - (API_DAYS + 1), len(dates))
    stamps = [int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp() * 1000) for d in dates[tail]]

    def pairs(values) -> list:
        return [[t, v] for t, v in zip(stamps, values[tail].tolist(), strict=True)]

    payload = {"prices": pairs(price), "market_caps": pairs(market_cap), "total_volumes": pairs(volume)}
    return json.dumps(payload, separators=(",", ":")).encode()


MANIFEST = """# SYNTHETIC replay snapshot {cut} (benchmark only, not market data)

Written by `bench/synthetic.py` (generator version {version}, seed {seed}) for `make bench`'s
scale measurement. Same layout as `../shared/data/replay/<cut>/`, read by the real ingest path.

| files | what they are |
|---|---|
| fred/, fed_ddp/, treasury/, coingecko/global/, coingecko/export/bitcoin-usd-max.csv, coingecko/export/ethereum-usd-max.csv, coingecko/coins/bitcoin/, coingecko/coins/ethereum/ | byte-for-byte copies of the recorded snapshot {source} |
| coingecko/export/{prefix}NNNN-usd-max.csv ({n} files) | SYNTHETIC: CoinGecko website-export format, {years} years of daily rows to {cut}; invented prices (seeded geometric random walk) |
| coingecko/coins/{prefix}NNNN/market_chart.json ({n} files) | SYNTHETIC: `/coins/{{id}}/market_chart?vs_currency=usd&days={api_days}&interval=daily` format, the last {api_points} days of the same invented series |

Coin ids `{prefix}0001` .. `{prefix}{last:04d}` exist nowhere on CoinGecko.
"""


def build_replay_dir(root: Path, n_coins: int, source: Path) -> Path:
    """Write the synthetic snapshot for `n_coins` coins under `root/<source cut>/` and return it.

    `source` is the recorded snapshot folder (named after its cut date) whose real files are copied.
    Reuses a folder already written by the same generator version, seed and size.
    """
    cut = dt.date.fromisoformat(source.name)
    target = root / source.name
    stamp = target / ".generated"
    key = f"{GENERATOR_VERSION} {SEED} {n_coins} {YEARS}"
    if stamp.exists() and stamp.read_text() == key:
        return target
    if target.exists():
        shutil.rmtree(target)
    for part in ("fred", "fed_ddp", "treasury", "coingecko/global"):
        shutil.copytree(source / part, target / part)
    for coin in REAL_COINS:
        export = f"coingecko/export/{coin}-usd-max.csv"
        chart = f"coingecko/coins/{coin}/market_chart.json"
        for rel in (export, chart):
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / rel, target / rel)
    dates = days(cut)
    for index in range(1, n_coins + 1):
        cid = coin_id(index)
        price, cap, volume = series(index, len(dates))
        (target / f"coingecko/export/{cid}-usd-max.csv").write_bytes(export_csv(dates, price, cap, volume))
        chart = target / f"coingecko/coins/{cid}/market_chart.json"
        chart.parent.mkdir(parents=True, exist_ok=True)
        chart.write_bytes(market_chart_json(dates, price, cap, volume))
    (target / "MANIFEST.md").write_text(
        MANIFEST.format(
            cut=cut,
            version=GENERATOR_VERSION,
            seed=SEED,
            source=source,
            prefix=PREFIX,
            n=n_coins,
            years=YEARS,
            api_days=API_DAYS,
            api_points=API_DAYS + 1,
            last=n_coins,
        )
    )
    stamp.write_text(key)
    return target
