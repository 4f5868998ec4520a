"""Returns (`robot_controller.returns`, `pipeline.returns`): a pack this site dispensed comes
back. The rules, table by table, from the log's view and the hub's answer; then end to end, a
WWKS2 robot simulator over TCP asking with IsNewDelivery False, a real store and a MockHub."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from fmd.codes.encode import encode_gs1
from fmd.codes.model import PackIdentifier
from fmd.hub import MockHub, Reason
from fmd.hub.contract import HubResult, Outcome, PackState
from fmd.hub.mock import MockHubClient
from fmd.hub.resilient import CircuitBreaker, ResilientHub
from fmd.policy import Action, Decision, Mode, SitePolicy, Why
from robot_controller.config import Wwks2RobotConfig
from robot_controller.outbox import replay
from robot_controller.pipeline import Pipeline, Routed
from robot_controller.pipeline.background import replay_once
from robot_controller.pipeline.stock_in import StockInTiming
from robot_controller.returns import Logged, Undo, after_undo, after_verify, before_hub
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason, JobResult
from robot_controller.robot.wwks2 import LinkSettings, Wwks2Robot, Wwks2Settings
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import Intent, Store
from robot_controller.texts import catalogue
from robot_controller.wiring import robot_words
from simulators.wwks2 import InputOutcome, RobotSettings, ScanPack, Wwks2RobotSim
from tests.support.packs import hub_pack
from wwks2.messages import InputHandling

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
HERE = "pharmacy-1"
UI = PackIdentifier("GTIN", "09506000134352", "RET1", "B1", date(2028, 12, 31), "281231")
DECOMMISSION, UNDO, VERIFY = HubOperation.DECOMMISSION, HubOperation.UNDO, HubOperation.VERIFY
DONE, PENDING, FAILED = IntentStatus.DONE, IntentStatus.PENDING, IntentStatus.FAILED
MODES: tuple[Mode, ...] = ("hospital", "community")


def change(
    operation: HubOperation = DECOMMISSION,
    reason: Reason = Reason.SUPPLIED,
    status: IntentStatus = DONE,
    *,
    n: int = 1,
    hours_ago: float = 1,
    location: str | None = HERE,
    expiry_raw: str = "281231",
) -> Intent:
    at = NOW - timedelta(hours=hours_ago)
    ui = hub_pack("RET1", expiry_raw=expiry_raw)
    return Intent(n, 7, operation, reason, f"trx-{n}", ui, status, 1, at, location=location)


def logged(*history: Intent, on_shelf: bool = False, pending: bool = False) -> Logged:
    return Logged(True, on_shelf, pending, history)


SUPPLIED = change()
UNDONE = (change(n=1), change(UNDO, n=2, hours_ago=0.5))

# the log's view → the refusal before the hub, the same in both modes
REFUSED_BY_THE_LOG = [
    (logged(SUPPLIED, on_shelf=True), Action.QUARANTINE, Why.DUPLICATE),
    (logged(SUPPLIED, pending=True), Action.REJECT, Why.RETURN_NOT_YET),
    (Logged(False, False, False), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(status=FAILED)), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(VERIFY, status=DONE)), Action.REJECT, Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(reason=Reason.STOLEN)), Action.REJECT, Why.RETURN_STOLEN),
    (logged(change(reason=Reason.DESTROYED)), Action.REJECT, Why.RETURN_DESTROYED),
    (logged(change(reason=Reason.LOCKED)), Action.REJECT, Why.RETURN_REFUSED),
    (logged(change(reason=Reason.SAMPLE)), Action.REJECT, Why.RETURN_REFUSED),
    (logged(change(location="elsewhere")), Action.REJECT, Why.RETURN_OTHER_PREMISES),
    (logged(change(expiry_raw="261130")), Action.REJECT, Why.RETURN_EXPIRED),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("view", "action", "why"), REFUSED_BY_THE_LOG)
def test_the_log_alone_refuses_a_return_art_13_or_the_log_forbids(
    mode: Mode, view: Logged, action: Action, why: Why
) -> None:
    decision = before_hub(view, UI, mode=mode, location=HERE, now=NOW)
    assert decision is not None
    assert (decision.action, decision.why) == (action, why)


@pytest.mark.parametrize("mode", MODES)
def test_an_expired_code_is_refused_before_anything_else_is_asked(mode: Mode) -> None:
    expired = PackIdentifier("GTIN", UI.product_code, "RET1", "B1", date(2026, 11, 30), "261130")
    decision = before_hub(logged(SUPPLIED), expired, mode=mode, location=HERE, now=NOW)
    assert decision is not None
    assert decision.why is Why.RETURN_EXPIRED


# what differs by mode: (the log, mode) → refused (why) or None (ask the hub)
BY_MODE = [
    (logged(SUPPLIED), "hospital", None),
    (logged(SUPPLIED), "community", None),
    (logged(change(hours_ago=239.9)), "community", None),
    (logged(change(hours_ago=240.1)), "community", Why.RETURN_PAST_WINDOW),
    (logged(change(hours_ago=240.1)), "hospital", None),  # it stays supplied: no undo
    (logged(change(hours_ago=24 * 400)), "hospital", None),
    (logged(*UNDONE), "community", None),  # undone since: the hub is asked, active is fine
    (logged(*UNDONE), "hospital", Why.RETURN_NOT_DECOMMISSIONED_HERE),
    (logged(change(location=None)), "community", None),  # from before premises were kept
]


@pytest.mark.parametrize(("view", "mode", "why"), BY_MODE)
def test_a_return_goes_to_the_hub_as_its_mode_and_the_240_hours_allow(
    view: Logged, mode: Mode, why: Why | None
) -> None:
    decision = before_hub(view, UI, mode=mode, location=HERE, now=NOW)
    assert (decision.why if decision else None) is why


def answer(
    state: PackState = PackState.INACTIVE,
    *reasons: Reason,
    outcome: Outcome = "ok",
    code: str = "NMVS_SUCCESS",
    alert: str | None = None,
) -> HubResult:
    return HubResult(outcome, code, state, reasons or (Reason.SUPPLIED,), alert_id=alert)


ACTIVE = HubResult("ok", "NMVS_SUCCESS", PackState.ACTIVE)
SUPPLIED_AT_HUB = answer()

# (the log, the hub's verify answer, mode) → accepted, refused (action, why) or the undo
AFTER_VERIFY: list[tuple[Logged, HubResult | None, Mode, tuple[Action, Why] | str]] = [
    (logged(SUPPLIED), SUPPLIED_AT_HUB, "hospital", (Action.SHELVE, Why.RETURN_ACCEPTED)),
    (logged(SUPPLIED), SUPPLIED_AT_HUB, "community", "undo"),
    (logged(SUPPLIED), ACTIVE, "hospital", (Action.REJECT, Why.RETURN_REFUSED)),
    (logged(SUPPLIED), ACTIVE, "community", (Action.REJECT, Why.RETURN_REFUSED)),
    (
        logged(SUPPLIED),
        answer(PackState.INACTIVE, Reason.DESTROYED),
        "hospital",
        (Action.REJECT, Why.RETURN_REFUSED),
    ),
    (logged(*UNDONE), ACTIVE, "community", (Action.SHELVE, Why.RETURN_ACCEPTED)),
    (logged(*UNDONE), SUPPLIED_AT_HUB, "community", (Action.REJECT, Why.RETURN_REFUSED)),
]
# the hub's answers that refuse a return whatever the log and the mode
HUB_REFUSES = [
    (None, Action.REJECT, Why.RETURN_NOT_YET),
    (answer(outcome="technical", code="NMVS_TE_01"), Action.REJECT, Why.RETURN_NOT_YET),
    (answer(outcome="rate_limited", code="429"), Action.REJECT, Why.RETURN_NOT_YET),
    (answer(outcome="login_failed", code="NMVS_FE_LOG_01"), Action.REJECT, Why.HUB_LOGIN_FAILED),
    (answer(outcome="alert", code="NMVS_NC_PCK_19", alert="A1"), Action.QUARANTINE, Why.ALERT),
    (
        answer(PackState.INACTIVE, Reason.SUPPLIED, Reason.EXPIRED),
        Action.REJECT,
        Why.RETURN_EXPIRED,
    ),
    (
        answer(PackState.INACTIVE, Reason.SUPPLIED, Reason.RECALLED),
        Action.REJECT,
        Why.RETURN_RECALLED,
    ),
    (
        answer(PackState.INACTIVE, Reason.SUPPLIED, Reason.WITHDRAWN),
        Action.REJECT,
        Why.WITHDRAWN,
    ),
    (answer(outcome="refused", code="NMVS_NC_PC_02"), Action.REJECT, Why.RETURN_REFUSED),
]
AFTER_VERIFY += [
    (view, result, mode, (action, why))
    for result, action, why in HUB_REFUSES
    for view in (logged(SUPPLIED), logged(*UNDONE))
    for mode in MODES
]


@pytest.mark.parametrize(("view", "result", "mode", "expected"), AFTER_VERIFY)
def test_the_hubs_answer_accepts_refuses_or_asks_for_the_undo(
    view: Logged, result: HubResult | None, mode: Mode, expected: tuple[Action, Why] | str
) -> None:
    verdict = after_verify(view, result, mode=mode)
    if expected == "undo":
        assert verdict == Undo(SUPPLIED)
    else:
        assert isinstance(verdict, Decision)
        assert (verdict.action, verdict.why) == expected


@pytest.mark.parametrize(
    ("status", "action", "why"),
    [
        (DONE, Action.SHELVE, Why.RETURN_ACCEPTED),
        (PENDING, Action.REJECT, Why.RETURN_NOT_YET),
        (FAILED, Action.REJECT, Why.RETURN_REFUSED),
        (IntentStatus.FLAGGED, Action.REJECT, Why.RETURN_PAST_WINDOW),
        (IntentStatus.CANCELLED, Action.REJECT, Why.RETURN_REFUSED),
    ],
)
def test_the_undo_as_the_outbox_left_it_decides_the_return(
    status: IntentStatus, action: Action, why: Why
) -> None:
    decision = after_undo(change(UNDO, status=status, n=2))
    assert (decision.action, decision.why) == (action, why)


# -- end to end: the robot simulator over TCP, a real store, the mock national system --------

LOCATION = "pharmacy-1"
PRODUCT = "04150000000015"
TIMING = StockInTiming(answer_within_s=2.0)
WORDS = robot_words(catalogue("en"))


class Wall:
    """The daemon's and the hub's clock: moved by the test, never slept on."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def move(self, hours: float) -> None:
        self.now += timedelta(hours=hours)


