"""The robot terminal in a real browser during a real demo delivery: hold, then restart."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from robot_controller.pipeline import utc_now
from robot_controller.store import Store
from robot_controller.users import Role
from tests.support.browser import demo_web

pytestmark = [pytest.mark.browser, pytest.mark.slow]
Shoot = Callable[[Page, str], Path]


def test_an_operator_holds_the_robot_and_restarts_it(
    page: Page, screenshot: Shoot, tmp_path: Path
) -> None:
    db = tmp_path / "fmd-robot.db"
    with demo_web("--packs", "400", "--move-time-ms", "40", "--db", str(db)) as demo:
        store = Store.open(f"sqlite:///{db}")
        try:
            _, token = store.add_user("the-operator", Role.OPERATOR, actor="test", at=utc_now())
        finally:
            store.close()
        page.goto(f"{demo.url}/login?next=/robot")
        page.get_by_label("Your token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{demo.url}/robot")
        state = page.locator(".robot-state .robot-big")
        expect(state).to_contain_text("EXECUTE", timeout=30_000)
        hold = page.get_by_role("button", name="Hold…", exact=True)
        unhold = page.get_by_role("button", name="Unhold…", exact=True)
        expect(hold).to_be_enabled()
        expect(unhold).to_be_disabled()
        hold.click()
        dialog = page.get_by_role("alertdialog")
        expect(dialog).to_contain_text("Send HOLD to the robot?")
        screenshot(page, "confirm")
        dialog.get_by_role("button", name="Yes, hold", exact=True).click()
        expect(state).to_contain_text("HELD", timeout=15_000)
        expect(unhold).to_be_enabled()
        expect(hold).to_be_disabled()
        screenshot(page, "held")
        unhold.click()
        page.get_by_role("alertdialog").get_by_role("button", name="Yes, unhold").click()
        expect(state).to_contain_text("EXECUTE", timeout=15_000)
        expect(hold).to_be_enabled()
        expect(page.locator("form.who")).to_contain_text("the-operator (operator)")
        screenshot(page, "restarted")
