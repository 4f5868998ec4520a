"""The compliance officer's screens for reading the log, and their API: the log search with its
filters, pages and CSV, a pack's history, the quarantine inventory and `audit verify`, over a
log a real delivery was loaded into."""

from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from robot_controller.proof.configured import signing_key
from robot_controller.reports.csv_report import PACK_COLUMNS
from robot_controller.store import Store
from robot_controller.store.schema import audit_events
from robot_controller.users import Role
from simulators.delivery import Kind
from tests.support.audit import Attacker
from tests.support.loaded_log import CLERK, Loaded, load_delivery
from tests.support.web import WebWorld, web_world

CO = Role.COMPLIANCE


@pytest.fixture
async def loaded(sqlite_url: str) -> Loaded:
    return await load_delivery(Store.open(sqlite_url))


@pytest.fixture
def world(loaded: Loaded) -> WebWorld:
    world = web_world(loaded.store)
    signing_key(world.services.config)  # the key the daemon makes at its first start
    return world


async def test_the_search_pages_through_every_pack_newest_first(
    world: WebWorld, loaded: Loaded
) -> None:
    scans = len(list(loaded.store.raw_scans()))
    seen: list[int] = []
    async with world.api(CO) as client:
        url: str | None = "/api/v1/log?page_size=7"
        while url:
            page = (await client.get(url)).json()
            assert page["total"] == scans
            assert len(page["items"]) <= 7
            seen += [item["token"] for item in page["items"]]
            url = page["next"]
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == scans


async def test_the_filters_narrow_the_search(world: WebWorld, loaded: Loaded) -> None:
    token, pack = loaded.pack(Kind.RECALLED)
    async with world.api(CO) as client:
        quarantined = (await client.get("/api/v1/log", params={"route": "quarantined"})).json()
        by_serial = (await client.get("/api/v1/log", params={"serial": pack.ui.serial})).json()
        by_why = (await client.get("/api/v1/log", params={"why": "recalled"})).json()
        by_token = (await client.get("/api/v1/log", params={"token": token})).json()
        by_actor = (await client.get("/api/v1/log", params={"actor": CLERK})).json()
        nothing = (await client.get("/api/v1/log", params={"from": "2999-01-01"})).json()
    assert quarantined["total"] > 0
    assert {item["route"] for item in quarantined["items"]} == {"quarantined"}
    assert token in [item["token"] for item in by_serial["items"]]
    assert {item["serial"] for item in by_serial["items"]} == {pack.ui.serial}
    assert {item["why"] for item in by_why["items"]} == {"recalled"}
    assert [item["token"] for item in by_token["items"]] == [token]
    assert [item["token"] for item in by_actor["items"]] == [loaded.pack(Kind.UNKNOWN_SERIAL)[0]]
    assert nothing == {"items": [], "total": 0, "page": 1, "page_size": 50, "next": None}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page_size=1000000000", "page_size"),
        ("page=0", "page"),
        ("route=nowhere", "route"),
        ("why=because", "why"),
        ("token=abc", "token"),
        ("from=yesterday", "from 'yesterday' is not a date"),
        ("from=2026-02-02&to=2026-02-01", "from 2026-02-02 is not before to 2026-02-01"),
        ("since=2026-02-02", "since: Extra inputs are not permitted"),
        ("colour=red", "colour"),
    ],
)
async def test_bad_search_parameters_are_422_in_words(
    world: WebWorld, query: str, named: str
) -> None:
    async with world.api(CO) as client:
        answer = await client.get(f"/api/v1/log?{query}")
        download = await client.get(f"/api/v1/log.csv?{query}")
    assert answer.status_code == 422, answer.text
    assert named in answer.json()["detail"]
    assert download.status_code == 422


async def test_the_search_page_shows_results_linked_to_packs_and_its_errors(
    world: WebWorld, loaded: Loaded
) -> None:
    token, _ = loaded.pack(Kind.RECALLED)
    async with world.browser(CO) as (client, _csrf):
        page = await client.get("/compliance/log", params={"why": "recalled"})
        fragment = await client.get(
            "/compliance/log", params={"why": "recalled"}, headers={"HX-Request": "true"}
        )
        bad = await client.get("/compliance/log", params={"page_size": 10**9})
    assert page.status_code == 200
    assert f'href="/compliance/packs/{token}"' in page.text
    assert "<form" in page.text
    assert "/api/v1/log.csv?why=recalled" in page.text
    assert fragment.text.lstrip().startswith('<section class="panel" id="results"')
    assert f'href="/compliance/packs/{token}"' in fragment.text
    assert bad.status_code == 422
    assert "page_size: at most 200 packs a page, not 1000000000" in bad.text


