"""Loading follows the robot: a pack the robot cannot take goes back to the operator with no hub
change, loading pauses and resumes by itself, another master halts it, and every deferred step
is done (or cancelled) as the pack's route leaves it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from fmd.codes.model import PackIdentifier
from fmd.hub import (
    BulkItem,
    BulkResult,
    HubClient,
    HubResult,
    HubUnavailable,
    MockHub,
    PackState,
    Reason,
)
from fmd.hub.resilient import CircuitBreaker, ResilientHub, RetryPolicy
from fmd.policy import SitePolicy
from robot_controller.outbox import replay
from robot_controller.pipeline import Pipeline
from robot_controller.robot.base import (
    Job,
    JobOutcome,
    MachineCommand,
    PackMLState,
    RobotConflict,
    RobotStatus,
    StatusFlags,
)
from robot_controller.robot.sim import SimRobot
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import Store
from scanners.base import Scan
from simulators.delivery import Kind, generate_delivery, seed_hub, supply_elsewhere
from tests.support.feed import FedScanner
from tests.support.logs import Logs
from tests.support.relay import RelayClient
from tests.support.until import until

TODAY = datetime.now(UTC).date()
LOCATION = "ward-pharmacy"
HOSPITAL = SitePolicy(mode="hospital")


def events(logs: Logs, name: str) -> list[str]:
    return [e["log_level"] for e in logs if e["event"] == name]


def column(store: Store, query: str, **params: object) -> object:
    with store.engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar_one()


async def test_a_stopped_robot_gets_no_pack_and_the_hub_no_change_until_it_runs_again(
    store_url: str, logs: Logs
) -> None:
    delivery = generate_delivery(4, seed=31, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    robot = SimRobot()
    await robot.command(MachineCommand.STOP)
    store = Store.open(store_url)
    scanner = FedScanner()
    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=robot,
                        site=HOSPITAL, resume_every_s=0.01)  # fmt: skip
    loading = asyncio.create_task(pipeline.run([scanner]))

    scanner.put(*delivery.raws[:2])
    await until(lambda: len(store.outcomes()) == 2)
    assert [route for route, _ in store.outcomes().values()] == ["returned", "returned"]
    assert hub.state_changes_by_pack == {}
    assert not robot.moves
    assert events(logs, "loading.paused") == ["warning"]
    assert store.summary()["flagged"] == 0

    await robot.command(MachineCommand.RESET)
    await robot.command(MachineCommand.START)
    await until(lambda: pipeline.steps.turn.paused is None)
    scanner.put(*delivery.raws[2:])
    scanner.end()
    await loading
    await pipeline.aclose()

    outcomes = store.outcomes()
    assert [outcomes[t] for t in (3, 4)] == [("shelved", "decommissioned")] * 2
    assert set(hub.state_changes_by_pack.values()) == {1}
    assert len(hub.state_changes_by_pack) == 2
    assert events(logs, "loading.resumed") == ["warning"]
    assert store.pending_intents() == []


async def test_once_loading_ends_it_no_longer_says_it_waits_for_the_robot(store_url: str) -> None:
    delivery = generate_delivery(1, seed=33, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    robot = SimRobot()
    await robot.command(MachineCommand.HOLD)
    store = Store.open(store_url)
    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=robot,
                        site=HOSPITAL)  # fmt: skip
    scanner = FedScanner()
    loading = asyncio.create_task(pipeline.run([scanner]))
    scanner.put(*delivery.raws)
    await until(lambda: pipeline.steps.turn.paused is not None)
    scanner.end()
    await loading
    assert pipeline.steps.turn.paused is None  # the robot is still held, but nothing waits
    await pipeline.aclose()


class StopsBetweenCheckAndJob(SimRobot):
    """A robot that says it is ready, then refuses the job: it was stopped in between."""

    async def execute(self, job: Job) -> JobOutcome:
        self.state = PackMLState.STOPPED
        return await super().execute(job)


async def test_a_job_refused_after_its_decommission_is_returned_and_flagged_with_the_undo(
    store_url: str,
) -> None:
    delivery = generate_delivery(1, seed=32, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)),
                        robot=StopsBetweenCheckAndJob(), site=HOSPITAL)  # fmt: skip
    await pipeline.run([FedScanner.of(delivery.raws)])
    await pipeline.aclose()

    assert store.outcomes()[1] == ("returned", "decommissioned")
    assert store.summary()["flagged"] == 1
    message = column(store, "SELECT message FROM outcomes WHERE token = 1")
    assert "fmd-robot outbox undo 1" in str(message)


class EmptyTransfer(SimRobot):
    """A robot with nothing at its transfer point."""

    async def status(self) -> RobotStatus:
        status = await super().status()
        return dataclasses.replace(status, flags=status.flags & ~StatusFlags.PACK_AT_TRANSFER)


async def test_a_scan_without_a_pack_at_the_transfer_point_moves_nothing(
    store_url: str, logs: Logs
) -> None:
    store = Store.open(store_url)
    robot = EmptyTransfer()
    pipeline = Pipeline(store=store, hub=ResilientHub(MockHub(seed=1).client(LOCATION)),
                        robot=robot, site=HOSPITAL)  # fmt: skip
    await pipeline.run([FedScanner.of(["not a pack at all"])])
    await pipeline.aclose()

    assert store.outcomes()[1] == ("returned", "unreadable")
    assert not robot.moves
    assert events(logs, "loading.paused") == []  # only this scan had no pack


class SecondMaster(SimRobot):
    """A robot another master starts driving during the second job."""

    async def execute(self, job: Job) -> JobOutcome:
        if sum(self.moves.values()) == 1:
            raise RobotConflict("the robot's job seq moved to 77 without us: another master")
        return await super().execute(job)


async def test_another_master_halts_loading_and_flags_what_was_in_flight(store_url: str) -> None:
    delivery = generate_delivery(6, seed=33, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    robot = SecondMaster()
    pipeline = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=robot,
                        site=HOSPITAL)  # fmt: skip
    with pytest.raises(RobotConflict, match="another master"):
        await pipeline.run([FedScanner.of(delivery.raws)])
    await pipeline.aclose()

    outcomes = store.outcomes()
    assert outcomes[1] == ("shelved", "decommissioned")
    assert outcomes[2][0] == "rejected"  # its job was answered by someone else's robot
    rest = [outcomes[t][0] for t in sorted(outcomes) if t > 2]
    assert set(rest) <= {"returned"}
    assert store.summary()["flagged"] == len(outcomes) - 1
    assert store.summary()["lost"] == 0
    # decommissioned: the first pack, the one whose job met the other master, and at most the
    # packs staged behind it (decommission_ahead, 4) — all flagged; none after the halt
    assert len(hub.state_changes_by_pack) <= 1 + 4
    with store.engine.connect() as conn:
        unflagged: list[int] = list(
            conn.execute(sa.text("SELECT token FROM outcomes WHERE NOT flagged")).scalars()
        )
        assert unflagged == [1]


class Outage(RelayClient):
    """A hub connection that is down until `up` is set."""

    def __init__(self, inner: HubClient) -> None:
        super().__init__(inner)
        self.up = False

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        if not self.up:
            raise HubUnavailable("connection refused")
        return await super().verify(ui, trx=trx)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        if not self.up:
            raise HubUnavailable("connection refused")
        return await super().decommission(ui, to, trx=trx)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        if not self.up:
            raise HubUnavailable("connection refused")
        return await super().mixed(items)


async def test_packs_shelved_during_an_outage_are_decommissioned_once_verified_clean(
    store_url: str,
) -> None:
    delivery = generate_delivery(12, seed=34, suspect_rate=0.3, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    before = dict(hub.state_changes_by_pack)
    outage = Outage(hub.client(LOCATION))
    store = Store.open(store_url)
    scanner = FedScanner()
    site = SitePolicy(mode="hospital", offline="shelve_then_verify")
    hub_now = ResilientHub(outage, retry=RetryPolicy(attempts=1),
                           breaker=CircuitBreaker(cooldown_s=0.01))  # fmt: skip
    pipeline = Pipeline(store=store, hub=hub_now, robot=SimRobot(), site=site,
                        replay_every_s=0.02)  # fmt: skip
    loading = asyncio.create_task(pipeline.run([scanner]))
    scanner.put(*delivery.raws)
    await until(lambda: len(store.outcomes()) == len(delivery.raws))
    assert hub.state_changes_by_pack == {}
    outage.up = True
    await until(lambda: not store.pending_intents(), timeout_s=10)
    await until(lambda: not store.retrievals_due()[0], timeout_s=10)
    scanner.end()
    await loading
    await pipeline.aclose()

    outcomes = store.outcomes()
    for token, pack in enumerate(delivery.packs, start=1):
        key = (pack.ui.product_code, pack.ui.serial)
        route = outcomes[token][0]
        if pack.kind is Kind.GENUINE:
            assert (route, hub.state_changes_by_pack.get(key)) == ("shelved", 1), token
            assert hub.pack_state(*key) == (PackState.INACTIVE, (Reason.SUPPLIED,))
        elif route != "rejected":  # a suspect shelved unverified: retrieved, never supplied
            assert route == "quarantined", token
            if pack.kind is not Kind.DUPLICATE:  # (its twin is a genuine pack)
                assert hub.state_changes_by_pack.get(key) == before.get(key), token


class CrashAfterVerify(RelayClient):
    """The daemon dies once the verify has reached the hub, before its answer is recorded."""

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        await super().verify(ui, trx=trx)
        raise asyncio.CancelledError  # the process is gone: nothing after this runs


async def test_a_verify_is_committed_before_it_is_sent_and_recovery_resends_its_id(
    store_url: str,
) -> None:
    delivery = generate_delivery(30, seed=35, suspect_rate=1.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    raw = next(r for r, p in zip(delivery.raws, delivery.packs, strict=True)
               if p.kind is Kind.UNKNOWN_SERIAL)  # fmt: skip
    store = Store.open(store_url)
    now = datetime.now(UTC)
    token = store.record_scan(Scan(raw, None, "bench", now), at=now)
    crashed = Pipeline(store=store, hub=ResilientHub(CrashAfterVerify(hub.client(LOCATION))),
                       robot=SimRobot(), site=HOSPITAL)  # fmt: skip
    with pytest.raises(asyncio.CancelledError):
        await crashed.steps.prepare(token, raw, None)
    await crashed.aclose()
    [verify] = store.pending_intents()
    assert verify.operation is HubOperation.VERIFY
    assert len(hub.alerts) == 1

    again = Pipeline(store=store, hub=ResilientHub(hub.client(LOCATION)), robot=SimRobot(),
                     site=HOSPITAL)  # fmt: skip
    await again.run([])
    await again.aclose()

    assert store.outcomes()[token][0] == "quarantined"
    assert len(hub.alerts) == 1, "the same transaction id raises no second alert"
    assert store.pending_intents() == []
    status = column(store, "SELECT status FROM outbox WHERE id = :id", id=verify.id)
    assert status == IntentStatus.DONE


@pytest.mark.parametrize("drain", [True, False], ids=["drained", "reported"])
async def test_at_the_end_of_a_finite_input_the_outbox_is_drained_or_reported(
    store_url: str, logs: Logs, drain: bool
) -> None:
    delivery = generate_delivery(3, seed=36, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    outage = Outage(hub.client(LOCATION))
    store = Store.open(store_url)
    site = SitePolicy(mode="hospital", offline="shelve_then_verify")
    resilient = ResilientHub(outage, retry=RetryPolicy(attempts=1),
                             breaker=CircuitBreaker(cooldown_s=0.01))  # fmt: skip
    pipeline = Pipeline(store=store, hub=resilient, robot=SimRobot(), site=site)
    loading = asyncio.create_task(
        pipeline.run([FedScanner.of(delivery.raws)], drain_s=10 if drain else None)
    )
    await until(lambda: len(store.outcomes()) == 3)
    outage.up = True
    await loading
    await pipeline.aclose()

    if drain:
        assert store.pending_intents() == []
        assert len(hub.state_changes_by_pack) == 3
        assert events(logs, "outbox.left") == []
    else:
        assert len(store.pending_intents()) == 6  # each pack's verify and decommission
        assert events(logs, "outbox.left") == ["warning"]


class GoneAtDecommission(RelayClient):
    """The hub goes away at the first decommission: after it landed (`lands`), or before."""

    def __init__(self, inner: HubClient, *, lands: bool) -> None:
        super().__init__(inner)
        self.lands = lands
        self.gone = False

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        if self.gone:
            raise HubUnavailable("connection refused")
        return await super().verify(ui, trx=trx)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        if self.lands:
            await super().decommission(ui, to, trx=trx)
        self.gone = True
        raise HubUnavailable("connection reset")


@pytest.mark.parametrize("lands", [True, False], ids=["landed", "never-arrived"])
async def test_an_unanswered_decommission_of_a_quarantined_pack_is_asked_about_never_resent(
    store_url: str, lands: bool
) -> None:
    delivery = generate_delivery(1, seed=38, suspect_rate=0.0, today=TODAY)
    hub = MockHub(seed=1)
    seed_hub(hub, delivery)
    store = Store.open(store_url)
    gone = GoneAtDecommission(hub.client(LOCATION), lands=lands)
    pipeline = Pipeline(store=store, hub=ResilientHub(gone, retry=RetryPolicy(attempts=1)),
                        robot=SimRobot(), site=HOSPITAL)  # fmt: skip
    await pipeline.run([FedScanner.of(delivery.raws)])
    await pipeline.aclose()
    assert store.outcomes()[1][0] == "quarantined"
    assert store.summary()["flagged"] == 1  # the hub may hold it as decommissioned
    assert HubOperation.CONFIRM in {i.operation for i in store.pending_intents()}

    report = await replay(
        store, ResilientHub(hub.client(LOCATION)), clock=lambda: datetime.now(UTC)
    )

    ui = delivery.packs[0].ui
    state = hub.pack_state(ui.product_code, ui.serial)[0]
    if lands:
        assert (report.done, state) == (1, PackState.INACTIVE)
    else:
        assert (report.cancelled, state) == (1, PackState.ACTIVE)
    assert set(hub.state_changes_by_pack.values()) <= {1}
    assert store.pending_intents() == []
