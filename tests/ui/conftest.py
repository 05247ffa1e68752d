"""A real Dagster UI for the browser test: a replay run's data dir, `dagster dev` on a free loopback
port, and Debian's Chromium driven by Playwright for Python.

- `ui_data_dir` (session): `python -m orchestration.cli run` (what `make run` calls) of the
  2026-01-31 replay snapshot into a temporary data dir; its instance (`<data>/dagster_home`) is the
  one the webserver then serves, as `make run` followed by `make dev` would leave it.
- `dagster_ui` (module): `dagster dev -w workspace.yaml -h 127.0.0.1 -p <free port>` (webserver and
  daemon, so a run launched from the UI is dequeued and executed) with DAGSTER_HOME,
  LIQUIDITY_DATA_DIR and LIQUIDITY_REPLAY_DIR set; its whole process group is ended at teardown.
- `browser` (session): Chromium from `/usr/bin/chromium` (installed by `scripts/ensure_chromium.sh`;
  Playwright's own browser download needs the internet) with a fresh profile and no background
  networking. The test skips only when there is no Chromium or Playwright's driver cannot start.

Screenshots go to `<data>/ui-screenshots/` and are copied to `<project>/data/ui-screenshots/`
(git-ignored) so a person can look at them after the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from bench.pg_server import free_port
from ingest.settings import PROJECT_ROOT
from tests.conftest import PIPELINE_ENV

REPLAY_CUT = "2026-01-31"
MANIFEST = PROJECT_ROOT / "dbt_project" / "target" / "manifest.json"
SCREENSHOT_COPY_DIR = PROJECT_ROOT / "data" / "ui-screenshots"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
# Chromium without first-run UI and without its own connections (update checks, sync, field trials,
# QUIC probes): the test network allows 127.0.0.1 only.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
]
# Tall enough for the whole expanded asset graph to fit in one screenshot.
VIEWPORT = {"width": 2400, "height": 1800}  # the intermediate group has 13 models: each label must fit
SERVER_START_TIMEOUT_S = 180
PIPELINE_TIMEOUT_S = 900


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "ui: drives the Dagster UI in a real browser (Playwright + Debian's Chromium)"
    )


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path} does not exist)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def child_env(data_dir: Path, replay_dir: Path) -> dict[str, str]:
    """The environment of the pipeline and webserver processes: none of a developer's pipeline
    settings or DAGSTER_HOME, this project's .venv first on PATH (dagster-dbt looks `dbt` up there)."""
    env = {k: v for k, v in os.environ.items() if k not in PIPELINE_ENV and k != "DAGSTER_HOME"}
    env.update(
        {
            "LIQUIDITY_DATA_DIR": str(data_dir),
            "LIQUIDITY_REPLAY_DIR": str(replay_dir),
            "DAGSTER_HOME": str(data_dir / "dagster_home"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture(scope="session")
def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.skip(
        "no Chromium to drive: install Debian's package (`sh scripts/ensure_chromium.sh` as root, "
        "which `make test` and `make test-ui` run) — Playwright's own download needs the internet"
    )


@pytest.fixture(scope="session")
def ui_data_dir(tmp_path_factory: pytest.TempPathFactory, replay_root: Path) -> Path:
    """A data dir holding a completed replay run, made by the same command `make run` calls."""
    if not MANIFEST.exists():
        pytest.fail("dbt manifest missing: run `make prepare` (make test does it)")
    data_dir = tmp_path_factory.mktemp("ui") / "data"
    data_dir.mkdir()
    log = data_dir.parent / "pipeline-run.log"
    env = child_env(data_dir, replay_root / REPLAY_CUT)
    with log.open("wb") as out:
        # Its own process group, ended afterwards: a dbt subprocess of a failed run must not outlive it.
        proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration.cli", "run"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=PIPELINE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`orchestration.cli run` did not finish in {PIPELINE_TIMEOUT_S} s:\n{tail(log)}")
        finally:
            end_process_group(proc)
    assert proc.returncode == 0, f"`orchestration.cli run` exited {proc.returncode}:\n{tail(log)}"
    assert (data_dir / "serving.duckdb").is_file(), "the replay run left no serving.duckdb"
    assert (data_dir / "dagster_home" / "dagster.yaml").is_file(), "the run left no instance config"
    return data_dir


def end_process_group(proc: subprocess.Popen) -> None:
    """End a child started with `start_new_session=True` and everything in its process group (for
    `dagster dev`: webserver, daemon, code servers, run workers): SIGINT, as Ctrl-C in its terminal
    would send, then SIGKILL to whatever is left after a bounded wait (`dagster dev` can hang on
    shutdown)."""
    pgid = proc.pid  # start_new_session=True: the child leads its own process group
    for sig, wait_s in ((signal.SIGINT, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)
    proc.poll()


@dataclass(frozen=True)
class DagsterUI:
    base_url: str
    data_dir: Path
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log, lines)

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        response = requests.post(
            f"{self.base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="module")
def dagster_ui(ui_data_dir: Path, replay_root: Path) -> Iterator[DagsterUI]:
    """`dagster dev` (webserver + daemon) on 127.0.0.1 serving the project's workspace.yaml."""
    port = free_port()
    log = ui_data_dir.parent / "dagster-dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    args = [
        str(dagster),
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    base_url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=child_env(ui_data_dir, replay_root / REPLAY_CUT),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"`dagster dev` exited {proc.returncode} before serving:\n{tail(log)}")
            try:
                if requests.get(f"{base_url}/server_info", timeout=5).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"`dagster dev` did not answer /server_info in {SERVER_START_TIMEOUT_S} s:\n{tail(log)}"
                )
            time.sleep(1)
        yield DagsterUI(base_url=base_url, data_dir=ui_data_dir, log=log)
    finally:
        end_process_group(proc)


@pytest.fixture(scope="session")
def browser(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """A Chromium context with a fresh profile (user-data-dir) for the whole session."""
    try:
        playwright = sync_playwright().start()
    except Exception as exc:  # noqa: BLE001 - whatever stops the driver process from starting
        pytest.skip(f"Playwright's driver could not start: {type(exc).__name__}: {exc}")
    try:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            # Two shared cores: give each wait more room than Playwright's defaults (5 s for expect).
            context.set_default_timeout(60_000)
            context.set_default_navigation_timeout(60_000)
            expect.set_options(timeout=30_000)
            yield context
        finally:
            context.close()
    finally:
        playwright.stop()


class Screenshots:
    """Saves under `<data>/ui-screenshots/` and copies to `<project>/data/ui-screenshots/`."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "ui-screenshots"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.saved: list[Path] = []
        # The copies are this session's only: never a mix with an older run's pictures.
        for old in SCREENSHOT_COPY_DIR.glob("*.png"):
            old.unlink()

    def take(self, page: Page, name: str) -> Path:
        path = self.dir / f"{name}.png"
        # The locator handler only fires before an action; a screenshot is not one, so dismiss
        # Dagster's one-time community dialog here if it is showing.
        skip = page.get_by_role("button", name="Skip")
        if skip.is_visible():
            try:
                skip.click(timeout=5000)
            except PlaywrightTimeoutError:
                pass  # the page's locator handler intercepted the click and pressed Skip itself
            skip.wait_for(state="hidden", timeout=10000)
        page.screenshot(path=str(path))
        SCREENSHOT_COPY_DIR.mkdir(parents=True, exist_ok=True)
        copy = SCREENSHOT_COPY_DIR / path.name
        shutil.copyfile(path, copy)
        self.saved.append(copy)
        print(f"screenshot: {path} (copy: {copy})")
        return path


@pytest.fixture(scope="module")
def screenshots(dagster_ui: DagsterUI) -> Screenshots:
    return Screenshots(dagster_ui.data_dir)


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab; Dagster's one-time "Join the Dagster community" dialog is dismissed with Skip
    whenever it covers the page (it shows once per fresh instance)."""
    tab = browser.new_page()
    tab.add_locator_handler(
        tab.get_by_text("Join the Dagster community"),
        lambda: tab.get_by_role("button", name="Skip").click(),
    )
    try:
        yield tab
    finally:
        tab.close()
