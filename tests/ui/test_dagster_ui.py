"""The Dagster UI as a person uses it, in a real browser (Playwright + Debian's Chromium).

1. The asset graph shows every layer, ingest → staging → intermediate → marts → serving → report,
   and each group's assets by name (expected names come from the code location's definitions).
2. The report asset is materialized from its asset page (the "Materialize" button), the launched
   run reaches "Success" on its run page, and the asset page then shows that run's materialization,
   the report path it wrote and the main chart embedded in its metadata.

Everything is read from what the page renders (role and text locators); the GraphQL API is used
only to confirm what the UI showed. Screenshots: see tests/ui/conftest.py (`Screenshots`).
"""

from __future__ import annotations

import re
import shutil
from collections import defaultdict
from urllib.parse import quote

import pytest
from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from ingest import settings
from tests.ui.conftest import DagsterUI, Screenshots

pytestmark = pytest.mark.ui

# The layers; every other group the definitions declare is checked too.
LAYERS = ("ingest", "staging", "marts", "serving", "report")
RUN_TIMEOUT_MS = 180_000
EVENTS_TIMEOUT_MS = 30_000
RUN_DONE = re.compile(r"^(Success|Failure|Canceled)$")


def groups_from_definitions() -> dict[str, list[str]]:
    """Group name → asset names (last key component, as the graph labels them), from the code
    location the webserver loads."""
    from orchestration.definitions import defs

    groups: dict[str, list[str]] = defaultdict(list)
    for node in defs.resolve_asset_graph().asset_nodes:
        groups[node.group_name].append(node.key.path[-1])
    return dict(groups)


def graph(page: Page) -> Locator:
    """The lineage graph: the SVG whose nodes are HTML (foreignObject) boxes."""
    return page.locator("svg").filter(has=page.locator("foreignObject")).first


def shown(scope: Locator, text: str) -> Locator:
    """Visible elements whose whole text is `text` (hidden measuring copies are skipped)."""
    return scope.get_by_text(text, exact=True).filter(visible=True).first


def settle(page: Page) -> None:
    """Let the nodes' status (colours, latest materialization) load before a screenshot; only the
    picture depends on it, so a page that never goes quiet is not an error."""
    try:
        page.wait_for_load_state("networkidle", timeout=15_000)
    except PlaywrightTimeoutError:
        pass


