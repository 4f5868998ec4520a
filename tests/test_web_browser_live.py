"""The bench in a real browser while a real demo delivery loads: packs arrive live (SSE)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import demo_web

pytestmark = [pytest.mark.browser, pytest.mark.slow]
Shoot = Callable[[Page, str], Path]
PACKS = 80


def test_the_bench_shows_a_demo_deliverys_packs_as_they_arrive(
    page: Page, screenshot: Shoot
) -> None:
    with demo_web("--packs", str(PACKS), "--move-time-ms", "40", "--suspect-rate", "0.2") as demo:
        page.goto(f"{demo.url}/login")
        page.get_by_label("Your token").fill(demo.token)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{demo.url}/bench")
        rows = page.locator("#packs li.pack")
        on_arrival = rows.count()
        assert on_arrival < PACKS - 10, "the delivery was loaded before the bench opened"
        # rows the page did not have when it opened arrive over its event stream
        expect(page.locator(f"#pack-{on_arrival + 5}")).to_be_attached(timeout=30_000)
        screenshot(page, "loading")
        demo.wait_for("the delivery is loaded")
        expect(page.locator(f"#pack-{PACKS}")).to_be_attached()
        expect(page.locator(".counter.total .n")).to_have_text(str(PACKS))
        assert page.locator(
            "#packs li.pack.route-quarantined, #packs li.pack.route-rejected"
        ).count()
        screenshot(page, "loaded")
        page.set_viewport_size({"width": 768, "height": 1024})
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        screenshot(page, "tablet")