async def test_the_csv_holds_every_match_after_the_chain_head_and_the_filters(
    world: WebWorld, loaded: Loaded
) -> None:
    async with world.api(CO) as client:
        listed = (await client.get("/api/v1/log", params={"route": "quarantined"})).json()
        answer = await client.get("/api/v1/log.csv", params={"route": "quarantined"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    head_seq, head_hash = loaded.store.audit_head()
    assert rows[0] == ["report", "log search"]
    assert ["audit chain head", f"seq {head_seq}, hash {head_hash}"] in rows
    assert ["filter", "value"] in rows
    assert ["route", "quarantined"] in rows
    start = rows.index(list(PACK_COLUMNS)) + 1
    tokens = [int(row[0]) for row in rows[start:]]
    assert tokens == sorted(item["token"] for item in listed["items"])


async def test_a_packs_history_has_its_events_with_who_and_why(
    world: WebWorld, loaded: Loaded
) -> None:
    token, pack = loaded.pack(Kind.UNKNOWN_SERIAL)
    async with world.api(CO) as client:
        history = (await client.get(f"/api/v1/packs/{token}")).json()
    async with world.browser(CO) as (browser, _csrf):
        page = await browser.get(f"/compliance/packs/{token}")
    assert history["serial"] == pack.ui.serial
    assert len(history["tokens"]) == 2  # scanned again with a Tab after it
    kinds = {event["kind"] for event in history["events"]}
    assert {"scan", "decision", "hub", "outcome", "alert", "alert-transition", "audit"} <= kinds
    moved = next(e for e in history["events"] if e["kind"] == "alert-transition")
    assert moved["detail"]["actor"] == CLERK
    assert moved["detail"]["reason"] == "scanner checked"
    assert page.status_code == 200
    assert "scanner checked" in page.text
    assert CLERK in page.text
    assert f'action="/compliance/packs/{token}/actions"' in page.text  # the pack actions form


async def test_an_unknown_pack_is_404_in_words_and_a_bad_token_422(world: WebWorld) -> None:
    async with world.api(CO) as client:
        unknown = await client.get("/api/v1/packs/999999")
        bad = await client.get("/api/v1/packs/abc")
    async with world.browser(CO) as (browser, _csrf):
        page = await browser.get("/compliance/packs/999999")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "the log holds no pack scan with token 999999"
    assert bad.status_code == 422
    assert page.status_code == 404
    assert "no pack scan with token 999999" in page.text


async def test_the_quarantine_inventory_is_the_stores_with_its_alert_cases(
    world: WebWorld, loaded: Loaded
) -> None:
    held = loaded.store.quarantine()
    async with world.api(CO) as client:
        listed = (await client.get("/api/v1/quarantine")).json()
    async with world.browser(CO) as (browser, _csrf):
        page = await browser.get("/compliance/quarantine")
    assert held
    assert [pack["token"] for pack in listed] == [pack.token for pack in held]
    cased = [pack for pack in held if pack.alert is not None]
    assert cased
    cases = {p.alert.id for p in cased if p.alert}
    assert {p["alert"]["id"] for p in listed if p["alert"]} == cases
    assert f'href="/compliance/alerts/{min(cases)}"' in page.text


def _verified_events(store: Store) -> list[sa.Row[tuple[str, str, str]]]:
    with store.reading() as conn:
        query = sa.select(audit_events.c.actor, audit_events.c.why, audit_events.c.detail)
        return list(conn.execute(query.where(audit_events.c.action == "audit.verified")))


async def test_verify_says_intact_keeps_the_result_and_records_who_ran_it(
    world: WebWorld, loaded: Loaded
) -> None:
    async with world.api(CO) as client:
        before = (await client.get("/api/v1/audit")).json()
        ran = (await client.post("/api/v1/audit/verify")).json()
        after = (await client.get("/api/v1/audit")).json()
    async with world.browser(CO) as (browser, _csrf):
        page = await browser.get("/compliance/audit")
        overview = await browser.get("/compliance")
    assert before == {"last": None, "running": False}
    assert ran["ok"] is True
    assert ran["findings"] == []
    assert ran["error"] is None
    assert ran["actor"] == "compliance"
    assert ran["events"] == ran["last_seq"] > 0
    assert after["last"] == ran
    (event,) = _verified_events(loaded.store)
    assert event.actor == "compliance"
    assert event.why.startswith("intact: ")
    assert json.loads(event.detail) == {"ok": True, "last_seq": ran["last_seq"], "findings": 0}
    assert "Intact" in page.text
    assert "Run by compliance" in page.text
    assert "Intact" in overview.text


async def test_verify_names_the_seq_of_an_edited_event(world: WebWorld, loaded: Loaded) -> None:
    Attacker(loaded.store).run("UPDATE audit_events SET why = 'nothing to see' WHERE id = 3")
    async with world.browser(CO) as (browser, csrf):
        forged = await browser.post("/compliance/audit/verify")
        page = await browser.post("/compliance/audit/verify", data={"csrf_token": csrf})
    assert forged.status_code == 403  # no CSRF token: nothing ran
    assert page.status_code == 200
    assert "Broken" in page.text
    last = world.services.verified
    assert last is not None
    assert not last.ok
    assert 3 in {finding.seq for finding in last.findings}
    (event,) = _verified_events(loaded.store)
    assert event.why.startswith("broken: ")


async def test_without_a_key_verify_says_why_it_did_not_run(loaded: Loaded) -> None:
    world = web_world(loaded.store)  # no key made beside the store
    async with world.api(CO) as client:
        ran = (await client.post("/api/v1/audit/verify")).json()
    assert ran["ok"] is False
    assert "does not exist" in ran["error"]
    assert _verified_events(loaded.store) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/log"),
        ("GET", "/api/v1/log.csv"),
        ("GET", "/api/v1/packs/1"),
        ("GET", "/api/v1/quarantine"),
        ("GET", "/api/v1/audit"),
        ("POST", "/api/v1/audit/verify"),
    ],
)
async def test_the_api_is_for_compliance_and_admins(
    world: WebWorld, method: str, path: str
) -> None:
    async with world.api() as anonymous, world.api(Role.OPERATOR) as operator:
        nobody = await anonymous.request(method, path)
        refused = await operator.request(method, path)
    async with world.api(Role.ADMIN) as admin:
        allowed = await admin.request(method, path)
    assert nobody.status_code == 401
    assert refused.status_code == 403
    assert allowed.status_code == 200
    assert world.services.verified is None or world.services.verified.actor == "admin"


