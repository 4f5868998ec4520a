"""Shared fixtures: stores on SQLite and PostgreSQL, captured and quiet structured logs, and
Chromium (Playwright) for the browser tests."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import structlog
from hypothesis import HealthCheck, settings

from robot_controller.store import Store
from tests.support.browser import CHROMIUM_ARGS, artifact_name, chromium_path
from tests.support.logs import Logs
from tests.support.services import require

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Properties are judged by what they find, not by how fast a busy machine (the suite runs on
# every core: `-n auto`) draws their examples.
settings.register_profile("fmd", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fmd")

# A daemon a test starts serves its screens on any free port, never on the site's 8080.
os.environ.setdefault("FMD_WEB__PORT", "0")

POSTGRES_URL = os.environ.get(
    "FMD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def _quiet_structured_logs() -> None:
    """Render every log event at every level (so logging is exercised, whatever level an earlier
    test set) but keep it off pytest's streams."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
        logger_factory=structlog.ReturnLoggerFactory(),
        cache_logger_on_first_use=False,
    )


@pytest.fixture
def logs() -> Iterator[Logs]:
    """Every structlog event the test causes."""
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    try:
        import psycopg
    except ImportError:
        require("psycopg")
    conninfo = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        admin = psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        require(f"PostgreSQL at {POSTGRES_URL}")
    name = f"fmd_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield conninfo.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fmd-robot.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


SCREENSHOTS: list[Path] = []
"""The screenshots this run took, listed at its end."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SCREENSHOTS:
        terminalreporter.section("screenshots (test artefacts: look at them)")
        for path in SCREENSHOTS:
            terminalreporter.write_line(str(path))


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (one per test module)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(chromium: Browser) -> Iterator[Page]:
    """A fresh browser context's page at a bench PC's 1280×1024."""
    context = chromium.new_context(viewport={"width": 1280, "height": 1024})
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """`screenshot(page, what)`: the whole page saved as a test artefact (its path printed)."""

    def take(page: Page, what: str) -> Path:
        path = artifact_name(request.node.nodeid, what)
        page.screenshot(path=str(path), full_page=True)
        SCREENSHOTS.append(path)
        return path

    return take
