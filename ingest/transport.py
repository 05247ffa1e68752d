"""One small HTTP layer for every source: live (requests + tenacity) or replay (snapshot files).

Live mode:
- a `requests` session with a User-Agent and a timeout on every call;
- retries with exponential backoff (tenacity) on 429, 5xx, connection errors, timeouts and
  truncated bodies, honouring `Retry-After` when the server sends it;
- a per-host minimum interval between requests (FRED 2/s, FiscalData 2/s, CoinGecko demo 30/min);
- every response body, good or bad, is written as received to the landing archive with a
  `.meta.json` sidecar (URL with secrets redacted, time, status, sha256).

Replay mode maps each request to its file in the snapshot layout (`LIQUIDITY_REPLAY_DIR`), lands
it the same way, and hands the body to the same parsers.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests
import tenacity

from ingest.errors import REDACTED, HttpError, NetworkUnreachable, PayloadError, SourceError, redact
from ingest.parsing import check_size

log = logging.getLogger(__name__)

USER_AGENT = "fed-liquidity-pipeline/0.1 (+https://github.com/; open-source research pipeline)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Minimum seconds between two requests to one host.
DEFAULT_MIN_INTERVAL = {
    "api.stlouisfed.org": 0.5,
    "fred.stlouisfed.org": 0.5,
    "api.coingecko.com": 2.0,
    "pro-api.coingecko.com": 0.2,
    "www.coingecko.com": 2.0,
    "www.federalreserve.gov": 1.0,
    "api.fiscaldata.treasury.gov": 0.5,
}


@dataclass(frozen=True)
class Request:
    source: str
    series: str | None
    url: str
    replay_path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    secret_params: tuple[str, ...] = ()
    # Turns an error body into a short human message (e.g. FRED's error_message); None if unknown.
    describe_error: Callable[[bytes], str | None] | None = None
    # Replay only: answers `params` from the snapshot file the way the source would (e.g. the DTS
    # API's filter, sort, fields and paging over a file holding every row); None: the file as is.
    replay_query: Callable[[bytes, dict[str, str]], bytes] | None = None

    def redacted_url(self) -> str:
        params = {k: (REDACTED if k in self.secret_params else v) for k, v in self.params.items()}
        prepared = requests.Request("GET", self.url, params=params).prepare()
        return str(prepared.url)

    def secrets(self) -> list[str]:
        values = [self.params[k] for k in self.secret_params if self.params.get(k)]
        values += [v for k, v in self.headers.items() if "key" in k.lower() and v]
        return values


@dataclass(frozen=True)
class Response:
    request: Request
    status: int
    body: bytes
    url: str  # secrets redacted
    fetched_at: dt.datetime  # UTC, naive
    sha256: str
    landing_path: Path | None
    mode: str  # "live" | "replay"
    # The day the body is "as of": the fetch day (UTC) live; the snapshot's cut date in replay (its
    # folder's name, e.g. 2026-01-31). No observation in it can be dated later than its calendar allows.
    as_of: dt.date | None = None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8-sig")


class Transport(Protocol):
    mode: str

    def fetch(self, request: Request) -> Response: ...


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class LandingArchive:
    """Writes each body as received, plus a metadata sidecar; never a secret."""

    def __init__(self, root: Path | None):
        self.root = root

    def write(
        self, request: Request, status: int, body: bytes, url: str, fetched_at: dt.datetime
    ) -> Path | None:
        if self.root is None:
            return None
        digest = hashlib.sha256(body).hexdigest()
        folder = self.root / request.source / fetched_at.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        name = request.replay_path.replace("/", "__")
        path = folder / f"{fetched_at.strftime('%H%M%S%f')}_{status}_{name}"
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(body)
        tmp.replace(path)
        meta = {
            "source": request.source,
            "series": request.series,
            "url": url,
            "fetched_at": fetched_at.isoformat() + "Z",
            "status": status,
            "sha256": digest,
            "bytes": len(body),
        }
        path.with_name(path.name + ".meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return path


class HostRateLimiter:
    """Minimum interval between requests to the same host (thread safe)."""

    def __init__(self, min_interval: dict[str, float] | None = None, default: float = 0.0):
        self.min_interval = dict(DEFAULT_MIN_INTERVAL if min_interval is None else min_interval)
        self.default = default
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        interval = self.min_interval.get(host, self.default)
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, now))
            self._next[host] = start + interval
        if start > now:
            time.sleep(start - now)


class _Retryable(Exception):
    """Internal: a transient failure worth another attempt."""

    def __init__(self, reason: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class _Unreachable(Exception):
    pass


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(when.tzinfo)).total_seconds())


class _WaitRetryAfterOrExponential(tenacity.wait.wait_base):
    """Honour the server's Retry-After (capped); otherwise exponential backoff."""

    def __init__(self, base: float, maximum: float, retry_after_cap: float):
        self.exponential = tenacity.wait_exponential(multiplier=base, max=maximum)
        self.retry_after_cap = retry_after_cap

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry_after_cap)
        return self.exponential(retry_state)


