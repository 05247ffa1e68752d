"""A local HTTP server (127.0.0.1 only) that serves a replay snapshot with each source's query
semantics, and injects faults per route.

What it answers, from a snapshot folder laid out like `../shared/data/replay/<cut>/`:

| route | file | query semantics |
|---|---|---|
| `/graph/fredgraph.csv?id=&cosd=&coed=` | `fred/fredgraph/<id>.csv` | rows outside [cosd, coed] dropped; kept lines byte-identical |
| `/fred/series?series_id=&api_key=&file_type=json` | catalog row + the CSV's date range | FRED's `seriess` JSON; `units` from `ingest/series_catalog.csv` |
| `/fred/series/observations?series_id=&observation_start=&observation_end=&api_key=&file_type=json` | `fred/fredgraph/<id>.csv` | FRED's observations JSON (string values, `.` for missing, ascending) converted from the CSV, filtered to the window |
| `/datadownload/Output.aspx?rel=&series=&from=&to=&filetype=csv&...` | `fed_ddp/<rel>.csv` | `fed_ddp.serve`: data rows outside [from, to] (MM/DD/YYYY) dropped; `label=omit` keeps two of the six header rows; CRLF, no final newline |
| `{/api/v3,/pro/api/v3}/coins/<id>/market_chart?vs_currency=usd&days=N` | `coingecko/coins/<id>/market_chart.json` | points older than `days` before the server's clock dropped (`max`: the file as recorded) |
| `/price_charts/export/<id>/usd.csv` | `coingecko/export/<id>-usd-max.csv` | the file as recorded |
| `{/api/v3,/pro/api/v3}/global` | `coingecko/global/global.json` | the file as recorded |
| `/pro/api/v3/global/market_cap_chart?vs_currency=usd&days=N` | `coingecko/global/market_cap_chart.json` | like market_chart; paid endpoint (401 on the demo root) |
| `/services/api/fiscal_service/v1/accounting/dts/operating_cash_balance?fields=&filter=&sort=&format=json&page[size]=&page[number]=` | `treasury/dts/operating_cash_balance.json` | FiscalData's filter (lt, lte, gt, gte, eq, in), sort, fields and paging applied to the snapshot's rows, with `meta` counts (`ingest.treasury_dts.serve`) |

The server's clock is the snapshot's cut date at 00:00 UTC (the folder name): `days=365` on the
2026-01-31 snapshot returns 2025-01-31..2026-01-31, the 366 daily points the snapshot recorded.

What the snapshot lacks is answered the way each real source answers an unknown resource:
fredgraph HTTP 404 (HTML page), FRED API HTTP 400 `{"error_code":400,"error_message":"Bad Request.
The series does not exist."}`, CoinGecko HTTP 404 `{"error": "coin not found"}` (coins) or
`{"error": "Not Found"}` (any other path), the DDP an HTML error page with status 200, the export
HTTP 404. Missing or wrong credentials: FRED API 400 (`api_key` not set), CoinGecko pro root 401
without `x-cg-pro-api-key`. (The CoinGecko error codes for paid-only endpoints and a missing pro key
are modelled on the documented error shape; they were not recorded from the live API.)

Faults: `server.fault(kind, ident, *steps, persistent=False)`. Each request to that route takes the
next step; when the steps are used up the route answers normally again, or, if `persistent`, keeps
repeating the last step. A step can answer with a status (and `Retry-After`), a transformed body
(e.g. a series rescaled by 1000, a renamed CSV header), an HTML error page with status 200, a bounded
hang, a dropped connection, or a body cut short of its Content-Length.

Every loop is bounded: hangs end after `MAX_HANG` seconds or when the server is released, and a
route answering more than `max_hits_per_route` requests records a handler error (the test fails).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingest import catalog, coingecko, fed_ddp, fred, treasury_dts

# The routes, as each real source spells its path (tests point the loaders' base URLs here).
FREDGRAPH = "/graph/fredgraph.csv"
FRED_SERIES = "/fred/series"
FRED_OBS = "/fred/series/observations"
DDP = "/datadownload/Output.aspx"
CG = "/api/v3"
CG_PRO = "/pro/api/v3"
EXPORT = "/price_charts/export/{coin}/usd.csv"
DTS = "/services/api/fiscal_service/v1/accounting/dts/operating_cash_balance"


def source_urls(base_url: str) -> list[tuple[object, str, str]]:
    """(module, URL constant, value) that point every fetcher at this server's routes under `base_url`:
    tests set them with `monkeypatch.setattr(*entry)`, bench scripts with `setattr(*entry)`."""
    return [
        (fred, "FREDGRAPH_URL", base_url + FREDGRAPH),
        (fred, "API_ROOT", base_url + "/fred"),
        (fed_ddp, "URL", base_url + DDP),
        (coingecko, "DEMO_ROOT", base_url + CG),
        (coingecko, "PRO_ROOT", base_url + CG_PRO),
        (coingecko, "EXPORT_URL", base_url + EXPORT),
        (treasury_dts, "URL", base_url + DTS),
    ]


MAX_HANG = 10.0
HTML_ERROR_PAGE = (
    b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">\r\n'
    b'<html xmlns="http://www.w3.org/1999/xhtml">\r\n<head><title>Error</title></head>\r\n'
    b"<body><h1>Service temporarily unavailable</h1><p>Please try again later.</p></body>\r\n</html>\r\n"
)
FRED_NOT_FOUND = {"error_code": 400, "error_message": "Bad Request.  The series does not exist."}
FRED_NO_KEY = {
    "error_code": 400,
    "error_message": "Bad Request.  Variable api_key is not set.  Read "
    "https://fred.stlouisfed.org/docs/api/api_key.html for more information.",
}
CG_RATE_LIMIT = {
    "status": {
        "error_code": 429,
        "error_message": "You've exceeded the Rate Limit. Please visit "
        "https://www.coingecko.com/en/api/pricing to subscribe to our API plans for higher rate limits.",
    }
}
_SERIES_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]{0,63}$")
_COIN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DAY_MS = 86_400_000

# Route kinds (the first element of a route key; the second is the series, release or coin id).
KINDS = (
    "fredgraph",
    "fred_series",
    "fred_obs",
    "ddp",
    "market_chart",
    "export",
    "global",
    "market_cap_chart",
    "dts",
)


@dataclasses.dataclass(frozen=True)
class Step:
    """One answer of a fault sequence. Defaults: the snapshot's normal answer."""

    status: int | None = None  # None: the normal status (200); else this status with an error body
    body: bytes | None = None  # replaces the body (with `status` or 200)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    transform: Callable[[bytes], bytes] | None = None  # applied to the normal body
    hang: float = 0.0  # stall this long (bounded by MAX_HANG) before answering
    drop: bool = False  # close the connection without any response
    truncate: int | None = None  # send only this many bytes, with the full Content-Length


