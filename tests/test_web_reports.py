"""A period's report on the screens and the API: the figures as JSON, the page with its charts
drawn as inline SVG, and the CSV and PDF files `fmd-robot report` writes, as downloads."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest

from robot_controller.reports.csv_report import PACK_COLUMNS
from robot_controller.store import Store
from robot_controller.store import reports as queries
from robot_controller.users import Role
from robot_controller.web import charts
from tests.support.loaded_log import CLERK, Loaded, load_delivery
from tests.support.web import WebWorld, web_world


@pytest.fixture
async def loaded(sqlite_url: str) -> Loaded:
    return await load_delivery(Store.open(sqlite_url))


@pytest.fixture
def world(loaded: Loaded) -> WebWorld:
    return web_world(loaded.store)


def period(loaded: Loaded) -> dict[str, str]:
    return {"from": loaded.started.isoformat(), "to": loaded.ended.isoformat()}


def blocks(text: str) -> list[list[list[str]]]:
    """A report CSV's blocks (rows between empty rows)."""
    found: list[list[list[str]]] = [[]]
    for row in csv.reader(io.StringIO(text)):
        if row:
            found[-1].append(row)
        else:
            found.append([])
    return found


def summary_of(loaded: Loaded) -> queries.Summary:
    with loaded.store.reading() as conn:
        return queries.summary(conn, since=loaded.started, until=loaded.ended, now=loaded.ended)


async def test_the_figures_as_json_are_the_summarys(loaded: Loaded, world: WebWorld) -> None:
    async with world.api(Role.COMPLIANCE) as api:
        answer = await api.get("/api/v1/reports", params=period(loaded))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    summary = summary_of(loaded)
    assert (body["scanned"], body["routes"], body["alerts_by_code"]) == (
        summary.scanned, summary.routes, summary.alerts_by_code)  # fmt: skip
    assert {"section": "packs", "name": "scanned", "value": str(summary.scanned)} in body["figures"]
    assert body["chain_head"].startswith("seq ")


async def test_the_summary_csv_downloads_with_one_row_per_pack(
    loaded: Loaded, world: WebWorld
) -> None:
    async with world.api(Role.COMPLIANCE) as api:
        answer = await api.get("/api/v1/reports.csv", params=period(loaded))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = answer.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="fmd-summary-\d{8}-\d{8}\.csv"', disposition)
    title, figures, _undos, packs = blocks(answer.text)
    assert title[0] == ["report", "summary"]
    assert ["packs", "scanned", str(len(loaded.tokens) + 1)] in figures
    assert tuple(packs[0]) == PACK_COLUMNS
    assert [int(row[0]) for row in packs[1:]] == sorted(t for t, _ in loaded.store.raw_scans())


async def test_the_alert_register_csv_has_the_transition_with_its_actor(
    loaded: Loaded, world: WebWorld
) -> None:
    async with world.browser(Role.COMPLIANCE) as (client, _):
        answer = await client.get(
            "/api/v1/reports.csv", params={**period(loaded), "kind": "alerts"}
        )
    assert answer.status_code == 200, answer.text
    _title, register = blocks(answer.text)
    rows = [dict(zip(register[0], row, strict=True)) for row in register[1:]]
    assert [(r["to_state"], r["actor"]) for r in rows if r["actor"]] == [("investigating", CLERK)]


@pytest.mark.parametrize("kind", ["summary", "alerts"])
async def test_the_pdf_downloads_as_a_pdf(loaded: Loaded, world: WebWorld, kind: str) -> None:
    async with world.api(Role.ADMIN) as api:
        answer = await api.get("/api/v1/reports.pdf", params={**period(loaded), "kind": kind})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].endswith('.pdf"')
    assert f"fmd-{kind}-" in answer.headers["content-disposition"]
    assert answer.content.startswith(b"%PDF")