def test_asset_graph_shows_every_layer(page: Page, dagster_ui: DagsterUI, screenshots: Screenshots) -> None:
    groups = groups_from_definitions()
    missing = [layer for layer in LAYERS if layer not in groups]
    assert not missing, f"the definitions have no asset group {missing}; groups: {sorted(groups)}"

    # Global lineage: one box per group, collapsed.
    page.goto(f"{dagster_ui.base_url}/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    for group in groups:
        expect(shown(graph(page), group), f"group {group} in the asset graph").to_be_visible()

    # Expand every group (the graph's context-menu action "Expand all groups", shortcut Alt+E); the
    # browser remembers it, and a reload lays the expanded graph out to fit the window.
    page.keyboard.press("Alt+e")
    for name in groups["serving"] + groups["report"]:
        expect(shown(graph(page), name), f"asset {name} in the expanded graph").to_be_visible()
    page.reload()
    for name in groups["serving"] + groups["report"]:
        expect(shown(graph(page), name), f"asset {name} in the expanded graph").to_be_visible()
    settle(page)
    screenshots.take(page, "asset-graph")

    # Each group on its own (the graph filtered to `group:"<name>"`, as the asset page's group link
    # opens it): every asset of the group is a node labelled with its full name.
    for group, names in groups.items():
        selection = quote(f'group:"{group}"')
        page.goto(f"{dagster_ui.base_url}/asset-groups~{selection}/")
        for name in names:
            expect(shown(graph(page), name), f"asset {name} in the graph of group {group}").to_be_visible()
        if group in ("ingest", "report"):
            expect(page.get_by_text("Loading...", exact=True).filter(visible=True)).to_have_count(0)
            settle(page)
            screenshots.take(page, f"asset-graph-{group}")


def test_materialize_report_from_ui(
    page: Page, dagster_ui: DagsterUI, screenshots: Screenshots, clean_env: pytest.MonkeyPatch
) -> None:
    from orchestration.assets.report import liquidity_report

    key_path = liquidity_report.key.path
    assert key_path == ["report", "liquidity_report"], key_path
    clean_env.setenv("LIQUIDITY_DATA_DIR", str(dagster_ui.data_dir))
    index_html = settings.report_dir() / "index.html"
    # The replay run wrote a report too: remove it, so only the run launched below can bring it back.
    assert index_html.is_file(), f"the replay run left no {index_html}"
    shutil.rmtree(settings.report_dir())

    asset_url = f"{dagster_ui.base_url}/assets/{'/'.join(key_path)}"
    page.goto(asset_url)
    expect(shown(page.locator("body"), key_path[-1])).to_be_visible()
    page.get_by_role("button", name=re.compile(r"(^|\s)Materialize$")).click()

    # The toast names the launched run and links to it.
    toast = page.get_by_role("listitem").filter(has_text="Launched run")
    expect(toast).to_be_visible()
    view = toast.get_by_role("link", name="View")
    href = view.get_attribute("href") or ""
    match = re.search(r"/runs/([0-9a-f-]{36})", href)
    assert match, f"the 'Launched run' toast links to {href!r}, not to a run"
    run_id = match.group(1)
    expect(toast).to_contain_text(run_id[:8])
    view.click()
    expect(page).to_have_url(re.compile(f"/runs/{run_id}"))

    # Queued → Starting → Started → Success, as the run page's status tag shows it.
    status = page.get_by_text(RUN_DONE).filter(visible=True).first
    try:
        expect(status).to_be_visible(timeout=RUN_TIMEOUT_MS)
    except AssertionError as exc:
        screenshots.take(page, "report-run")
        raise AssertionError(
            f"run {run_id} did not finish within {RUN_TIMEOUT_MS // 1000} s; dagster dev log:\n"
            f"{dagster_ui.log_tail()}"
        ) from exc
    assert status.inner_text() == "Success", (
        f"run {run_id} ended {status.inner_text()!r}; dagster dev log:\n{dagster_ui.log_tail()}"
    )
    # The page we are on streams the run's events as they are stored: without a reload, its step
    # list shows the one step (one asset) succeeded and its event log shows RUN_SUCCESS.
    try:
        expect(page.get_by_text("Succeeded (1)", exact=True)).to_be_visible(timeout=EVENTS_TIMEOUT_MS)
        expect(page.get_by_text("RUN_SUCCESS", exact=True).first).to_be_visible(timeout=EVENTS_TIMEOUT_MS)
    except AssertionError as exc:
        raise AssertionError(
            f"run {run_id} shows Success, but its run page did not receive the run's events within "
            f"{EVENTS_TIMEOUT_MS // 1000} s (no 'Succeeded (1)' step, no RUN_SUCCESS event): the "
            "webserver's event-log watch did not fire for this run's event log"
        ) from exc
    finally:
        screenshots.take(page, "report-run")
    run = dagster_ui.graphql(
        "query($id: ID!) { runOrError(runId: $id) { ... on Run { status assetSelection { path } } } }",
        {"id": run_id},
    )["runOrError"]
    assert run == {"status": "SUCCESS", "assetSelection": [{"path": key_path}]}, run

    # The asset page: the latest materialization is this run's, with the report it wrote.
    page.goto(asset_url)
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    expect(page.locator(f'a[href^="/runs/{run_id}"]').first).to_be_visible()
    expect(shown(page.locator("table"), str(index_html))).to_be_visible()
    assert index_html.is_file(), f"the UI-launched run {run_id} did not write {index_html}"
    screenshots.take(page, "report-asset")

    # The main chart is embedded as Markdown in the metadata: open it and check the image decoded.
    markdown = page.get_by_text("[Show Markdown]", exact=True)
    expect(markdown.first).to_be_visible()
    image = None
    for i in range(markdown.count()):
        markdown.nth(i).click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        try:
            dialog.locator("img").first.wait_for(timeout=5_000)
        except PlaywrightTimeoutError:
            dialog.get_by_role("button", name="Close").click()
            continue
        image = dialog.locator("img").first
        break
    assert image is not None, "no Markdown metadata entry of the report embeds an image"
    expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width > 0 and height > 0, "the embedded chart did not decode as an image"
    screenshots.take(page, "report-main-chart")

    print("screenshots:\n" + "\n".join(str(p) for p in screenshots.saved))
