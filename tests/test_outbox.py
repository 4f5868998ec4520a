"""Replaying the outbox when the hub is back: in order, confirmed before sending, undo window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from fmd.codes.model import PackIdentifier
from fmd.hub import BulkItem, BulkResult, HubClient, HubResult, HubUnavailable, MockHub, Reason
from fmd.hub.resilient import CircuitBreaker, ResilientHub, RetryPolicy
from fmd.policy import SitePolicy, Why
from robot_controller.outbox import ReplayReport, replay
from robot_controller.pack_actions import PackRequest, commit
from robot_controller.pack_rules import ActionRefused, PackAction
from robot_controller.pipeline import Pipeline
from robot_controller.robot.sim import SimRobot
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import Intent
from scanners.base import Scan
from scanners.script import ScriptedScanner
from tests.support.outbox import LOCATION, NOW, at_now, no_wait, queue_all, quick, world
from tests.support.relay import RelayClient


async def test_packs_loaded_while_the_hub_was_down_are_verified_once_it_is_back(
    store_url: str,
) -> None:
    delivery, hub, store = world(store_url, 12, seed=31, suspect_rate=0.3)
    hub.set_faults(timeout_rate=1.0)
    pipeline = Pipeline(store=store, hub=quick(hub), robot=SimRobot(), site=SitePolicy())
    await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()
    queued = store.pending_intents()
    assert queued
    hub.set_faults(timeout_rate=0.0)

    report = await replay(store, quick(hub), clock=at_now)

    assert report.stopped is None
    assert report.done + report.flagged == len(queued)
    assert store.pending_intents() == []
    assert report.flagged > 0  # the suspect packs among them come back for a look
    assert hub.state_changes == 0  # a deferred check changes nothing at the hub


async def test_a_decommission_whose_answer_was_lost_is_confirmed_not_sent_again(
    store_url: str,
) -> None:
    delivery, hub, store = world(store_url, 1, seed=32)
    ui = delivery.packs[0].ui
    token = store.record_scan(Scan(delivery.raws[0], None, "bench", NOW), at=NOW)
    store.queue_intent(token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="lost-1", at=NOW)
    await hub.client(LOCATION).decommission(ui, Reason.SUPPLIED, trx="lost-1")  # landed, reply lost

    report = await replay(store, quick(hub), clock=at_now)

    assert (report.done, report.failed) == (1, 0)
    assert hub.state_changes_by_pack == {(ui.product_code, ui.serial): 1}
    assert hub.alerts == []
    assert store.outbox_counts() == {("decommission", "done"): 1}


async def test_an_undo_past_its_ten_days_is_flagged_not_sent(store_url: str) -> None:
    delivery, hub, store = world(store_url, 1, seed=33)
    ui = delivery.packs[0].ui
    token = store.record_scan(Scan(delivery.raws[0], None, "bench", NOW), at=NOW)
    store.queue_intent(token, ui, HubOperation.UNDO, Reason.SUPPLIED, trx="undo-1",
                       at=NOW - timedelta(days=11))  # fmt: skip
    before = hub.transactions

    report = await replay(store, quick(hub), clock=at_now)

    assert (report.flagged, report.flagged_tokens) == (1, [token])
    assert hub.transactions == before


class DownAfter(RelayClient):
    """Answers `n` requests (a mixed bulk is one), then no more."""

    def __init__(self, inner: HubClient, n: int) -> None:
        super().__init__(inner)
        self.left = n

    def _one_more(self) -> None:
        if self.left <= 0:
            raise HubUnavailable("connection refused")
        self.left -= 1

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        self._one_more()
        return await self.inner.verify(ui, trx=trx)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        self._one_more()
        return await self.inner.mixed(items)


async def test_a_replay_stops_when_the_hub_goes_away_and_keeps_the_rest(store_url: str) -> None:
    delivery, hub, store = world(store_url, 5, seed=34)
    queue_all(store, delivery, HubOperation.VERIFY, prefix="v", reason=None)

    hub_for_one_bulk = quick(DownAfter(hub.client(LOCATION), 1))
    report = await replay(store, hub_for_one_bulk, clock=at_now, bulk_size=2)

    assert (report.done, report.left) == (2, 3)  # the second bulk went unanswered, the third unsent
    assert report.stopped == "connection refused"
    assert [i.attempts for i in store.pending_intents()] == [1, 1, 0]


async def test_the_daemon_replays_its_outbox_in_the_background_while_loading(
    store_url: str,
) -> None:
    delivery, hub, store = world(store_url, 40, seed=35, hub=MockHub(seed=1, timeout_rate=1.0))
    routed = 0

    def hub_back_after_ten(*_: object) -> None:
        nonlocal routed
        routed += 1
        if routed == 10:
            hub.set_faults(timeout_rate=0.0)

    resilient = ResilientHub(hub.client(LOCATION), retry=RetryPolicy(attempts=1), sleep=no_wait,
                             breaker=CircuitBreaker(failures=3, cooldown_s=0.05))  # fmt: skip
    pipeline = Pipeline(store=store, hub=resilient, robot=SimRobot(), site=SitePolicy(),
                        window=2, on_routed=hub_back_after_ten, replay_every_s=0.02)  # fmt: skip
    await pipeline.run([ScriptedScanner(delivery.raws, interval_s=0.01)])
    await pipeline.aclose()
    counts = store.outbox_counts()
    assert counts.get(("verify", "done"), 0) > 0  # checked while the later packs were loading
    assert store.summary()["lost"] == 0
    assert hub.alerts == []


async def test_a_replay_cut_short_remembers_what_it_sent_and_asks_first_next_time(
    store_url: str,
) -> None:
    # a hub that would not repeat its first answer to a re-sent transaction id
    delivery, hub, store = world(store_url, 1, seed=36, hub=MockHub(seed=1, remembered_trx=0))
    ui = delivery.packs[0].ui
    token = store.record_scan(Scan(delivery.raws[0], None, "bench", NOW), at=NOW)
    store.queue_intent(token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="cut-1", at=NOW)

    class LandsThenGoesAway(RelayClient):
        async def decommission(
            self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
        ) -> HubResult:
            await self.inner.decommission(ui, to, trx=trx)
            raise HubUnavailable("connection dropped")

        async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
            raise HubUnavailable("connection refused")

    first = await replay(store, quick(LandsThenGoesAway(hub.client(LOCATION))), clock=at_now)
    assert first.stopped is not None
    assert store.pending_intents()[0].attempts == 1

    second = await replay(store, quick(hub), clock=at_now)
    assert (second.done, second.failed) == (1, 0)
    assert hub.state_changes_by_pack == {(ui.product_code, ui.serial): 1}
    assert hub.alerts == []


async def test_a_pack_fed_again_while_its_change_waits_is_held_back(store_url: str) -> None:
    delivery, hub, store = world(store_url, 1, seed=37)
    ui = delivery.packs[0].ui
    first = store.record_scan(Scan(delivery.raws[0], None, "bench", NOW), at=NOW)
    store.queue_intent(first, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED, trx="wait-1", at=NOW)
    store.finish(first, route=Route.REJECTED, why=Why.HUB_UNAVAILABLE, message="", ui=ui, at=NOW)
    before = hub.transactions

    pipeline = Pipeline(store=store, hub=quick(hub), robot=SimRobot(), site=SitePolicy())
    await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()

    assert store.outcomes()[first + 1] == ("quarantined", "hub-change-pending")
    assert hub.transactions == before


def test_the_replay_report_counts_each_status_and_names_the_suspects() -> None:
    ui = PackIdentifier("GTIN", "09506000134352", "SN1", "B1", None, "280131")

    def intent(token: int, operation: HubOperation) -> Intent:
        return Intent(token, token, operation, None, f"t-{token}", ui, IntentStatus.PENDING, 1, NOW)

    report = ReplayReport()
    report.count(intent(1, HubOperation.DECOMMISSION), IntentStatus.DONE)
    report.count(intent(2, HubOperation.UNDO), IntentStatus.FLAGGED)
    report.count(intent(3, HubOperation.VERIFY), IntentStatus.FLAGGED)
    report.count(intent(4, HubOperation.DECOMMISSION), IntentStatus.FAILED)
    assert (report.done, report.failed, report.flagged) == (1, 1, 2)
    assert (report.flagged_tokens, report.suspect_tokens) == ([2, 3], [3])
    with pytest.raises(ValueError, match="pending"):
        report.count(intent(5, HubOperation.VERIFY), IntentStatus.PENDING)


async def test_a_decommission_made_for_a_pack_that_missed_the_shelf_can_be_undone(
    store_url: str,
) -> None:
    delivery, hub, store = world(store_url, 2, seed=37)
    pipeline = Pipeline(store=store, hub=quick(hub), robot=SimRobot(), site=SitePolicy("hospital"))
    await pipeline.run([ScriptedScanner(delivery.raws)])
    await pipeline.aclose()
    ui = delivery.packs[0].ui
    assert hub.pack_state(ui.product_code, ui.serial)[0] == "INACTIVE"

    def undo(product_code: str, serial: str) -> PackRequest:
        return PackRequest(PackAction.UNDO, product_code, serial, "ana", "not shelved", LOCATION)

    _, intent = commit(store, undo(ui.product_code, ui.serial), trx="undo-1", at=NOW)
    with pytest.raises(ActionRefused, match="still waits in the outbox"):
        commit(store, undo(ui.product_code, ui.serial), trx="undo-2", at=NOW)
    report = await replay(store, quick(hub), clock=at_now)

    assert (intent.operation, intent.reason, intent.actor) == (HubOperation.UNDO, Reason.SUPPLIED,
                                                               "ana")  # fmt: skip
    assert report.done == 1
    assert hub.pack_state(ui.product_code, ui.serial)[0] == "ACTIVE"
    with pytest.raises(ActionRefused, match="nothing to undo"):  # undone already
        commit(store, undo(ui.product_code, ui.serial), trx="undo-3", at=NOW)
    shelved = delivery.packs[1].ui
    with pytest.raises(ActionRefused, match="240 h ago"):
        commit(store, undo(shelved.product_code, shelved.serial), trx="undo-4",
               at=NOW + timedelta(hours=241))  # fmt: skip
