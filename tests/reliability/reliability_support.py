"""Helpers for the reliability suite: a routing handler for a local pytest-httpserver, a raw socket
server, a fast LiveTransport, a harness that points every source at the local server, and full runs
through `make run`'s entry point (`run_cli`) with output capture and table hashes."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug import Request as WRequest
from werkzeug import Response as WResponse

from bench.replay_server import CG, CG_PRO, DDP, EXPORT, FRED_OBS, FRED_SERIES, FREDGRAPH, source_urls
from ingest import coingecko, fed_ddp, fred, load, settings, warehouse
from ingest.transport import HostRateLimiter, LiveTransport, RedactingFilter


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

    A route holds a list of replies: each request takes the first; the last one repeats. A DDP
    reply of status 200 is answered with the DDP's query semantics (`fed_ddp.serve`: the `from`/`to`
    window, `label=omit`), as the real program would for that file.
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
        body = fed_ddp.serve(reply.body, args) if request.path == DDP and reply.status == 200 else reply.body
        return WResponse(body, status=reply.status, headers=reply.headers)


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
                load.run("fred_observations", ctx, ["WALCL", "WTREGEN"]),
                load.run("fed_ddp_observations", ctx),
                load.run("coingecko_market_chart", ctx, ["bitcoin"]),
                load.run("coingecko_global", ctx),
            ):
                for s in source_load.series:
                    results[(s.source, s.series)] = s
        return results

    def table(self, sql: str) -> list[tuple]:
        with warehouse.connect(self.db) as con:
            return con.execute(sql).fetchall()

    def landed_files(self) -> set[Path]:
        return set(self.landing.rglob("*")) if self.landing.exists() else set()


# --- full runs through `make run`'s entry point (orchestration.cli.main) ---------------------------

SENTINEL_FRED_KEY = "SENTINEL-fred-key-5f1c2b"
SENTINEL_CG_KEY = "SENTINEL-cg-key-0d9e7a"
SENTINELS = (SENTINEL_FRED_KEY, SENTINEL_CG_KEY)
# FRED through the API with the key, CoinGecko pro: the configuration whose fetches match a replay
# run exactly (the replay snapshot has the paid total-market-cap chart).
KEYED = {"FRED_API_KEY": SENTINEL_FRED_KEY, "COINGECKO_API_KEY": SENTINEL_CG_KEY, "COINGECKO_PLAN": "pro"}
# The transport as in production (attempts, Retry-After cap, per-host rate limiter) except that a
# request times out after TIMEOUT and the exponential backoff starts at 10 ms: failure paths take
# seconds instead of minutes. The per-host limiter needs no change: its intervals are keyed by the
# real hostnames, and 127.0.0.1 has none.
TIMEOUT = 2.0
FAST_LIVE = {"timeout": TIMEOUT, "backoff": 0.01, "max_backoff": 0.05}
# Every setting the pipeline reads (tests/conftest.py PIPELINE_ENV) and Dagster's home, by prefix.
PIPELINE_ENV_PREFIXES = ("LIQUIDITY_", "FRED_", "COINGECKO_", "DAGSTER_")
LOGGERS = ("", "urllib3", "urllib3.connectionpool", "requests", "ingest.transport", "ingest.load")


@dataclasses.dataclass
class CliRun:
    code: int
    data_dir: Path
    dagster_home: Path
    transports: list
    output: str = ""  # stdout + stderr (Python and file-descriptor level), when captured
    records: list[str] = dataclasses.field(default_factory=list)  # every log record, as emitted
    hits: list = dataclasses.field(default_factory=list)  # what the local server received


def point_sources_at(mp: pytest.MonkeyPatch, base_url: str) -> None:
    """The fetchers' URL constants, as the reliability harness sets them (see Harness)."""
    for entry in source_urls(base_url):
        mp.setattr(*entry)


