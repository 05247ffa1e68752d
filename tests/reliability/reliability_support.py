"""Helpers for the reliability suite: a routing handler for a local pytest-httpserver, a raw socket
server, a fast LiveTransport and a harness that points every source at the local server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from ingest import coingecko, fed_ddp, fred, load, settings, warehouse
from ingest.transport import HostRateLimiter, LiveTransport


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    hang: bool = False  # never answer in time (until the test ends)


@dataclasses.dataclass(frozen=True)
class Hit:
    path: str
    args: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() on arrival


class Router:
    """Routes by (path, id) where id is the `id`, `series_id` or `rel` query parameter (or None).

    A route holds a list of replies: each request takes the first; the last one repeats.
    """

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.routes: dict[tuple[str, str | None], list[Reply]] = {}
        self.hits: list[Hit] = []
        self.release = threading.Event()
        self._lock = threading.Lock()

    def url(self, path: str) -> str:
        return self.base_url + path

    def set(self, path: str, key: str | None, *replies: Reply) -> None:
        with self._lock:
            self.routes[(path, key)] = list(replies)

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.hits.clear()

    def hits_for(self, path: str, key: str | None = None) -> list[Hit]:
        return [h for h in self.hits if h.path == path and (key is None or _key(h.args) == key)]

    def __call__(self, request: WRequest) -> WResponse:
        args = dict(request.args)
        with self._lock:
            self.hits.append(Hit(request.path, args, dict(request.headers), time.monotonic()))
            replies = self.routes.get((request.path, _key(args)))
            if replies is None:
                reply = Reply(404, f"no route for {request.path} {_key(args)}".encode())
            else:
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
            release = self.release
        if reply.hang:
            release.wait(timeout=10)
        return WResponse(reply.body, status=reply.status, headers=reply.headers)


def _key(args: dict[str, str]) -> str | None:
    return args.get("id") or args.get("series_id") or args.get("rel")


class RawServer:
    """A bounded socket server: for each connection, read the request head, send `respond(n)`, close."""

    def __init__(self, respond: Callable[[int], bytes], max_connections: int = 10):
        self.respond = respond
        self.max_connections = max_connections
        self.connections = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set() and self.connections < self.max_connections:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                index = self.connections
                self.connections += 1
                conn.sendall(self.respond(index))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


def fast_transport(landing: Path | None, **options) -> LiveTransport:
    """LiveTransport with tiny backoff and no per-host interval, so failure paths take milliseconds."""
    settings_ = {
        "timeout": 2.0,
        "attempts": 3,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "rate_limiter": HostRateLimiter({}),
    }
    settings_.update(options)
    return LiveTransport(landing, **settings_)


FREDGRAPH = "/graph/fredgraph.csv"
FRED_SERIES = "/fred/series"
FRED_OBS = "/fred/series/observations"
DDP = "/datadownload/Output.aspx"
CG = "/api/v3"
CG_PRO = "/pro/api/v3"
EXPORT = "/price_charts/export/{coin}/usd.csv"
TODAY = dt.date(2026, 1, 31)


class Harness:
    """Every source pointed at the local server; a temp warehouse; loaders run like `load_all` does."""

    def __init__(self, router: Router, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wire):
        self.router = router
        self.wire = wire
        self.data_dir = tmp_path / "data"
        self.landing = self.data_dir / "landing"
        self.db = self.data_dir / "warehouse.duckdb"
        monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(self.data_dir))
        monkeypatch.setattr(fred, "FREDGRAPH_URL", router.url(FREDGRAPH))
        monkeypatch.setattr(fred, "API_ROOT", router.url("/fred"))
        monkeypatch.setattr(fed_ddp, "URL", router.url(DDP))
        monkeypatch.setattr(coingecko, "DEMO_ROOT", router.url(CG))
        monkeypatch.setattr(coingecko, "PRO_ROOT", router.url(CG_PRO))
        monkeypatch.setattr(coingecko, "EXPORT_URL", router.url(EXPORT))

    # Payload versions: v1 is the first load, v2 the next day's (one more observation per series).
    def serve_good(self, version: int, api_key: bool = False) -> None:
        w, r = self.wire, self.router
        cut = {1: 3, 2: 5}[version]
        for series_id, rows in (("WALCL", w.WALCL_ROWS), ("WTREGEN", w.WTREGEN_ROWS)):
            if api_key:
                r.set(
                    FRED_SERIES,
                    series_id,
                    Reply(body=w.fred_api_series(series_id, "Millions of U.S. Dollars")),
                )
                r.set(
                    FRED_OBS,
                    series_id,
                    Reply(
                        body=w.fred_api_observations(
                            [(d, v + ".0000000000" if "." not in v else v) for d, v in rows[:cut]]
                        )
                    ),
                )
            else:
                r.set(FREDGRAPH, series_id, Reply(body=w.fredgraph(series_id, rows[:cut])))
        ddp_cut = {1: 3, 2: 4}[version]
        r.set(DDP, "H41", Reply(body=w.ddp(w.H41_HEADER, w.H41_ROWS[:ddp_cut])))
        r.set(DDP, "H8", Reply(body=w.ddp(w.H8_HEADER, w.H8_ROWS[:ddp_cut])))
        points = w.BTC_POINTS[: {1: 4, 2: 5}[version]]
        r.set(f"{CG}/coins/bitcoin/market_chart", None, Reply(body=w.market_chart([*points, w.BTC_INTRADAY])))
        r.set(EXPORT.format(coin="bitcoin"), None, Reply(body=w.BTC_EXPORT))
        snapshot = json.loads(w.GLOBAL)
        snapshot["data"]["updated_at"] -= {1: 86400, 2: 0}[version]  # one /global snapshot per day
        r.set(f"{CG}/global", None, Reply(body=json.dumps(snapshot).encode()))

    def context(self, con, transport, fred_key: str | None = None, run_id: str = "run") -> load.LoadContext:
        return load.LoadContext(
            con=con,
            transport=transport,
            today=TODAY,
            run_id=run_id,
            keys=settings.ApiKeys(fred=fred_key, coingecko=None, coingecko_plan="demo"),
            start=dt.date(2003, 1, 1),
        )

    def run(
        self, transport, fred_key: str | None = None, run_id: str = "run"
    ) -> dict[tuple[str, str], load.SeriesLoad]:
        """One pass of every loader (FRED limited to WALCL and WTREGEN, CoinGecko to bitcoin)."""
        results: dict[tuple[str, str], load.SeriesLoad] = {}
        with warehouse.connect(self.db) as con:
            ctx = self.context(con, transport, fred_key, run_id)
            for source_load in (
                load.load_fred(ctx, ["WALCL", "WTREGEN"]),
                load.load_fed_ddp(ctx),
                load.load_coingecko_market_chart(ctx, ["bitcoin"]),
                load.load_coingecko_global(ctx),
            ):
                for s in source_load.series:
                    results[(s.source, s.series)] = s
        return results

    def table(self, sql: str) -> list[tuple]:
        with warehouse.connect(self.db) as con:
            return con.execute(sql).fetchall()

    def landed_files(self) -> set[Path]:
        return set(self.landing.rglob("*")) if self.landing.exists() else set()