def pack(serial: str, batch: str = "B1", expiry: date = date(2030, 12, 31)) -> PackIdentifier:
    return PackIdentifier("GTIN", PRODUCT, serial, batch, expiry, expiry.strftime("%y%m%d"))


@dataclass
class Site:
    """A daemon loading from a simulated WWKS2 robot, and what a test does around it."""

    mode: Mode
    sim: Wwks2RobotSim
    pipeline: Pipeline
    hub: MockHub
    wall: Wall
    routed: asyncio.Queue[Routed]

    @property
    def store(self) -> Store:
        return self.pipeline.store

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.pipeline.steps.context.call(fn, *args, **kwargs)

    async def deliver(self, ui: PackIdentifier) -> InputOutcome:
        """A new pack stocked in: verified (hospital: and supplied) and shelved."""
        self.hub.add_pack(ui)
        outcome = await self.sim.feed(ScanPack(encode_gs1(ui, symbology=None)))
        assert outcome.stored
        assert (await self.routed.get()).route is Route.SHELVED
        return outcome

    async def give_back(self, ui: PackIdentifier) -> InputOutcome:
        """The pack comes back: the robot asks with IsNewDelivery False."""
        return await self.sim.feed(ScanPack(encode_gs1(ui, symbology=None), is_return=True))

    async def dispense(self, ui: PackIdentifier, *, supply: bool = True) -> None:
        """The pack leaves the shelf (a stand-in for the hand-out: the log's route off the
        shelf); in community mode supplied through the outbox (unless not `supply`)."""
        known = await self.call(self.store.find_pack, ui.product_code, ui.serial)
        token = known.token
        if supply and self.mode == "community":
            await self.call(self.store.queue_intent, token, ui, DECOMMISSION, Reason.SUPPLIED,
                            trx=uuid.uuid4().hex, at=self.wall(), location=LOCATION)  # fmt: skip
            await self.send(token, LOCATION)
        location = await self.call(self.store.shelved_location, token)
        job = Job(JobCode.RETRIEVE_TO_QUARANTINE, token, JobReason.OPERATOR, location)
        job_id = await self.call(self.store.start_job, job, at=self.wall())
        retrieved = JobOutcome(JobResult.RETRIEVED, location=location)
        await self.call(self.store.record_retrieval, token, job_id, retrieved, at=self.wall())

    async def supplied_elsewhere(self, ui: PackIdentifier) -> None:
        """The pack was supplied at other premises that share this log."""
        self.hub.add_pack(ui)
        elsewhere = "other-premises"
        intent = await self.call(
            self.store.queue_pack_action, None, ui, DECOMMISSION, Reason.SUPPLIED,
            trx=uuid.uuid4().hex, at=self.wall(), actor="pharmacist", note="handed out",
            location=elsewhere, scan=encode_gs1(ui, symbology=None), robot="other-robot",
        )  # fmt: skip
        await self.send(intent.token, elsewhere)

    async def send(self, token: int, location: str) -> None:
        """The pack's outbox sent by the hub of `location`."""
        hub = ResilientHub(self.hub.client(location), timeout_s=10.0)
        report = await replay(self.store, hub, clock=self.wall, run=self.call, tokens=[token])
        assert report.done == 1

    async def last(self) -> tuple[str, str]:
        """The route and why of the pack fed last, once the daemon has recorded them."""
        routed = await self.routed.get()
        return routed.route.value, routed.why.value

    def changes(self, ui: PackIdentifier) -> int:
        return self.hub.state_changes_by_pack.get((ui.product_code, ui.serial), 0)