def run_cli(
    mp: pytest.MonkeyPatch,
    data_dir: Path,
    dagster_home: Path,
    *,
    base_url: str | None = None,
    replay: Path | None = None,
    env: dict[str, str] | None = None,
    argv: tuple[str, ...] = ("run",),
    urllib3_debug: bool = False,
) -> CliRun:
    """`orchestration.cli.main(argv)` (what `make run` calls) with a clean environment, the sources
    at `base_url` (live) or `replay`, and the transport of FAST_LIVE."""
    import orchestration.resources
    from ingest import transport as transport_module
    from orchestration import cli

    for name in [n for n in os.environ if n.startswith(PIPELINE_ENV_PREFIXES)]:
        mp.delenv(name)
    mp.setenv("LIQUIDITY_DATA_DIR", str(data_dir))
    mp.setenv("DAGSTER_HOME", str(dagster_home))
    if replay is not None:
        mp.setenv("LIQUIDITY_REPLAY_DIR", str(replay))
    for name, value in (env or {}).items():
        mp.setenv(name, value)
    if base_url is not None:
        point_sources_at(mp, base_url)
    transports: list = []

    def make_transport(replay_root, landing_root, **options):
        made = transport_module.make_transport(replay_root, landing_root, **{**FAST_LIVE, **options})
        transports.append(made)
        if urllib3_debug:  # install_log_redaction (just called by the resource) quietened urllib3
            logging.getLogger("urllib3").setLevel(logging.DEBUG)
        return made

    mp.setattr(orchestration.resources, "make_transport", make_transport)
    # The resources read the environment when the run starts: the loaded definitions serve every run.
    code = cli.main(list(argv))
    return CliRun(code, data_dir, dagster_home, transports)


class _RawRecords(logging.Handler):
    """Keeps every record's text as emitted; refuses the redacting filter that
    `install_log_redaction` attaches to root handlers, so a leak reaching any handler shows here."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def addFilter(self, filter) -> None:  # noqa: N802 - logging API
        if not isinstance(filter, RedactingFilter):
            super().addFilter(filter)

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name} {record.levelname} {record.getMessage()} {record.args!r}"
        if record.exc_info:
            text += " " + logging.Formatter().formatException(record.exc_info)
        self.texts.append(text)


@contextlib.contextmanager
def restored_logging() -> Iterator[None]:
    """`install_log_redaction` mutates global loggers (filters, urllib3 level): undo it afterwards."""
    saved = {name: (logging.getLogger(name).level, list(logging.getLogger(name).filters)) for name in LOGGERS}
    try:
        yield
    finally:
        for name, (level, filters) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.filters[:] = filters
            for handler in logger.handlers:
                handler.filters[:] = [f for f in handler.filters if not isinstance(f, RedactingFilter)]


@contextlib.contextmanager
def capture_everything(into: CliRun | None = None) -> Iterator[dict]:
    """What caplog + capfd see, for module-scoped runs (where those fixtures cannot be used): every
    log record at DEBUG from every logger, and stdout/stderr at the Python and file-descriptor
    level (subprocesses such as dbt included). Results land in the yielded dict's `records` and
    `output` when the block ends."""
    result: dict = {}
    handler = _RawRecords()
    root = logging.getLogger()
    root_level = root.level
    sink = tempfile.TemporaryFile()
    text = io.StringIO()
    sys.stdout.flush()
    sys.stderr.flush()
    saved_fds = [os.dup(1), os.dup(2)]
    with restored_logging():
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield result
        finally:
            for fd, saved in zip((1, 2), saved_fds, strict=True):
                os.dup2(saved, fd)
                os.close(saved)
            root.removeHandler(handler)
            root.setLevel(root_level)
            sink.seek(0)
            result["records"] = handler.texts
            result["output"] = text.getvalue() + sink.read().decode("utf-8", errors="replace")
            sink.close()


def copy_data_dir(source: Path, target: Path) -> Path:
    """A data dir for one scenario: the base run's warehouse, serving file and landing archive."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("dagster_home", "*.lock"))
    return target


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_hashes(
    db: Path, schema: str | None = None, exclude: dict[str, tuple[str, ...]] | None = None
) -> dict:
    """sha256 of each table's rows in a total order (`ORDER BY ALL`), optionally without some columns."""
    import duckdb

    exclude = exclude or {}
    out = {}
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            + (" AND table_schema = ?" if schema else "")
            + " ORDER BY 1, 2",
            [schema] if schema else [],
        ).fetchall()
        for table_schema, table in tables:
            name = f"{table_schema}.{table}"
            dropped = exclude.get(name, ())
            columns = "* EXCLUDE (" + ", ".join(dropped) + ")" if dropped else "*"
            digest = hashlib.sha256()
            for row in con.execute(f"SELECT {columns} FROM {name} ORDER BY ALL").fetchall():
                digest.update(repr(row).encode())
            out[name] = digest.hexdigest()
    finally:
        con.close()
    return out


def rows(db: Path, sql: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