class LiveTransport:
    mode = "live"

    def __init__(
        self,
        landing_root: Path | None,
        *,
        timeout: float = 30.0,
        attempts: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        retry_after_cap: float = 60.0,
        rate_limiter: HostRateLimiter | None = None,
        session: requests.Session | None = None,
    ):
        self.landing = LandingArchive(landing_root)
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retry_after_cap = retry_after_cap
        self.rate_limiter = rate_limiter or HostRateLimiter()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.requests_made = 0
        self.bytes_fetched = 0

    def _attempt(self, request: Request) -> Response:
        host = urlsplit(request.url).hostname or ""
        self.rate_limiter.wait(host)
        self.requests_made += 1
        url = request.redacted_url()
        try:
            resp = self.session.get(
                request.url, params=request.params, headers=request.headers, timeout=self.timeout, stream=True
            )
            body = _read_bounded(resp, request)  # ChunkedEncodingError / ConnectionError when truncated
        except requests.exceptions.ConnectTimeout:
            raise _Unreachable(f"connection to {host} timed out") from None
        except requests.exceptions.Timeout:
            raise _Retryable(f"no response within {self.timeout:g}s (timeout)") from None
        except requests.exceptions.ChunkedEncodingError:
            raise _Retryable("response body truncated (connection closed before Content-Length)") from None
        except requests.exceptions.ConnectionError as exc:
            if _is_unreachable(exc):
                raise _Unreachable(f"cannot connect to {host}") from None
            raise _Retryable("connection reset or truncated response") from None
        fetched_at = utcnow()
        self.bytes_fetched += len(body)
        landing = self.landing.write(request, resp.status_code, body, url, fetched_at)
        if resp.status_code in RETRY_STATUSES:
            raise _Retryable(
                f"HTTP {resp.status_code}",
                resp.status_code,
                _retry_after_seconds(resp.headers.get("Retry-After")),
            )
        if resp.status_code >= 400:
            detail = request.describe_error(body) if request.describe_error else None
            detail = detail or _snippet(body)
            raise HttpError(
                request.source,
                request.series,
                redact(f"HTTP {resp.status_code} from {url}: {detail}", request.secrets()),
                resp.status_code,
            )
        return Response(
            request=request,
            status=resp.status_code,
            body=body,
            url=url,
            fetched_at=fetched_at,
            sha256=hashlib.sha256(body).hexdigest(),
            landing_path=landing,
            mode=self.mode,
            as_of=fetched_at.date(),
        )

    def fetch(self, request: Request) -> Response:
        retrying = tenacity.Retrying(
            stop=self._stop,
            wait=_WaitRetryAfterOrExponential(self.backoff, self.max_backoff, self.retry_after_cap),
            retry=tenacity.retry_if_exception_type((_Retryable, _Unreachable)),
            before_sleep=self._log_retry(request),
            reraise=True,
        )
        try:
            return retrying(self._attempt, request)
        except _Retryable as exc:
            # `from None` only hides the chain: __context__ would still reach the requests exception,
            # whose text quotes the full URL (query string and API key included). Cut it.
            exc.__context__ = None
            url = request.redacted_url()
            reason = f"{exc.reason} from {url}, still failing after {self.attempts} attempts"
            if exc.status == 429:
                reason = f"rate limited (HTTP 429) by {url}, still limited after {self.attempts} attempts"
            raise HttpError(
                request.source, request.series, redact(reason, request.secrets()), exc.status
            ) from None
        except _Unreachable as exc:
            exc.__context__ = None  # same as above: never keep the library exception (URL with the key)
            raise NetworkUnreachable(
                request.source,
                request.series,
                f"{exc} (network unreachable?). {OFFLINE_HINT}",
            ) from None

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        """Give up after `attempts`; an unreachable host gets one quick second try only (fail fast)."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Unreachable):
            return state.attempt_number >= min(2, self.attempts)
        return state.attempt_number >= self.attempts

    def _log_retry(self, request: Request) -> Callable[[tenacity.RetryCallState], None]:
        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            wait = state.next_action.sleep if state.next_action else 0
            log.warning(
                "%s %s: %s, retry %d/%d in %.1fs",
                request.source,
                request.series or "",
                getattr(exc, "reason", None) or str(exc),
                state.attempt_number,
                self.attempts - 1,
                wait,
            )

        return before_sleep


def _read_bounded(resp: requests.Response, request: Request) -> bytes:
    """The body, read in chunks and abandoned past MAX_BODY_BYTES (a PayloadError, never retried):
    a runaway body costs one limit's worth of memory and time, not all of it."""
    try:
        declared = resp.headers.get("Content-Length") or ""
        check_size(int(declared) if declared.isdigit() else 0, request.source, request.series)
        body = bytearray()
        for chunk in resp.iter_content(chunk_size=1 << 16):
            body += chunk
            check_size(len(body), request.source, request.series)
        return bytes(body)
    finally:
        resp.close()


