"""The screens in a real browser (Debian's Chromium through Playwright) against a real
`fmd-robot demo --web`: signing in, the compliance officer's alert and download. Screenshots
are kept in `test-artifacts/` (or `$FMD_ARTIFACTS`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from robot_controller.pipeline import utc_now
from robot_controller.store import Store
from robot_controller.users import Role
from tests.support.browser import Demo, demo_web

pytestmark = [pytest.mark.browser, pytest.mark.slow]
Shoot = Callable[[Page, str], Path]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, dict[Role, str]]]:
    """A demo delivery with many suspect packs, loaded and still served; a person per role."""
    db = tmp_path_factory.mktemp("demo") / "fmd-robot.db"
    with demo_web("--packs", "60", "--suspect-rate", "0.3", "--db", str(db)) as demo:
        demo.wait_for("the delivery is loaded")
        store = Store.open(f"sqlite:///{db}")
        try:
            tokens = {
                role: store.add_user(f"the-{role.value}", role, actor="test", at=utc_now())[1]
                for role in Role
            }
        finally:
            store.close()
        yield demo, tokens


def sign_in(page: Page, demo: Demo, token: str) -> None:
    page.goto(f"{demo.url}/login")
    page.get_by_label("Your token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_a_wrong_token_is_told_so_and_the_right_one_signs_in(
    loaded: tuple[Demo, dict[Role, str]], page: Page, screenshot: Shoot
) -> None:
    demo, tokens = loaded
    sign_in(page, demo, "fmd_op_not-a-token")
    expect(page.get_by_role("alert")).to_have_text("That token is not known here.")
    expect(page).to_have_url(f"{demo.url}/login")
    screenshot(page, "refused")
    sign_in(page, demo, tokens[Role.OPERATOR])
    expect(page).to_have_url(f"{demo.url}/bench")  # an operator's start page
    page.goto(f"{demo.url}/login")
    expect(page.locator("form.who")).to_contain_text("the-operator (operator)")


def test_a_compliance_officer_closes_an_alert_with_a_reason_and_downloads_the_register(
    loaded: tuple[Demo, dict[Role, str]], page: Page, screenshot: Shoot
) -> None:
    demo, tokens = loaded
    sign_in(page, demo, tokens[Role.COMPLIANCE])
    page.goto(f"{demo.url}/compliance/alerts?state=open")
    first = page.locator("table.register tbody tr").first
    case_id = first.locator("td").first.locator("a").inner_text()
    screenshot(page, "register")
    first.locator("td").first.locator("a").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Alert {case_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("open")
    closing = page.locator("form.move").filter(has_text="Close the case")
    closing.get_by_role("button", name="✓ close").click()  # no cause, no reason: the browser asks
    expect(page.get_by_role("heading", level=1)).to_contain_text("open")
    closing.get_by_label("Cause (required to close)").select_option("scanner-or-process-error")
    closing.get_by_label("Reason (required, kept in the audit log)").fill("rescanned: a misread")
    closing.get_by_role("button", name="✓ close").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "closed (scanner-or-process-error)"
    )
    step = page.locator("tr").filter(has_text="open → closed")
    expect(step).to_contain_text("the-compliance")
    expect(step).to_contain_text("rescanned: a misread")
    expect(page.get_by_role("button", name="✓ close")).to_have_count(0)  # a closed case is final
    screenshot(page, "closed")

    today = datetime.now(UTC).date().isoformat()
    page.goto(f"{demo.url}/compliance/reports?from={today}&to={today}")
    register = page.locator(".downloads p").filter(has_text="Alert register")
    with page.expect_download() as downloading:
        register.get_by_role("link", name="⬇ CSV").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".csv")
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert any("rescanned: a misread" in row and "the-compliance" in row for row in rows), rows
    screenshot(page, "reports")


def test_the_alert_register_fits_a_tablet(
    loaded: tuple[Demo, dict[Role, str]], page: Page, screenshot: Shoot
) -> None:
    demo, tokens = loaded
    page.set_viewport_size({"width": 768, "height": 1024})
    sign_in(page, demo, tokens[Role.ADMIN])
    page.goto(f"{demo.url}/compliance/alerts")
    screenshot(page, "tablet-alerts")
    assert page.evaluate("document.documentElement.scrollWidth") <= 768  # nothing off the side
    expect(page.locator("table.register tbody tr")).not_to_have_count(0)