async def test_the_screens_are_refused_to_an_operator_and_anonymous(world: WebWorld) -> None:
    async with world.browser(Role.OPERATOR) as (operator, csrf):
        pages = [await operator.get(path) for path in ("/compliance", "/compliance/log",
                 "/compliance/quarantine", "/compliance/audit", "/compliance/packs/1")]  # fmt: skip
        verify = await operator.post("/compliance/audit/verify", data={"csrf_token": csrf})
    async with world.api() as anonymous:
        away = await anonymous.get("/compliance/log")
    assert {page.status_code for page in pages} == {403}
    assert verify.status_code == 403
    assert world.services.verified is None
    assert away.status_code == 303
    assert away.headers["location"].startswith("/login")


async def test_the_overview_counts_open_alerts_and_quarantined_packs(
    world: WebWorld, loaded: Loaded
) -> None:
    unresolved = [case for case in loaded.store.alert_cases() if case.state != "closed"]
    async with world.browser(CO) as (browser, _csrf):
        page = await browser.get("/compliance")
    assert page.status_code == 200
    assert f'<span class="number">{len(unresolved)}</span> alert case(s)' in page.text
    assert f'<span class="number">{len(loaded.store.quarantine())}</span> pack(s)' in page.text
    for tab in ("log", "alerts", "reports", "audit", "quarantine"):
        href = f"/compliance/{tab}"
        assert f'href="{href}"' in page.text