async def test_the_reports_page_draws_its_charts_as_svg_with_text_labels(
    loaded: Loaded, world: WebWorld
) -> None:
    async with world.browser(Role.COMPLIANCE) as (client, _):
        page = await client.get("/compliance/reports", params=period(loaded))
        default = await client.get("/compliance/reports")  # the last 7 days
    assert page.status_code == 200
    assert page.text.count("<svg") >= 4
    assert "Packs per day by route" in page.text
    routes = summary_of(loaded).routes
    shelved = sum(routes["shelved"].values())
    assert re.search(rf'<text class="count"[^>]*>{shelved}</text>', page.text)
    assert "<script" not in page.text.split("</head>")[1]  # no script of ours in the page
    assert 'href="/api/v1/reports.csv?from=' in page.text
    assert default.status_code == 200
    assert "<svg" in default.text  # today's delivery is in the last 7 days


async def test_bad_or_empty_periods_are_refused_in_words(loaded: Loaded, world: WebWorld) -> None:
    after = {"from": loaded.ended.isoformat(), "to": "9998-01-01"}
    async with world.api(Role.COMPLIANCE) as api:
        backwards = await api.get(
            "/api/v1/reports", params={"from": "2026-12-02", "to": "2026-12-01"}
        )
        unreadable = await api.get("/api/v1/reports.csv", params={"from": "yesterday", "to": "x"})
        missing = await api.get("/api/v1/reports.pdf", params={"from": "2026-12-01"})
        bad_kind = await api.get("/api/v1/reports.csv", params={**period(loaded), "kind": "all"})
        empty = await api.get("/api/v1/reports.csv", params=after)
        empty_figures = await api.get("/api/v1/reports", params=after)
    assert backwards.status_code == 422
    assert "from 2026-12-02 is not before to 2026-12-01" in backwards.json()["detail"]
    assert unreadable.status_code == 422
    assert "'yesterday' is not a date" in unreadable.json()["detail"]
    assert (missing.status_code, bad_kind.status_code) == (422, 422)
    assert empty.status_code == 404
    assert "no report written" in empty.json()["detail"]
    assert (empty_figures.status_code, empty_figures.json()["empty"]) == (200, True)
    async with world.browser(Role.COMPLIANCE) as (client, _):
        page = await client.get("/compliance/reports", params={"from": "2026-13-01", "to": "x"})
    assert page.status_code == 422
    assert "from &#39;2026-13-01&#39; is not a date" in page.text
    assert 'name="from" type="date" value="2026-13-01"' in page.text  # the chooser, as typed
    assert "<svg" not in page.text


async def test_reports_need_a_reviewer(loaded: Loaded, world: WebWorld) -> None:
    async with world.api(Role.OPERATOR) as operator, world.api() as anonymous:
        for client, status in ((operator, 403), (anonymous, 401)):
            for path in ("/api/v1/reports", "/api/v1/reports.csv", "/api/v1/reports.pdf"):
                assert (await client.get(path, params=period(loaded))).status_code == status
    async with world.browser(Role.OPERATOR) as (browser, _):
        assert (await browser.get("/compliance/reports")).status_code == 403


def test_bars_scale_to_the_largest_and_days_carry_their_counts_in_words() -> None:
    drawn = charts.bars("t", [("a", 10, "x"), ("b", 5, "x"), ("c", 0, "x")])
    widths = [bar.width for bar in drawn.bars]
    assert widths[0] == 2 * widths[1] > 0 == widths[2]
    assert charts.bars("none", []).bars == ()
    one = date(2026, 12, 1)
    days = [queries.Day(one + timedelta(days=n), {"shelved": n, "rejected": 1}, n % 2)
            for n in range(40)]  # fmt: skip
    columns = charts.day_columns(days)
    assert [c.total for c in columns.columns] == [n + 1 for n in range(40)]
    assert columns.top == 40
    assert not columns.show_totals  # 40 days: the counts are in words, not over each column
    assert sum(1 for c in columns.columns if c.label) <= 20
    assert columns.columns[3].words == "2026-12-04: 4 packs (1 rejected, 3 shelved), 1 alert"
    tallest = columns.columns[-1]
    assert sum(s.height for s in tallest.segments) == pytest.approx(180)
