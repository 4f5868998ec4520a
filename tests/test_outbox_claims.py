"""Daemons sharing one PostgreSQL outbox: each intent is claimed by one daemon at a time, a claim
holds for its lease, a daemon's own claims are its own again after a restart, and a replay never
sends what another daemon took over meanwhile."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from fmd.codes.model import PackIdentifier
from fmd.hub import HubResult, MockHub, Reason
from robot_controller.outbox import replay
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import Intent, Store
from robot_controller.store.schema import audit_events, outbox
from scanners.base import Scan
from simulators.delivery import Delivery, generate_delivery, seed_hub
from tests.support.outbox import LOCATION, NOW, at_now, quick
from tests.support.relay import RelayClient

pytestmark = pytest.mark.postgres
LEASE = timedelta(minutes=10)


def delivery_and_hub(packs: int, seed: int) -> tuple[Delivery, MockHub]:
    delivery = generate_delivery(packs, seed=seed, suspect_rate=0.0, today=NOW.date())
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    return delivery, hub


def queue(
    store: Store, robot: str, raw: str, ui: PackIdentifier, *operations: HubOperation
) -> list[Intent]:
    """One pack scanned by `robot`'s daemon, and its intents (a deferred verify, a
    decommission), queued now."""
    token = store.record_scan(Scan(raw, None, "bench", NOW), at=NOW, robot=robot)
    return [
        store.queue_intent(token, ui, op, None if op is HubOperation.VERIFY else Reason.SUPPLIED,
                           trx=f"{op}-{token}", at=NOW)
        for op in operations
    ]  # fmt: skip


def claims(store: Store) -> dict[int, str | None]:
    with store.engine.connect() as conn:
        return {row.id: row.claimed_by for row in conn.execute(sa.select(outbox))}


def taken_over(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        query = sa.select(audit_events.c.why).where(audit_events.c.action == "outbox.taken_over")
        return list(conn.execute(query.order_by(audit_events.c.id)).scalars())


async def test_two_daemons_replaying_one_outbox_at_once_send_each_intent_once(
    postgres_url: str,
) -> None:
    delivery, hub = delivery_and_hub(30, seed=61)
    first, second = Store.open(postgres_url), Store.open(postgres_url)
    try:
        for raw, pack in zip(delivery.raws, delivery.packs, strict=True):
            queue(first, "robot-gone", raw, pack.ui, HubOperation.DECOMMISSION)
        later = NOW + 2 * LEASE  # robot-gone's intents are orphans: both daemons may take them

        reports = await asyncio.gather(
            replay(first, quick(hub), clock=lambda: later, claimant="robot-a", lease=LEASE),
            replay(second, quick(hub), clock=lambda: later, claimant="robot-b", lease=LEASE),
        )

        assert sum(report.done for report in reports) == 30
        assert set(hub.state_changes_by_pack.values()) == {1}
        assert len(hub.state_changes_by_pack) == 30
        assert hub.alerts == []
        assert sorted(taken_over(first)) == ["from robot-gone"] * 30  # each by one daemon
        assert set(claims(first).values()) == {None}  # every claim released
        assert first.check_audit_chain().ok
    finally:
        first.close()
        second.close()


def test_a_claim_holds_for_its_lease_then_another_daemon_may_take_it(postgres_url: str) -> None:
    delivery, _ = delivery_and_hub(2, seed=62)
    store = Store.open(postgres_url)
    try:
        (mine,) = queue(store, "robot-a", delivery.raws[0], delivery.packs[0].ui,
                        HubOperation.DECOMMISSION)  # fmt: skip
        (theirs,) = queue(store, "robot-b", delivery.raws[1], delivery.packs[1].ui,
                          HubOperation.DECOMMISSION)  # fmt: skip

        def claimed(by: str, at_minutes: float) -> list[int]:
            at = NOW + timedelta(minutes=at_minutes)
            return [i.id for i in store.claim_intents(by=by, at=at, lease=LEASE)]

        assert claimed("robot-a", 0) == [mine.id]  # its own robot's pack only
        assert claimed("robot-b", 9) == [theirs.id]  # robot-a's claim is within its lease
        assert store.keep_claims([mine.id], by="robot-a", at=NOW + timedelta(minutes=9)) == {
            mine.id
        }  # renewed at minute 9: it holds until 19
        assert claimed("robot-b", 18) == [theirs.id]
        assert taken_over(store) == []
        assert claimed("robot-b", 20) == [mine.id, theirs.id]  # robot-a stayed away
        assert taken_over(store) == ["from robot-a"]
        assert store.keep_claims([mine.id], by="robot-a", at=NOW + timedelta(minutes=20)) == set()
    finally:
        store.close()


def test_a_daemon_started_again_takes_back_its_own_claims_at_once(postgres_url: str) -> None:
    delivery, _ = delivery_and_hub(1, seed=63)
    store = Store.open(postgres_url)
    try:
        intents = queue(store, "robot-a", delivery.raws[0], delivery.packs[0].ui,
                        HubOperation.VERIFY, HubOperation.DECOMMISSION)  # fmt: skip
        ids = [i.id for i in intents]
        assert [i.id for i in store.claim_intents(by="robot-a", at=NOW, lease=LEASE)] == ids
        # killed mid-replay: nothing released; the robot's name is one live daemon's
        again = store.claim_intents(by="robot-a", at=NOW + timedelta(seconds=5), lease=LEASE)
        assert [i.id for i in again] == ids
        assert store.claim_intents(by="robot-b", at=NOW + timedelta(seconds=5), lease=LEASE) == []
        assert taken_over(store) == []
    finally:
        store.close()


class TakenOverDuring(RelayClient):
    """While the first verify is out, another daemon takes the outbox over (its clock past the
    lease of every claim)."""

    def __init__(self, hub: MockHub, other: Store) -> None:
        super().__init__(hub.client(LOCATION))
        self.other = other
        self.taken: list[Intent] = []

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        if not self.taken:
            self.taken = self.other.claim_intents(by="robot-b", at=NOW + 2 * LEASE, lease=LEASE)
        return await super().verify(ui, trx=trx)


async def test_a_replay_sends_nothing_another_daemon_took_over_meanwhile(
    postgres_url: str,
) -> None:
    delivery, hub = delivery_and_hub(1, seed=64)
    store, other = Store.open(postgres_url), Store.open(postgres_url)
    try:
        check, change = queue(store, "robot-a", delivery.raws[0], delivery.packs[0].ui,
                              HubOperation.VERIFY, HubOperation.DECOMMISSION)  # fmt: skip
        wire = TakenOverDuring(hub, other)

        report = await replay(store, quick(wire), clock=at_now, claimant="robot-a", lease=LEASE)

        assert [i.id for i in wire.taken] == [check.id, change.id]
        assert (report.done, report.left) == (1, 1)  # its verify came back; the change is robot-b's
        assert hub.state_changes == 0
        assert claims(store) == {check.id: None, change.id: "robot-b"}

        later = NOW + 2 * LEASE
        again = await replay(other, quick(hub), clock=lambda: later, claimant="robot-b",
                             lease=LEASE)  # fmt: skip
        assert (again.done, again.left) == (1, 0)
        assert hub.state_changes == 1
        assert {i.status for i in store.intents_of(check.token)} == {IntentStatus.DONE}
    finally:
        store.close()
        other.close()


def test_a_named_pack_is_claimed_whoever_it_is_but_never_from_a_daemon_holding_it(
    postgres_url: str,
) -> None:
    delivery, _ = delivery_and_hub(1, seed=65)
    store = Store.open(postgres_url)
    try:
        (action,) = queue(store, "robot-b", delivery.raws[0], delivery.packs[0].ui,
                          HubOperation.DECOMMISSION)  # fmt: skip
        soon = NOW + timedelta(minutes=1)
        assert store.claim_intents(by="robot-a", at=NOW, lease=LEASE) == []  # robot-b's pack
        named = store.claim_intents(by="robot-a", at=NOW, lease=LEASE, tokens=[action.token])
        assert [i.id for i in named] == [action.id]  # a pack action on it, from robot-a
        assert store.claim_intents(by="robot-b", at=soon, lease=LEASE) == []  # robot-a holds it
        held = store.claim_intents(by="robot-c", at=soon, lease=LEASE, tokens=[action.token])
        assert held == []  # named or not, a held claim is never taken within its lease
        store.release_claims(by="robot-a")
        assert [i.id for i in store.claim_intents(by="robot-b", at=soon, lease=LEASE)] == [
            action.id
        ]
        assert taken_over(store) == ["from robot-b"]  # robot-a took robot-b's pack: audited
    finally:
        store.close()