class SilentFromTheUndo(MockHubClient):
    """A hub whose replies are lost from the first undo on (it applies what it is sent)."""

    async def undo(
        self, ui: PackIdentifier, from_: Reason, *, trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:  # fmt: skip
        self.hub.set_faults(lost_reply_rate=1.0)
        return await super().undo(ui, from_, trx=trx, ref_trx=ref_trx)


@asynccontextmanager
async def site(
    url: str, mode: Mode, client: type[MockHubClient] = MockHubClient
) -> AsyncIterator[Site]:
    wall = Wall()
    hub = MockHub(wall, seed=1)
    hub.add_product(PRODUCT)
    for expiry in (date(2030, 12, 31), (wall.now + timedelta(days=3)).date()):
        hub.add_batch(PRODUCT, "B1" if expiry.year == 2030 else "B2", expiry)
    routed: asyncio.Queue[Routed] = asyncio.Queue()
    async with Wwks2RobotSim(RobotSettings(components=(40,))) as sim:
        driver = Wwks2Robot(Wwks2Settings(LinkSettings("127.0.0.1", sim.port)))
        await driver.connect()
        pipeline = Pipeline(
            store=Store.open(url, location=LOCATION),
            hub=ResilientHub(
                client(hub, LOCATION, "user"), timeout_s=10.0,
                breaker=CircuitBreaker(failures=1000),
            ),
            robot=driver, site=SitePolicy(mode=mode), clock=wall, location=LOCATION,
            stock_in=TIMING, reject_text=WORDS, on_routed=routed.put_nowait,
        )  # fmt: skip
        stop = asyncio.Event()
        running = asyncio.create_task(pipeline.run([], stop=stop))
        try:
            yield Site(mode, sim, pipeline, hub, wall, routed)
        finally:
            stop.set()
            await running
            await pipeline.aclose()
            await driver.aclose()


ALLOWED, REJECTED = InputHandling.ALLOWED, InputHandling.REJECTED


@pytest.mark.parametrize("mode", MODES)
async def test_a_return_within_240_hours_is_stored_again(sqlite_url: str, mode: Mode) -> None:
    ui = pack("IN1")
    async with site(sqlite_url, mode) as here:
        await here.deliver(ui)
        await here.dispense(ui)
        here.wall.move(239)
        back = await here.give_back(ui)
        assert (back.handling, back.stored) == (ALLOWED, True)
        assert await here.last() == ("shelved", Why.RETURN_ACCEPTED.value)
        assert await here.call(here.store.in_stock, ui)
        state = here.hub.pack_state(ui.product_code, ui.serial)
        if mode == "hospital":  # still supplied, as at its stock-in: no hub change
            assert state == (PackState.INACTIVE, (Reason.SUPPLIED,))
            assert here.changes(ui) == 1
        else:  # supplied at hand-out, undone for the shelf
            assert state[0] is PackState.ACTIVE
            assert here.changes(ui) == 2
        assert here.hub.alerts == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_return_past_240_hours_is_refused_in_community_mode_and_never_undone(
    sqlite_url: str, mode: Mode
) -> None:
    ui = pack("OUT1")
    async with site(sqlite_url, mode) as here:
        await here.deliver(ui)
        await here.dispense(ui)
        here.wall.move(241)
        back = await here.give_back(ui)
        if mode == "hospital":  # it stays supplied: no undo is needed, no window applies
            assert (back.handling, back.stored) == (ALLOWED, True)
            assert await here.last() == ("shelved", Why.RETURN_ACCEPTED.value)
        else:
            assert (back.handling, back.stored) == (REJECTED, False)
            assert await here.last() == ("rejected", Why.RETURN_PAST_WINDOW.value)
            assert not any(t.operation == "undo" for t in here.hub.history(PRODUCT, "OUT1"))
        assert here.changes(ui) == 1
        assert here.hub.alerts == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_return_supplied_at_other_premises_is_refused(sqlite_url: str, mode: Mode) -> None:
    ui = pack("ELSE1")
    async with site(sqlite_url, mode) as here:
        await here.supplied_elsewhere(ui)
        back = await here.give_back(ui)
        assert back.handling is REJECTED
        assert await here.last() == ("rejected", Why.RETURN_OTHER_PREMISES.value)
        assert here.changes(ui) == 1
        assert here.hub.alerts == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_return_never_decommissioned_here_is_refused(sqlite_url: str, mode: Mode) -> None:
    never_seen, unsupplied = pack("NEW1"), pack("NEW2")
    async with site(sqlite_url, mode) as here:
        here.hub.add_pack(never_seen)
        first = await here.give_back(never_seen)
        assert first.handling is REJECTED
        assert await here.last() == ("rejected", Why.RETURN_NOT_DECOMMISSIONED_HERE.value)
        if mode == "community":  # taken off the shelf without a supply
            await here.deliver(unsupplied)
            await here.dispense(unsupplied, supply=False)
            second = await here.give_back(unsupplied)
            assert second.handling is REJECTED
            assert await here.last() == ("rejected", Why.RETURN_NOT_DECOMMISSIONED_HERE.value)
        assert here.changes(never_seen) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_an_expired_or_recalled_return_is_refused_and_never_undone(
    sqlite_url: str, mode: Mode
) -> None:
    async with site(sqlite_url, mode) as here:
        expiring = pack("EXP1", "B2", (here.wall.now + timedelta(days=3)).date())
        recalled = pack("REC1")
        for ui in (expiring, recalled):
            await here.deliver(ui)
            await here.dispense(ui)
        here.hub.recall_batch(PRODUCT, "B1")
        assert (await here.give_back(recalled)).handling is REJECTED
        assert await here.last() == ("rejected", Why.RETURN_RECALLED.value)
        here.wall.move(4 * 24)  # within 240 h, but past its expiry
        assert (await here.give_back(expiring)).handling is REJECTED
        assert await here.last() == ("rejected", Why.RETURN_EXPIRED.value)
        assert here.changes(expiring) == here.changes(recalled) == 1  # supplied once, no undo
        assert here.hub.alerts == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_return_of_a_pack_still_on_the_shelf_is_refused(
    sqlite_url: str, mode: Mode
) -> None:
    ui = pack("TWIN1")
    async with site(sqlite_url, mode) as here:
        await here.deliver(ui)
        back = await here.give_back(ui)
        assert (back.handling, back.stored) == (REJECTED, False)
        assert await here.last() == ("quarantined", Why.DUPLICATE.value)
        assert len(here.sim.shelf) == 1


async def test_a_lost_answer_to_the_undo_refuses_the_return_for_now_and_the_outbox_settles_it(
    sqlite_url: str,
) -> None:
    ui = pack("LOST1")
    async with site(sqlite_url, "community", SilentFromTheUndo) as here:
        await here.deliver(ui)
        await here.dispense(ui)
        first = await here.give_back(ui)
        here.hub.set_faults(lost_reply_rate=0.0)
        assert (first.handling, first.stored, first.late) == (REJECTED, False, False)
        assert await here.last() == ("rejected", Why.RETURN_NOT_YET.value)
        assert await here.call(here.store.change_pending, ui)  # the undo waits, counted as sent
        await replay_once(here.pipeline.steps)  # the background replay asks before it re-sends
        assert not await here.call(here.store.change_pending, ui)
        again = await here.give_back(ui)
        assert (again.handling, again.stored) == (ALLOWED, True)
        assert await here.last() == ("shelved", Why.RETURN_ACCEPTED.value)
        assert here.changes(ui) == 2  # supplied, undone once
        assert here.hub.alerts == []


def test_a_request_without_is_new_delivery_is_a_delivery_unless_the_site_says_otherwise() -> None:
    robot = {"kind": "wwks2", "host": "robot.local"}
    assert Wwks2RobotConfig.model_validate(robot).absent_is_new_delivery
    strict = Wwks2RobotConfig.model_validate(robot | {"absent_is_new_delivery": False})
    assert not strict.absent_is_new_delivery
