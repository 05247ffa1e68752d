"""Local HTTP servers (127.0.0.1 only) and a small harness that points every source at them.

- `router`: a threaded pytest-httpserver instance (one per session) whose single catch-all handler
  answers from a per-test routing table and records every request it receives.
- `raw_server`: a socket server for what an HTTP framework will not send (a body shorter than its
  Content-Length).
- `harness`: the source URL constants monkeypatched to the local server, a temporary data dir and
  warehouse, and a LoadContext with a fast LiveTransport.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from reliability_support import Harness, RawServer, Router, fast_transport, restored_logging

from ingest.transport import LiveTransport

# (scenario, expected, observed) rows recorded by the tests, printed as a table at the end of the run
# and written to .pytest_cache/reliability_report.md (not the data dir: tests never write there).
SCENARIOS: list[tuple[str, str, str]] = []
REPORT_PATH = Path(__file__).resolve().parents[2] / ".pytest_cache" / "reliability_report.md"


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Callable[..., None]:
    """`scenario(expected, observed, name=None)`: add a row to the reliability report table."""

    def record(expected: str, observed: str, name: str | None = None) -> None:
        SCENARIOS.append((name or request.node.name.removeprefix("test_"), expected, observed))

    return record


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def pytest_terminal_summary(terminalreporter) -> None:
    if not SCENARIOS:
        return
    lines = ["| scenario | expected | observed |", "|---|---|---|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in SCENARIOS]
    terminalreporter.section("reliability scenarios")
    for line in lines:
        terminalreporter.write_line(line)
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text("\n".join(lines) + "\n")
    terminalreporter.write_line(f"(written to {REPORT_PATH})")


@pytest.fixture(autouse=True)
def _isolated_env(clean_env: pytest.MonkeyPatch):
    """Never use a developer's real keys, data dir or replay setting."""


@pytest.fixture(autouse=True)
def _restore_logging():
    """`install_log_redaction` mutates global loggers (filters, urllib3 level): undo it after a test."""
    with restored_logging():
        yield


@pytest.fixture(scope="session")
def _http_server() -> Iterator[tuple[HTTPServer, Router]]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    router = Router(server.url_for("/"))
    server.expect_request(re.compile(".*")).respond_with_handler(router)
    yield server, router
    router.release.set()
    server.clear()
    server.stop()


@pytest.fixture
def router(_http_server) -> Iterator[Router]:
    server, router = _http_server
    router.reset()
    router.release = threading.Event()
    yield router
    router.release.set()  # let any hanging handler return
    errors = list(server.handler_errors)
    server.handler_errors.clear()
    assert not errors, f"local server handler errors: {errors}"


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(respond: Callable[[int], bytes], max_connections: int = 10) -> RawServer:
        servers.append(RawServer(respond, max_connections))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def make_transport(tmp_path: Path) -> Callable[..., LiveTransport]:
    def make(landing: Path | None | str = "default", **options) -> LiveTransport:
        root = tmp_path / "landing" if landing == "default" else landing
        return fast_transport(root, **options)

    return make


@pytest.fixture
def harness(router, tmp_path, monkeypatch, wire) -> Harness:
    return Harness(router, tmp_path, monkeypatch, wire)