def status(code: int, retry_after: str | None = None) -> Step:
    return Step(status=code, headers={"Retry-After": retry_after} if retry_after is not None else {})


def hang(seconds: float) -> Step:
    return Step(hang=seconds)


def drop() -> Step:
    return Step(drop=True)


def truncated(keep: int = 200) -> Step:
    return Step(truncate=keep)


def transformed(fn: Callable[[bytes], bytes]) -> Step:
    return Step(transform=fn)


def html_page() -> Step:
    return Step(body=HTML_ERROR_PAGE, headers={"Content-Type": "text/html; charset=utf-8"})


def rescale_csv(factor: float) -> Callable[[bytes], bytes]:
    """Multiply the value column of a two-column CSV (fredgraph) by `factor`; header kept."""

    def apply(body: bytes) -> bytes:
        lines = body.split(b"\n")
        out = [lines[0]]
        for line in lines[1:]:
            day, sep, value = line.partition(b",")
            if sep and value.strip() not in (b"", b"."):
                value = repr(float(value) * factor).encode()
            out.append(day + sep + value)
        return b"\n".join(out)

    return apply


def rename_csv_header(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def apply(body: bytes) -> bytes:
        head, sep, rest = body.partition(b"\n")
        assert old in head, f"{old!r} not in header {head[:80]!r}"
        return head.replace(old, new) + sep + rest

    return apply


@dataclasses.dataclass(frozen=True)
class Hit:
    kind: str | None
    ident: str | None
    path: str
    args: dict[str, str]
    headers: dict[str, str]
    status: int
    at: float


@dataclasses.dataclass
class _Fault:
    steps: list[Step]
    persistent: bool


class ReplayServer:
    """pytest-httpserver (threaded) with one catch-all handler answering from `snapshot`."""

    def __init__(self, snapshot: Path, max_hits_per_route: int = 60):
        self.switch(snapshot)
        self.max_hits_per_route = max_hits_per_route
        self.hits: list[Hit] = []
        self.release = threading.Event()
        self._faults: dict[tuple[str, str | None], _Fault] = {}
        self._lock = threading.Lock()
        self._http = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self._werkzeug_level: int | None = None

    def switch(self, snapshot: Path) -> None:
        """Serve another snapshot from now on (a later cut: what the sources publish next); the clock
        moves to its cut date."""
        self.snapshot = snapshot.resolve()
        self.cut = dt.date.fromisoformat(self.snapshot.name)
        self.now_ms = (
            int(dt.datetime(self.cut.year, self.cut.month, self.cut.day, tzinfo=dt.UTC).timestamp()) * 1000
        )

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> ReplayServer:
        # The server's own access log prints every query string (api_key included): the pipeline
        # is not responsible for it, so it is silenced while the server runs (errors still show).
        werkzeug_log = logging.getLogger("werkzeug")
        self._werkzeug_level = werkzeug_log.level
        werkzeug_log.setLevel(logging.WARNING)
        self._http.start()
        self._http.expect_request(re.compile(".*")).respond_with_handler(self._handle)
        return self

    def stop(self) -> None:
        self.release.set()
        self._http.clear()
        self._http.stop()
        if self._werkzeug_level is not None:
            logging.getLogger("werkzeug").setLevel(self._werkzeug_level)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self._http.url_for("/").rstrip("/")

    @property
    def port(self) -> int:
        return urlsplit(self.base_url).port or 0

    def url(self, path: str) -> str:
        return self.base_url + path

    def reset(self) -> None:
        """Forget faults and hits (between scenarios); re-arm hangs."""
        with self._lock:
            self._faults.clear()
            self.hits.clear()
        self.release.set()
        self.release = threading.Event()

    def handler_errors(self) -> list[Exception]:
        errors = list(self._http.handler_errors)
        self._http.clear_handler_errors()
        return errors

    # --- faults and observations ------------------------------------------------------------------
    def fault(self, kind: str, ident: str | None, *steps: Step, persistent: bool = False) -> None:
        assert kind in KINDS, kind
        assert steps
        with self._lock:
            self._faults[(kind, ident)] = _Fault(list(steps), persistent)

    def hits_for(self, kind: str, ident: str | None = None) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.kind == kind and (ident is None or h.ident == ident)]

    def statuses(self, kind: str, ident: str | None = None) -> list[int]:
        return [h.status for h in self.hits_for(kind, ident)]

    # --- request handling -------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        kind, ident = self._route(request.path, request.args)
        with self._lock:
            count = sum(1 for h in self.hits if (h.kind, h.ident) == (kind, ident))
            if count >= self.max_hits_per_route:
                raise AssertionError(f"unbounded request loop: more than {count} requests to {kind} {ident}")
            step = self._next_step(kind, ident)
            release = self.release
        if step.hang:
            release.wait(timeout=min(step.hang, MAX_HANG))
        if step.drop:
            request.environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            self._record(request, kind, ident, 0)
            return Response(b"", 200)
        if kind is None:
            response = Response(b"Not Found", 404, content_type="text/plain")
        else:
            response = getattr(self, f"_{kind}")(request, ident)
        if step.status is not None:
            body = step.body if step.body is not None else self._error_body(kind, step.status)
            response = Response(body, step.status, content_type=_content_type(body))
        elif step.body is not None:
            response = Response(step.body, 200)
        elif step.transform is not None and response.status_code == 200:
            response = Response(step.transform(response.get_data()), 200, content_type=response.content_type)
        for name, value in step.headers.items():
            response.headers[name] = value
        if step.truncate is not None:
            data = response.get_data()
            response = Response(
                iter([data[: step.truncate]]),
                response.status_code,
                headers={"Content-Length": str(len(data)), "Content-Type": response.content_type or ""},
                direct_passthrough=True,
            )
        self._record(request, kind, ident, response.status_code)
        return response

    def _record(self, request: Request, kind, ident, code: int) -> None:
        with self._lock:
            self.hits.append(
                Hit(
                    kind,
                    ident,
                    request.path,
                    dict(request.args),
                    dict(request.headers),
                    code,
                    time.monotonic(),
                )
            )

    def _next_step(self, kind, ident) -> Step:
        fault = self._faults.get((kind, ident))
        if fault is None or not fault.steps:
            return Step()
        if len(fault.steps) > 1 or not fault.persistent:
            return fault.steps.pop(0)
        return fault.steps[0]

    @staticmethod
    def _route(path: str, args) -> tuple[str | None, str | None]:
        if path == FREDGRAPH:
            return "fredgraph", args.get("id")
        if path == FRED_SERIES:
            return "fred_series", args.get("series_id")
        if path == FRED_OBS:
            return "fred_obs", args.get("series_id")
        if path == DDP:
            return "ddp", args.get("rel")
        if path == DTS:
            return "dts", None
        for root in (CG, CG_PRO):
            if path.startswith(root + "/coins/") and path.endswith("/market_chart"):
                return "market_chart", path[len(root + "/coins/") : -len("/market_chart")]
            if path == root + "/global":
                return "global", None
            if path == root + "/global/market_cap_chart":
                return "market_cap_chart", None
        prefix, suffix = EXPORT.split("{coin}")
        if path.startswith(prefix) and path.endswith(suffix):
            return "export", path[len(prefix) : -len(suffix)]
        return None, None

    def _file(self, relative: str) -> bytes | None:
        path = (self.snapshot / relative).resolve()
        if not path.is_relative_to(self.snapshot) or not path.is_file():
            return None
        return path.read_bytes()

    def _error_body(self, kind: str | None, code: int) -> bytes:
        if kind in ("fred_series", "fred_obs"):
            messages = {429: "Too Many Requests.  Exceeded Rate Limit"}
            text = messages.get(code, "Internal Server Error" if code >= 500 else "Bad Request")
            return json.dumps({"error_code": code, "error_message": text}).encode()
        if kind in ("market_chart", "global", "market_cap_chart"):
            if code == 429:
                return json.dumps(CG_RATE_LIMIT).encode()
            return json.dumps(
                {"status": {"error_code": code, "error_message": "Service Unavailable"}}
            ).encode()
        return {429: b"Too Many Requests", 500: b"Internal Server Error", 502: b"Bad Gateway"}.get(
            code, b"Service Unavailable"
        )

    # --- FRED -------------------------------------------------------------------------------------
    def _fred_csv(self, series_id: str | None) -> bytes | None:
        if not series_id or not _SERIES_ID.match(series_id) or ".." in series_id:
            return None
        return self._file(f"fred/fredgraph/{series_id}.csv")

    def _fredgraph(self, request: Request, series_id: str | None) -> Response:
        body = self._fred_csv(series_id)
        if body is None:
            page = b"<!DOCTYPE html><html><head><title>404 | FRED</title></head><body>Page not found</body></html>"
            return Response(page, 404, content_type="text/html")
        start, end = _iso(request.args.get("cosd")), _iso(request.args.get("coed"))
        lines = body.splitlines(keepends=True)
        kept = [line for line in lines[1:] if _in_range(_iso(line.split(b",", 1)[0].decode()), start, end)]
        return Response(b"".join([lines[0], *kept]), 200, content_type="text/csv")

    def _fred_rows(self, body: bytes) -> Iterator[tuple[str, str]]:
        for line in body.decode().splitlines()[1:]:
            if line.strip():
                day, _, value = line.partition(",")
                yield day, (value.strip() or ".")

    def _fred_api_error(self, request: Request) -> Response | None:
        if not request.args.get("api_key"):
            return _json(FRED_NO_KEY, 400)
        if request.args.get("file_type") != "json":
            return _json(
                {"error_code": 400, "error_message": "this test server speaks file_type=json only"}, 400
            )
        return None

    def _fred_series(self, request: Request, series_id: str | None) -> Response:
        error = self._fred_api_error(request)
        if error is not None:
            return error
        body = self._fred_csv(series_id)
        try:
            entry = catalog.get("fred", series_id or "")
        except KeyError:
            entry = None
        if body is None or entry is None:
            return _json(FRED_NOT_FOUND, 400)
        days = [d for d, _ in self._fred_rows(body)]
        cut = self.cut.isoformat()
        meta = {
            "id": series_id,
            "realtime_start": cut,
            "realtime_end": cut,
            "title": entry.title,
            "observation_start": days[0] if days else cut,
            "observation_end": days[-1] if days else cut,
            "frequency": entry.cadence.capitalize(),
            "units": entry.units,
            "seasonal_adjustment": "Not Seasonally Adjusted",
            "notes": "",
        }
        return _json({"realtime_start": cut, "realtime_end": cut, "seriess": [meta]})

    def _fred_obs(self, request: Request, series_id: str | None) -> Response:
        error = self._fred_api_error(request)
        if error is not None:
            return error
        body = self._fred_csv(series_id)
        if body is None:
            return _json(FRED_NOT_FOUND, 400)
        start = _iso(request.args.get("observation_start"))
        end = _iso(request.args.get("observation_end"))
        cut = self.cut.isoformat()
        observations = [
            {"realtime_start": cut, "realtime_end": cut, "date": day, "value": value}
            for day, value in self._fred_rows(body)
            if _in_range(_iso(day), start, end)
        ]
        payload = {
            "realtime_start": cut,
            "realtime_end": cut,
            "observation_start": start.isoformat() if start else "1600-01-01",
            "observation_end": end.isoformat() if end else "9999-12-31",
            "units": "lin",
            "output_type": 1,
            "file_type": "json",
            "order_by": "observation_date",
            "sort_order": "asc",
            "count": len(observations),
            "offset": 0,
            "limit": 100000,
            "observations": observations,
        }
        return _json(payload)

    # --- Fed DDP ----------------------------------------------------------------------------------
    def _ddp(self, request: Request, release: str | None) -> Response:
        args = request.args
        body = self._file(f"fed_ddp/{release}.csv") if release in fed_ddp.PACKAGES else None
        expected = {"filetype": "csv", "layout": "seriescolumn", "type": "package"}
        if (
            body is None
            or args.get("series") != fed_ddp.PACKAGES[release]
            or args.get("label") not in ("include", "omit")
            or any(args.get(k) != v for k, v in expected.items())
        ):
            return Response(HTML_ERROR_PAGE, 200, content_type="text/html")  # the DDP's error page
        return Response(fed_ddp.serve(body, dict(args)), 200, content_type="text/csv")

    # --- Treasury FiscalData -----------------------------------------------------------------------
    def _dts(self, request: Request, _ident) -> Response:
        body = self._file(treasury_dts.REPLAY_PATH)
        if body is None:
            return _json({"error": "Not Found", "message": "dataset not found"}, 404)
        if request.args.get("format", "json") != "json":
            return _json(
                {"error": "Invalid Query Param", "message": "this server answers format=json only"}, 400
            )
        try:
            answer = treasury_dts.serve(body, dict(request.args))
        except ValueError as exc:  # the error shape is modelled on FiscalData's, not recorded from it
            return _json({"error": "Invalid Query Param", "message": str(exc)}, 400)
        return Response(answer, 200, content_type="application/json")

    # --- CoinGecko --------------------------------------------------------------------------------
    def _coingecko_error(self, request: Request, paid: bool = False) -> Response | None:
        pro = request.path.startswith(CG_PRO + "/")
        if pro and not request.headers.get("x-cg-pro-api-key"):
            return _json({"status": {"error_code": 10002, "error_message": "API Key Missing"}}, 401)
        if paid and not pro:
            message = "This endpoint is exclusive to paid plan subscribers."
            return _json({"error": {"status": {"error_code": 10005, "error_message": message}}}, 401)
        if "vs_currency" in request.args and request.args["vs_currency"] != "usd":
            return _json({"error": "invalid vs_currency"}, 400)
        return None

    def _windowed(self, pairs: list, days: str | None) -> list:
        if days in (None, "max"):
            return pairs
        cutoff = self.now_ms - int(float(days) * DAY_MS)
        return [p for p in pairs if p[0] >= cutoff]

    def _market_chart(self, request: Request, coin: str | None) -> Response:
        error = self._coingecko_error(request)
        if error is not None:
            return error
        body = (
            self._file(f"coingecko/coins/{coin}/market_chart.json") if coin and _COIN_ID.match(coin) else None
        )
        if body is None:
            return _json({"error": "coin not found"}, 404)
        days = request.args.get("days")
        if days in (None, "max"):
            return Response(body, 200, content_type="application/json")
        payload = json.loads(body)
        windowed = {key: self._windowed(pairs, days) for key, pairs in payload.items()}
        return _json(windowed)

    def _export(self, request: Request, coin: str | None) -> Response:
        body = self._file(f"coingecko/export/{coin}-usd-max.csv") if coin and _COIN_ID.match(coin) else None
        if body is None:
            return Response(
                b"<html><body><h1>404 Not Found</h1></body></html>", 404, content_type="text/html"
            )
        return Response(body, 200, content_type="text/csv")

    def _global(self, request: Request, _ident) -> Response:
        error = self._coingecko_error(request)
        if error is not None:
            return error
        body = self._file("coingecko/global/global.json")
        if body is None:
            return _json({"error": "Not Found"}, 404)
        return Response(body, 200, content_type="application/json")

    def _market_cap_chart(self, request: Request, _ident) -> Response:
        error = self._coingecko_error(request, paid=True)
        if error is not None:
            return error
        body = self._file("coingecko/global/market_cap_chart.json")
        if body is None:
            return _json({"error": "Not Found"}, 404)
        days = request.args.get("days")
        if days in (None, "max"):
            return Response(body, 200, content_type="application/json")
        chart = json.loads(body)["market_cap_chart"]
        return _json({"market_cap_chart": {key: self._windowed(pairs, days) for key, pairs in chart.items()}})


def _json(payload, code: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), code, content_type="application/json")


def _content_type(body: bytes) -> str:
    return "application/json" if body[:1] in (b"{", b"[") else "text/plain"


def _iso(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def _in_range(day: dt.date | None, start: dt.date | None, end: dt.date | None) -> bool:
    if day is None:
        return False
    return (start is None or day >= start) and (end is None or day <= end)
