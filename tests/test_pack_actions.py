"""A person's pack action on a real store (SQLite and PostgreSQL) and the hub: committed in their
name before it is sent, sent by the replay of that pack alone, never sent twice after a lost
answer; the undo deadline as replay and the daemon keep it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from fmd.codes.encode import encode_gs1
from fmd.hub import MockHub, PackState, Reason
from fmd.policy import SitePolicy, Why
from robot_controller.attention import UndoDeadlineWatch
from robot_controller.outbox import replay
from robot_controller.pack_actions import PackRequest, commit, send
from robot_controller.pack_rules import ActionRefused, PackAction
from robot_controller.pipeline import Pipeline
from robot_controller.pipeline.background import watch_undo_deadlines
from robot_controller.robot.sim import SimRobot
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import Store
from robot_controller.store.schema import audit_events, outbox, outcomes, scans
from scanners.base import Scan
from scanners.script import ScriptedScanner
from simulators.delivery import generate_delivery, seed_hub
from tests.support.logs import Logs
from tests.support.outbox import LOCATION, NOW, at_now, quick
from tests.support.packs import hub_pack


def a_hub(*serials: str) -> MockHub:
    """A national system that knows these packs of batch B1, expiring end of 2028."""
    hub = MockHub(seed=3)
    pack = hub_pack(serials[0])
    hub.add_product(pack.product_code)
    hub.add_batch(pack.product_code, "B1", NOW.date().replace(year=2028, month=12, day=31))
    for serial in serials:
        hub.add_pack(hub_pack(serial))
    return hub


def request(action: PackAction, serial: str, *, scan: bool = False, actor: str = "dr.ana",
            location: str = LOCATION) -> PackRequest:  # fmt: skip
    pack = hub_pack(serial)
    raw = encode_gs1(pack) if scan else None
    return PackRequest(action, pack.product_code, serial, actor, f"{action} by hand", location,
                       scanned=pack if scan else None, raw=raw)  # fmt: skip


def rows(store: Store, table: sa.Table, *where: Any) -> list[Any]:
    with store.engine.connect() as conn:
        query = sa.select(table).where(*where).order_by(*table.primary_key.columns)
        return list(conn.execute(query))


async def test_a_pack_action_is_committed_in_the_actors_name_before_it_is_sent(
    store: Store,
) -> None:
    hub = a_hub("ACT1")
    planned, intent = commit(store, request(PackAction.DESTROY, "ACT1", scan=True), trx="t-1",
                             at=NOW)  # fmt: skip
    assert (intent.status, intent.attempts, hub.transactions) == (IntentStatus.PENDING, 0, 0)
    [row] = rows(store, outbox)
    assert (row.actor, row.note, row.location) == ("dr.ana", "destroy by hand", LOCATION)
    [scan] = rows(store, scans)
    assert (scan.source, scan.raw.decode()) == ("operator", encode_gs1(hub_pack("ACT1")))
    [outcome] = rows(store, outcomes)
    assert (outcome.route, outcome.why, outcome.flagged) == ("returned", "pack-action", False)

    sent = await send(store, quick(hub), intent, clock=at_now)

    assert (sent.intent.status, sent.stopped) == (IntentStatus.DONE, None)
    assert hub.pack_state(planned.ui.product_code, "ACT1") == (PackState.INACTIVE,
                                                               (Reason.DESTROYED,))  # fmt: skip
    events = rows(store, audit_events, audit_events.c.subject == f"pack:{intent.token}")
    assert [(e.actor, e.action) for e in events] == [
        ("dr.ana", "scan.recorded"),
        ("dr.ana", "pack.returned"),
        ("dr.ana", "outbox.queued"),
        ("daemon", "outbox.sending"),
        ("daemon", "hub.decommission"),
        ("daemon", "outbox.done"),
    ]
    assert events[2].why == "destroy by hand"
    assert store.check_audit_chain().ok


async def test_a_lost_answer_leaves_it_pending_and_the_next_replay_asks_before_sending(
    store: Store,
) -> None:
    hub = a_hub("LOST1")
    _, intent = commit(store, request(PackAction.SAMPLE, "LOST1", scan=True), trx="t-2", at=NOW)
    hub.set_faults(lost_reply_rate=1.0)  # applied at the hub, the answer lost

    lost = await send(store, quick(hub), intent, clock=at_now)

    assert (lost.intent.status, lost.intent.attempts) == (IntentStatus.PENDING, 1)
    assert lost.stopped is not None
    with pytest.raises(ActionRefused, match="still waits in the outbox"):
        commit(store, request(PackAction.SAMPLE, "LOST1"), trx="t-3", at=NOW)
    hub.set_faults(lost_reply_rate=0.0)
    report = await replay(store, quick(hub), clock=at_now)

    assert report.done == 1
    key = (intent.ui.product_code, "LOST1")
    assert hub.state_changes_by_pack == {key: 1}  # asked first, never sent again
    assert hub.alerts == []


async def test_an_undo_committed_in_time_is_flagged_not_sent_once_its_window_has_passed(
    store: Store,
) -> None:
    hub = a_hub("LATE1")
    _, sampled = commit(store, request(PackAction.SAMPLE, "LATE1", scan=True), trx="s", at=NOW)
    assert (await send(store, quick(hub), sampled, clock=at_now)).intent.status == "done"
    late = NOW + timedelta(hours=239)
    _, undo = commit(store, request(PackAction.UNDO, "LATE1"), trx="u", at=late)
    before = hub.transactions

    report = await replay(store, quick(hub), clock=lambda: NOW + timedelta(hours=241))

    assert (report.flagged, hub.transactions) == (1, before)
    assert store.intents_of(undo.token)[-1].last_code == "undo-window-passed"


async def test_an_undo_sent_before_its_deadline_is_asked_about_after_it_never_sent_again(
    store: Store,
) -> None:
    hub = a_hub("LATE2", "LATE3")
    late = NOW + timedelta(hours=241)
    for serial in ("LATE2", "LATE3"):
        _, sampled = commit(store, request(PackAction.SAMPLE, serial, scan=True), trx=serial,
                            at=NOW)  # fmt: skip
        await send(store, quick(hub), sampled, clock=at_now)
    _, landed = commit(store, request(PackAction.UNDO, "LATE2"), trx="u2", at=NOW)
    hub.set_faults(lost_reply_rate=1.0)  # it lands, its answer is lost
    assert (await send(store, quick(hub), landed, clock=at_now)).intent.status == "pending"
    hub.set_faults(lost_reply_rate=0.0)
    _, unsent = commit(store, request(PackAction.UNDO, "LATE3"), trx="u3", at=NOW)
    store.note_sending([unsent.id], at=NOW)  # counted as sent, then the process stopped
    changes = hub.state_changes

    report = await replay(store, quick(hub), clock=lambda: late)

    assert (report.done, report.flagged) == (1, 1)  # LATE2 landed in time; LATE3 too late
    assert [i.status for i in store.intents_of(landed.token)][-1] == "done"
    assert [i.last_code for i in store.intents_of(unsent.token)][-1] == "undo-window-passed"
    assert hub.state_changes == changes  # nothing sent again
    assert hub.alerts == []


async def test_an_unlock_is_sent_whatever_the_time_since_the_lock(store: Store) -> None:
    hub = a_hub("LOCK1")
    _, locked = commit(store, request(PackAction.LOCK, "LOCK1", scan=True), trx="l", at=NOW)
    await send(store, quick(hub), locked, clock=at_now)
    later = NOW + timedelta(days=30)
    _, unlock = commit(store, request(PackAction.UNLOCK, "LOCK1"), trx="ul", at=later)

    sent = await send(store, quick(hub), unlock, clock=lambda: later)

    assert sent.intent.status is IntentStatus.DONE
    assert hub.pack_state(locked.ui.product_code, "LOCK1")[0] is PackState.ACTIVE
    assert hub.alerts == []


async def test_the_robots_decommissions_are_kept_with_the_site_so_only_it_undoes_them(
    store: Store,
) -> None:
    delivery = generate_delivery(1, seed=51, suspect_rate=0.0, today=NOW.date())
    hub = MockHub(seed=4)
    seed_hub(hub, delivery)
    pipeline = Pipeline(store=store, hub=quick(hub), robot=SimRobot(), site=SitePolicy("hospital"),
                        location=LOCATION)  # fmt: skip
    await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()
    ui = delivery.packs[0].ui
    [decommission] = rows(store, outbox, outbox.c.operation == "decommission")
    assert (decommission.location, decommission.actor) == (LOCATION, None)

    elsewhere = PackRequest(PackAction.UNDO, ui.product_code, ui.serial, "dr.ana", "x", "ward-9")
    with pytest.raises(ActionRefused, match=f"decommissioned at {LOCATION}, not here"):
        commit(store, elsewhere, trx="u-1", at=NOW)
    here = PackRequest(PackAction.UNDO, ui.product_code, ui.serial, "dr.ana", "x", LOCATION)
    planned, _ = commit(store, here, trx="u-2", at=NOW)
    assert (planned.token, planned.reason) == (1, Reason.SUPPLIED)


def flagged_off_the_shelf(store: Store, serial: str, *, decommissioned_ago: timedelta) -> int:
    """A pack decommissioned (SUPPLIED, here) that then missed the shelf: flagged."""
    ui = hub_pack(serial)
    token = store.record_scan(Scan(encode_gs1(ui), "]d2", "bench", NOW), at=NOW)
    at = NOW - decommissioned_ago
    intent = store.queue_intent(token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED,
                                trx=f"d-{serial}", at=at, location=LOCATION)  # fmt: skip
    store.settle_intent(intent.id, IntentStatus.DONE, "NMVS_SUCCESS", at=at)
    store.finish(token, route=Route.REJECTED, why=Why.DECOMMISSIONED, message="job failed",
                 ui=ui, at=NOW, flagged=True)  # fmt: skip
    return token


async def test_the_daemon_warns_once_of_a_flagged_pack_whose_undo_window_ends_within_a_day(
    store: Store, logs: Logs
) -> None:
    soon = flagged_off_the_shelf(store, "SOON1", decommissioned_ago=timedelta(hours=230))
    flagged_off_the_shelf(store, "LATER1", decommissioned_ago=timedelta(hours=100))
    now = [NOW]
    pipeline = Pipeline(store=store, hub=quick(a_hub("SOON1")), robot=SimRobot(),
                        site=SitePolicy(), clock=lambda: now[0], location=LOCATION)  # fmt: skip
    watch = UndoDeadlineWatch()
    try:
        await watch_undo_deadlines(pipeline.steps, watch)
        await watch_undo_deadlines(pipeline.steps, watch)  # the same episode: told once
        now[0] = NOW + timedelta(hours=11)
        await watch_undo_deadlines(pipeline.steps, watch)
    finally:
        await pipeline.aclose()

    told = [(e["event"], e["token"]) for e in logs if e["event"].startswith("pack.undo")]
    assert told == [("pack.undo_deadline", soon), ("pack.undo_window_passed", soon)]
    warning = next(e for e in logs if e["event"] == "pack.undo_deadline")
    assert warning["log_level"] == "warning"
    assert "end in 10 h 0 min" in warning["detail"]
    assert f"fmd-robot outbox undo {soon} --reason" in warning["detail"]


async def test_an_undo_clears_the_warning_of_its_deadline(store: Store, logs: Logs) -> None:
    token = flagged_off_the_shelf(store, "CLEAR1", decommissioned_ago=timedelta(hours=230))
    hub = a_hub("CLEAR1")
    await hub.client(LOCATION).decommission(hub_pack("CLEAR1"), Reason.SUPPLIED, trx="d-CLEAR1")
    pipeline = Pipeline(store=store, hub=quick(hub), robot=SimRobot(), site=SitePolicy(),
                        clock=at_now, location=LOCATION)  # fmt: skip
    watch = UndoDeadlineWatch()
    try:
        await watch_undo_deadlines(pipeline.steps, watch)
        _, undo = commit(store, request(PackAction.UNDO, "CLEAR1"), trx="u", at=NOW)
        assert (await send(store, quick(hub), undo, clock=at_now)).intent.status == "done"
        await watch_undo_deadlines(pipeline.steps, watch)
    finally:
        await pipeline.aclose()

    told = [(e["event"], e["token"]) for e in logs if e["event"].startswith("pack.undo")]
    assert told == [("pack.undo_deadline", token), ("pack.undo_deadline_cleared", token)]
