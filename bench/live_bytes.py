"""Requests and bytes of the ingest path in LIVE mode, against a local server with the real query
semantics: how much a first load and an incremental load really fetch.

Replay mode reads each snapshot file whole, whatever the request's window: its byte counts say
nothing about what `cosd=` (FRED), `from=` (DDP) or `days=` (CoinGecko) save on the wire. Here the
same loaders (`ingest.load.load_all`, live HTTP transport, landing archive) talk to
`tests/reliability/replay_server.py`, a 127.0.0.1 server that serves a replay snapshot the way each
source answers a query (rows outside the window dropped; the server's clock is the cut date).

`python -m bench.live_bytes <data_dir> <snapshot> [<snapshot> ...]` loads each snapshot in turn
into the same data dir (e.g. 2025-11-19, 2026-01-31, 2026-01-31 = first load, incremental, no-op)
and prints one JSON list, one entry per phase: requests, bytes (as counted by the transport) and
the server's own record of each request (route, status).

The pipeline's "today" is the snapshot's cut date in each phase (`ingest.load.replay_today`, as in
replay mode), so the CoinGecko `days=` window is what it would have been on that day.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

from bench.replay_server import ReplayServer, source_urls
from ingest import load


def point_sources_at(base_url: str) -> None:
    """Every fetcher's URL constant at the replay server's routes."""
    for entry in source_urls(base_url):
        setattr(*entry)


def run_phase(data_dir: Path, snapshot: Path) -> dict:
    cut = dt.date.fromisoformat(snapshot.name)
    load.replay_today = lambda: cut  # the pipeline's "today" is the snapshot's day
    with ReplayServer(snapshot, max_hits_per_route=10) as server:
        point_sources_at(server.base_url)
        # As `make run` and the schedules load: a series whose newest release is loaded is not asked.
        results = load.load_all(run_id=f"bench-live-{cut}", fetch_when_due=True)
        hits = [(h.kind, h.ident, h.status, _window(h.args)) for h in server.hits]
    sources = {}
    for res in results:
        entry = sources.setdefault(res.source, {"requests": 0, "bytes": 0, "failed": []})
        entry["requests"] += res.requests
        entry["bytes"] += res.bytes
        entry["failed"] += [s.message for s in res.series if s.status == "failed"]
    return {
        "snapshot": snapshot.name,
        "requests": sum(r.requests for r in results),
        "bytes": sum(r.bytes for r in results),
        "rows_inserted": sum(r.inserted for r in results),
        "by_source": sources,
        "server_hits": len(hits),
        "server_statuses": sorted({f"{kind} {status}" for kind, _, status, _ in hits}),
        "requests_detail": [
            f"{kind} {ident or ''} {window} -> {status}" for kind, ident, status, window in hits
        ],
    }


def _window(args: dict[str, str]) -> str:
    """The part of a request's query that sets its window (cosd/coed, from/to, days, DTS filter)."""
    keys = ("cosd", "coed", "observation_start", "observation_end", "from", "to", "days", "filter")
    return " ".join(f"{k}={args[k]}" for k in keys if args.get(k))


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    data_dir, snapshots = Path(argv[0]), [Path(p) for p in argv[1:]]
    for name in list(os.environ):
        if name.startswith(("LIQUIDITY_", "FRED_", "COINGECKO_")):
            del os.environ[name]
    os.environ["LIQUIDITY_DATA_DIR"] = str(data_dir)
    phases = [run_phase(data_dir, snapshot) for snapshot in snapshots]
    print(json.dumps(phases))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
