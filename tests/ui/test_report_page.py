"""The report page (report/index.html of the 2026-01-31 replay run) in Debian's Chromium, offline:
every request other than the file itself is refused, every chart renders, and hovering the main
chart and the lead-over-time chart shows a tooltip with a value from serving.duckdb."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import BrowserContext, expect

from reporting import charts

pytestmark = pytest.mark.ui
SLUGS = charts.SLUGS


def test_report_page_renders_offline_and_hover_shows_values(
    browser: BrowserContext, ui_data_dir: Path
) -> None:
    index = ui_data_dir / "report" / "index.html"
    assert index.is_file(), f"the replay run left no {index}"
    page = browser.new_page()
    requested: list[str] = []

    def refuse_network(route):
        requested.append(route.request.url)
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", refuse_network)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(index.as_uri())
        for slug in SLUGS:
            vis = page.locator(f"#vis-{slug}")
            expect(vis).to_have_attribute("data-rendered", "1", timeout=30_000)
            expect(vis.locator("canvas")).to_have_count(1)
        assert errors == [], errors
        assert [u for u in requested if not u.startswith("file://")] == []

        # Hover the middle of the main chart: the tooltip names a date and the BTC market cap.
        canvas = page.locator("#vis-net_liquidity_vs_crypto canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.58, box["y"] + box["height"] * 0.55)
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.55, steps=5)
        tooltip = page.locator("#vg-tooltip-element.visible")
        expect(tooltip).to_be_visible(timeout=5_000)
        text = tooltip.inner_text()
        day = re.search(r"\d{4}-\d{2}-\d{2}", text)
        assert day and "BTC market cap" in text, text
        shown = re.search(r"BTC market cap, USD bn\s+([\d,]+\.\d)", text)
        assert shown, text
        con = duckdb.connect(str(ui_data_dir / "serving.duckdb"), read_only=True)
        try:
            cap = con.execute(
                "SELECT btc_market_cap_usd / 1e9 FROM crypto_vs_liquidity WHERE date = ?", [day.group(0)]
            ).fetchone()[0]
        finally:
            con.close()
        assert float(shown.group(1).replace(",", "")) == pytest.approx(cap, abs=0.051)

        # The lead-over-time chart: hovering a window shows its best lead and the interval.
        page.mouse.move(0, 0)
        lead = page.locator("#vis-lead_over_time canvas")
        lead.scroll_into_view_if_needed()
        box = lead.bounding_box()
        found = ""
        for fx in (0.2, 0.25, 0.3, 0.35):
            for fy in [i / 40 for i in range(4, 20)]:
                page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                if tooltip.is_visible() and "best lead" in tooltip.inner_text():
                    found = tooltip.inner_text()
                    break
            if found:
                break
        assert "best lead, days" in found and "interval" in found, found
    finally:
        page.close()
