"""The compliance officer works alerts and packs from the screens and the API: transitions with a
reason (and a cause to close), audited in their name; what the rules refuse is 409 and changes
nothing; pack actions queued in the outbox in their name, refused past the undo window."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from fmd.codes.encode import encode_gs1
from fmd.hub import MockHub
from robot_controller.alert_cases import AlertState
from robot_controller.pack_actions import PackRequest, commit, send
from robot_controller.pack_rules import PackAction
from robot_controller.states import IntentStatus
from robot_controller.store import Store
from robot_controller.store.schema import audit_events, outbox
from robot_controller.users import Role
from robot_controller.web.alerts import PAGE
from robot_controller.web.pack_actions import choices
from robot_controller.web.pages import templates
from tests.support.alerts import raise_alert
from tests.support.outbox import NOW, at_now, quick
from tests.support.packs import hub_pack
from tests.support.web import WebWorld, web_world


@pytest.fixture
def world(store_url: str) -> WebWorld:
    store = Store.open(store_url)
    for n in (1, 2, 3):
        raise_alert(store, hub_pack(f"ALERT{n}"), n)
    return web_world(store)


def events(store: Store, subject: str) -> list[Any]:
    with store.engine.connect() as conn:
        query = sa.select(audit_events).where(audit_events.c.subject == subject)
        return list(conn.execute(query.order_by(audit_events.c.id)))


def case_state(world: WebWorld, alert: int) -> AlertState:
    found = world.store.alert_case(alert)
    assert found is not None
    return found[0].state


async def test_an_officer_investigates_then_closes_an_alert_and_the_log_names_them(
    world: WebWorld,
) -> None:
    async with world.api(Role.COMPLIANCE) as api:
        listed = await api.get("/api/v1/alerts", params={"state": "open"})
        assert [case["id"] for case in listed.json()] == [1, 2, 3]
        moved = await api.post("/api/v1/alerts/1/transitions",
                               json={"to": "investigating", "reason": "batch checked"})  # fmt: skip
        assert moved.status_code == 200, moved.text
        assert moved.json()["next_states"] == ["closed"]
        closed = await api.post("/api/v1/alerts/1/transitions", json={
            "to": "closed", "cause": "scanner-or-process-error", "reason": "misread by scanner 2",
        })  # fmt: skip
        assert closed.status_code == 200, closed.text
        shown = (await api.get("/api/v1/alerts/1")).json()
        still_open = (await api.get("/api/v1/alerts", params={"state": "open"})).json()
    assert (shown["case"]["state"], shown["case"]["cause"]) == (
        "closed", "scanner-or-process-error")  # fmt: skip
    assert [(t["from_state"], t["to_state"], t["actor"], t["reason"])
            for t in shown["transitions"]] == [
        ("open", "investigating", "compliance", "batch checked"),
        ("investigating", "closed", "compliance", "misread by scanner 2"),
    ]  # fmt: skip
    assert [case["id"] for case in still_open] == [2, 3]
    logged = events(world.store, "alert:1")
    assert [(e.actor, e.action, e.why) for e in logged] == [
        ("compliance", "alert.investigating", "batch checked"),
        ("compliance", "alert.closed", "misread by scanner 2"),
    ]
    assert world.store.check_audit_chain().ok


async def test_a_browser_moves_a_case_by_its_form_and_sees_who_did_it(world: WebWorld) -> None:
    async with world.browser(Role.COMPLIANCE) as (client, csrf):
        register = await client.get("/compliance/alerts?state=open")
        assert register.status_code == 200
        assert 'href="/compliance/alerts/2"' in register.text
        moved = await client.post("/compliance/alerts/2/transitions", data={
            "csrf_token": csrf, "to": "closed", "cause": "reported-to-authority",
            "reason": "reported to the NCA",
        })  # fmt: skip
        assert moved.status_code == 303
        assert moved.headers["location"] == "/compliance/alerts/2"
        page = await client.get("/compliance/alerts/2")
        forged = await client.post("/compliance/alerts/3/transitions",
                                   data={"to": "investigating", "reason": "no token"})  # fmt: skip
    assert "reported to the NCA" in page.text
    assert "compliance" in page.text
    assert "a closed case is final" in page.text
    assert forged.status_code == 403
    assert case_state(world, 3) is AlertState.OPEN


@pytest.mark.parametrize("reason", ["", "   "])
async def test_a_transition_without_a_reason_is_422_and_changes_nothing(
    world: WebWorld, reason: str
) -> None:
    async with world.api(Role.COMPLIANCE) as api, world.browser(Role.ADMIN) as (client, csrf):
        answer = await api.post("/api/v1/alerts/1/transitions",
                                json={"to": "investigating", "reason": reason})  # fmt: skip
        missing = await api.post("/api/v1/alerts/1/transitions", json={"to": "investigating"})
        form = await client.post(
            "/compliance/alerts/1/transitions",
            data={"csrf_token": csrf, "to": "investigating", "reason": reason},
        )
    assert answer.status_code == 422
    assert "reason: say why" in answer.json()["detail"]
    assert missing.status_code == 422
    assert form.status_code == 422
    assert "reason: say why" in form.text
    assert case_state(world, 1) is AlertState.OPEN
    assert events(world.store, "alert:1") == []


async def test_what_the_rules_refuse_is_409_in_their_words_and_bad_names_are_422(
    world: WebWorld,
) -> None:
    async with world.api(Role.ADMIN) as api:
        no_cause = await api.post("/api/v1/alerts/1/transitions",
                                  json={"to": "closed", "reason": "done"})  # fmt: skip
        await api.post("/api/v1/alerts/2/transitions", json={
            "to": "closed", "cause": "returned-to-supplier", "reason": "sent back"})  # fmt: skip
        final = await api.post("/api/v1/alerts/2/transitions",
                               json={"to": "investigating", "reason": "again"})  # fmt: skip
        bad_state = await api.post("/api/v1/alerts/1/transitions",
                                   json={"to": "solved", "reason": "x"})  # fmt: skip
        bad_filter = await api.get("/api/v1/alerts", params={"state": "solved"})
        unknown = await api.get("/api/v1/alerts/99")
        unknown_move = await api.post("/api/v1/alerts/99/transitions",
                                      json={"to": "investigating", "reason": "x"})  # fmt: skip
        page_filter = await api.get("/compliance/alerts", params={"state": "solved"})
    assert no_cause.status_code == 409
    assert "needs a cause" in no_cause.json()["detail"]
    assert final.status_code == 409
    assert "a closed case is final" in final.json()["detail"]
    assert (bad_state.status_code, bad_filter.status_code) == (422, 422)
    assert (unknown.status_code, unknown_move.status_code) == (404, 404)
    assert "no alert 99" in unknown.json()["detail"]
    assert page_filter.status_code == 422
    assert case_state(world, 1) is AlertState.OPEN
    assert [e.action for e in events(world.store, "alert:2")] == ["alert.closed"]


async def test_operators_are_refused_and_anonymous_callers_must_sign_in(world: WebWorld) -> None:
    async with world.api(Role.OPERATOR) as operator, world.api() as anonymous:
        for client, status in ((operator, 403), (anonymous, 401)):
            assert (await client.get("/api/v1/alerts")).status_code == status
            assert (await client.get("/api/v1/alerts/1")).status_code == status
            moved = await client.post("/api/v1/alerts/1/transitions",
                                      json={"to": "investigating", "reason": "x"})  # fmt: skip
            assert moved.status_code == status
            acted = await client.post("/api/v1/packs/1/actions",
                                      json={"action": "lock", "reason": "x"})  # fmt: skip
            assert acted.status_code == status
    assert case_state(world, 1) is AlertState.OPEN


# -- pack actions ---------------------------------------------------------------------------


def a_hub(*serials: str) -> MockHub:
    """A national system that knows these packs of batch B1, expiring end of 2028."""
    hub = MockHub(seed=3)
    pack = hub_pack(serials[0])
    hub.add_product(pack.product_code)
    hub.add_batch(pack.product_code, "B1", NOW.date().replace(year=2028, month=12, day=31))
    for serial in serials:
        hub.add_pack(hub_pack(serial))
    return hub


async def sampled(world: WebWorld, hub: MockHub, serial: str, *, hours_ago: float) -> int:
    """A pack decommissioned as SAMPLE here `hours_ago`, the hub having made it; its token."""
    pack = hub_pack(serial)
    asked = PackRequest(PackAction.SAMPLE, pack.product_code, serial, "dr.ana", "sample",
                        world.services.config.site.location, scanned=pack,
                        raw=encode_gs1(pack))  # fmt: skip
    _, intent = commit(world.store, asked, trx=f"t-{serial}",
                       at=NOW - timedelta(hours=hours_ago))  # fmt: skip
    sent = await send(world.store, quick(hub), intent, clock=at_now)
    assert sent.intent.status is IntentStatus.DONE
    return intent.token


async def test_a_pack_action_is_queued_in_the_officers_name_and_one_past_its_window_refused(
    world: WebWorld,
) -> None:
    hub = a_hub("RECENT", "OLD")
    recent = await sampled(world, hub, "RECENT", hours_ago=2)
    old = await sampled(world, hub, "OLD", hours_ago=241)
    offered = {c.action: c for c in await choices(world.services, old)}
    assert not offered[PackAction.UNDO].allowed
    assert "more than 240 h ago" in (offered[PackAction.UNDO].refused or "")
    async with world.api(Role.COMPLIANCE) as api:
        undo = {"action": "undo", "reason": "sampled by mistake"}
        undone = await api.post(f"/api/v1/packs/{recent}/actions", json=undo)
        late = await api.post(f"/api/v1/packs/{old}/actions",
                              json={"action": "undo", "reason": "too late"})  # fmt: skip
        again = await api.post(f"/api/v1/packs/{recent}/actions",
                               json={"action": "lock", "reason": "while it waits"})  # fmt: skip
        unknown = await api.post("/api/v1/packs/999/actions",
                                 json={"action": "lock", "reason": "x"})  # fmt: skip
        blank = await api.post(f"/api/v1/packs/{old}/actions",
                               json={"action": "lock", "reason": " "})  # fmt: skip
        bad = await api.post(f"/api/v1/packs/{old}/actions", json={"action": "burn", "reason": "x"})
    assert undone.status_code == 202, undone.text
    body = undone.json()
    assert (body["operation"], body["intent"], body["actor"]) == ("undo", "pending", "compliance")
    assert "committed to the outbox" in body["message"]
    assert late.status_code == 409
    assert "more than 240 h ago" in late.json()["detail"]
    assert again.status_code == 409
    assert "still waits in the outbox" in again.json()["detail"]
    assert (unknown.status_code, blank.status_code, bad.status_code) == (404, 422, 422)
    with world.store.engine.connect() as conn:
        queued = list(conn.execute(sa.select(outbox).where(outbox.c.actor == "compliance")))
    assert [(row.token, row.operation, row.status, row.note) for row in queued] == [
        (recent, "undo", "pending", "sampled by mistake")
    ]
    logged = [(e.actor, e.action, e.why) for e in events(world.store, f"pack:{recent}")]
    assert ("compliance", "outbox.queued", "sampled by mistake") in logged
    assert not [e for e in events(world.store, f"pack:{old}") if e.actor == "compliance"]


async def test_the_pack_action_form_commits_and_shows_what_the_rules_say(world: WebWorld) -> None:
    hub = a_hub("FORM1")
    token = await sampled(world, hub, "FORM1", hours_ago=1)
    async with world.browser(Role.COMPLIANCE) as (client, csrf):
        refused = await client.post(f"/compliance/packs/{token}/actions",
                                    data={"csrf_token": csrf, "action": "lock",
                                          "reason": "hold it"})  # fmt: skip
        empty = await client.post(
            f"/compliance/packs/{token}/actions",
            data={"csrf_token": csrf, "action": "undo", "reason": ""},
        )
        done = await client.post(f"/compliance/packs/{token}/actions",
                                 data={"csrf_token": csrf, "action": "undo",
                                       "reason": "wrong pack"})  # fmt: skip
    assert refused.status_code == 409
    assert "decommissioned here already" in refused.text
    assert empty.status_code == 422
    assert done.status_code == 200
    assert "undo of pack" in done.text
    assert "committed to the outbox" in done.text
    assert "No action is allowed on this pack now" in done.text  # the undo waits in the outbox
    assert 'type="submit" class="danger"' not in done.text
    assert [i.actor for i in world.store.intents_of(token)][-1] == "compliance"


async def test_the_pack_actions_partial_renders_from_token_csrf_and_its_choices(
    world: WebWorld,
) -> None:
    hub = a_hub("PART1")
    token = await sampled(world, hub, "PART1", hours_ago=1)
    partial = templates.get_template("compliance/_pack_actions.html")
    offered = await choices(world.services, token)
    html = partial.render(token=token, csrf="CSRF-1", pack_actions=offered)
    bare = partial.render(token=token, csrf="CSRF-1")
    for page in (html, bare):
        assert f'action="/compliance/packs/{token}/actions"' in page
        assert 'name="csrf_token" value="CSRF-1"' in page
        assert 'name="reason" required' in page
    assert re.search(r'value="undo" required>', html)  # allowed: no undo for 240 h
    assert re.search(r'value="lock" required disabled>', html)
    assert "decommissioned here already" in html
    assert await choices(world.services, 999) == []


async def test_the_schema_documents_the_refusals_of_each_route(world: WebWorld) -> None:
    async with world.api() as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    moved = paths["/api/v1/alerts/{alert}/transitions"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(moved)
    assert set(paths["/api/v1/packs/{token}/actions"]["post"]["responses"]) >= {"202", "409"}
    assert "text/csv" in paths["/api/v1/reports.csv"]["get"]["responses"]["200"]["content"]


async def test_a_long_register_is_paged_and_a_bad_page_is_422(world: WebWorld) -> None:
    with world.store.batch():
        for n in range(4, 4 + PAGE):
            raise_alert(world.store, hub_pack(f"MORE{n}"), n)
    async with world.browser(Role.COMPLIANCE) as (client, _):
        first = await client.get("/compliance/alerts", params={"state": "open"})
        second = await client.get("/compliance/alerts", params={"state": "open", "page": 2})
        bad = await client.get("/compliance/alerts", params={"page": 0})
    assert f'href="/compliance/alerts/{PAGE}"' in first.text
    assert f'href="/compliance/alerts/{PAGE + 1}"' not in first.text
    assert "page 1 of 2" in first.text
    assert 'href="/compliance/alerts?state=open&amp;page=2"' in first.text
    assert f'href="/compliance/alerts/{PAGE + 3}"' in second.text
    assert bad.status_code == 422