def _is_unreachable(exc: requests.exceptions.ConnectionError) -> bool:
    text = repr(exc.args)
    markers = (
        "NameResolutionError",
        "Failed to resolve",
        "Connection refused",
        "Network is unreachable",
        "NewConnectionError",
        "No route to host",
        "Temporary failure in name resolution",
    )
    return any(m in text for m in markers)


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text or "(empty body)"


class ReplayMissing(SourceError):
    """The replay snapshot has no file for this request (the source is absent from the snapshot)."""


def cut_date(root: Path) -> dt.date | None:
    """A replay snapshot's cut date, from its folder's name (`replay/2026-01-31/`); None if not a date."""
    try:
        return dt.date.fromisoformat(Path(root).name)
    except ValueError:
        return None


class ReplayTransport:
    mode = "replay"

    def __init__(self, root: Path, landing_root: Path | None):
        self.root = root
        self.cut_date = cut_date(root)
        self.landing = LandingArchive(landing_root)
        self.requests_made = 0
        self.bytes_fetched = 0

    def fetch(self, request: Request) -> Response:
        path = (self.root / request.replay_path).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise PayloadError(request.source, request.series, "replay path escapes the snapshot folder")
        if not path.is_file():
            raise ReplayMissing(
                request.source,
                request.series,
                f"replay snapshot {self.root.name} has no {request.replay_path}",
            )
        check_size(path.stat().st_size, request.source, request.series)
        body = path.read_bytes()
        if request.replay_query is not None:
            body = request.replay_query(body, request.params)
        self.requests_made += 1
        self.bytes_fetched += len(body)
        fetched_at = utcnow()
        url = request.redacted_url()
        landing = self.landing.write(request, 200, body, url, fetched_at)
        return Response(
            request=request,
            status=200,
            body=body,
            url=url,
            fetched_at=fetched_at,
            sha256=hashlib.sha256(body).hexdigest(),
            landing_path=landing,
            mode=self.mode,
            as_of=self.cut_date or fetched_at.date(),
        )


class RedactingFilter(logging.Filter):
    """Scrubs secrets from every log record that passes through (library loggers included)."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction(secrets: list[str]) -> None:
    """Attach a redacting filter to the root handlers and to urllib3/requests loggers."""
    flt = RedactingFilter(secrets)
    for name in ("", "urllib3", "urllib3.connectionpool", "requests", __name__):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(flt)
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(flt)
    logging.getLogger("urllib3").setLevel(logging.ERROR)


def unreachable_hosts(hosts: list, timeout: float = 3.0) -> list:
    """Hosts (a name, meaning port 443, or a (name, port) pair) to which no TCP connection can be
    made (DNS failure, refused, no route)."""
    import socket

    down = []
    for host in hosts:
        address = host if isinstance(host, tuple) else (host, 443)
        try:
            socket.create_connection(address, timeout=timeout).close()
        except OSError:
            down.append(host)
    return down


OFFLINE_HINT = (
    "For an offline run set LIQUIDITY_REPLAY_DIR to a replay snapshot, "
    "e.g. LIQUIDITY_REPLAY_DIR=../shared/data/replay/2026-01-31"
)


def make_transport(replay_root: Path | None, landing_root: Path | None, **live_options) -> Transport:
    if replay_root is not None:
        return ReplayTransport(replay_root, landing_root)
    return LiveTransport(landing_root, **live_options)
