"""Stock reconciliation, the action: the robot's stock compared with the log
(`robot_controller.reconcile`), and what the comparison asks for.

A pack in the robot the log never allowed (a robot that stocks in by itself, or another system
stocked it) is verified now through the pipeline's steps: its ScanCode recorded as a scan from
`wwks2-stock`, parsed, checked, verified, decided, decommissioned in hospital mode; a clean one
is recorded shelved at its pack id, any other is output to the quarantine destination (a
RETRIEVE_TO_QUARANTINE job on its pack id) and recorded. One without a usable scan code cannot
be verified: it is flagged and output to quarantine too. A pack the log shelved that the robot
no longer holds stays shelved in the log and is flagged, with one warning each time.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import structlog
import structlog.contextvars

from fmd.policy import Action, Decision, Why
from robot_controller.pack_rules import standing_decommission
from robot_controller.pipeline.context import Prepared
from robot_controller.pipeline.steps import PackSteps
from robot_controller.reconcile import Reconciliation, RobotPack, compare, robot_packs
from robot_controller.robot.base import (
    Job,
    JobCode,
    JobOutcome,
    JobReason,
    JobResult,
    RobotError,
)
from robot_controller.robot.wwks2.link import OnConnected
from robot_controller.routing import job_for
from robot_controller.states import Route
from robot_controller.store import ShelvedPack, StoreUnwritable
from scanners.base import Scan
from wwks2.messages import StockCriteria, StockInfoResponse

log = structlog.get_logger("fmd.pipeline")

SOURCE = "wwks2-stock"
"""The source of a pack's scan when it was first seen in the robot's stock."""

FOUND = "found in the robot's stock, never stocked in through this system"
SHELVED = f"{FOUND}: verified now and left on the shelf"
NO_CODE = "no usable scan code (robot pack {id}, article {article}): it cannot be verified"
OUTPUT = f"{FOUND}: output to quarantine ({{why}})"
NOT_OUTPUT = (
    f"{FOUND}: it should go to quarantine ({{why}}) but the robot did not output it "
    "({detail}): take robot pack {id} out by hand"
)
MISSING = (
    "the log has this pack on the robot's shelf (robot pack {location}) but the robot no longer "
    "holds it: find it (taken out at the robot's terminal, or by hand?)"
)
LOST_TRACK = (
    "found in the robot's stock: the pack whose stock-in report was lost (decommissioned here "
    "before it was allowed); shelved at its robot pack id, no hub change"
)
CHECK_WAITS = "the stock is compared again once the robot's link is up"
STOP_GRACE_S = 15.0  # at a stop, how long a check under way may still take
FOUND_AGAIN = (
    "found on the robot's shelf at a stock check (now token {token}, robot pack {id}): it was "
    "stored after all, no undo needed"
)
PAUSED = "the robot cannot take jobs now: packs found in its stock are left for the next check"


@runtime_checkable
class KeepsStock(Protocol):
    """A robot that reports its stock pack by pack and says when its link is up (WWKS2)."""

    async def stock(self, criteria: tuple[StockCriteria, ...] = ()) -> StockInfoResponse: ...

    def when_connected(self, hook: OnConnected | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of a pack found in the robot the log never allowed."""

    pack: RobotPack
    token: int
    route: Route
    why: Why
    flagged: bool


@dataclass(frozen=True, slots=True)
class StockCheck:
    """A reconciliation and what was done about it (nothing when it was only a report)."""

    found: Reconciliation
    settled: tuple[Settled, ...] = ()
    flagged: tuple[ShelvedPack, ...] = ()


async def compare_stock(steps: PackSteps, robot: KeepsStock) -> Reconciliation:
    """The robot's stock against the log. The robot is asked first, then the packs in flight
    noted, then the log read: a pack stored meanwhile is in the log or still in flight."""
    ctx = steps.context
    stock = await robot.stock()
    held = steps.holding()
    shelved = await ctx.call(ctx.store.shelved_packs, robot=ctx.robot_name)
    packs = robot_packs(stock.articles, separators=ctx.separators, today=ctx.clock().date())
    return compare(packs, shelved, in_flight=held)


async def check_stock(steps: PackSteps, robot: KeepsStock, *, act: bool = True) -> StockCheck:
    """Compare, then (`act`) verify what the log never allowed and flag what is missing."""
    found = await compare_stock(steps, robot)
    if not act:
        return StockCheck(found)
    ctx = steps.context
    flagged = []
    for pack in found.missing:
        message = MISSING.format(location=pack.location or "unknown")
        log.warning("stock.missing", token=pack.token, detail=message)
        if not pack.flagged:
            await ctx.call(ctx.store.flag, pack.token, message, at=ctx.clock())
            flagged.append(pack)
    if found.unknown and (steps.turn.paused or steps.turn.halted):
        log.warning("stock.unknown_left", packs=len(found.unknown), detail=PAUSED)
        return StockCheck(found, flagged=tuple(flagged))
    settled = [await _settle(steps, pack) for pack in found.unknown]
    return StockCheck(found, tuple(settled), tuple(flagged))


async def _settle(steps: PackSteps, pack: RobotPack) -> Settled:
    ctx = steps.context
    scan = Scan(pack.scan_code or "", None, SOURCE, ctx.clock())
    token: int = await ctx.call(ctx.store.record_scan, scan, at=scan.at, robot=ctx.robot_name)
    with structlog.contextvars.bound_contextvars(token=token, robot_pack=pack.id):
        log.warning("stock.unknown", article=pack.article_id, detail=FOUND)
        if pack.ui is None:
            message = NO_CODE.format(id=pack.id, article=pack.article_id)
            decision = Decision(Action.QUARANTINE, Why.UNREADABLE, message)
            item = await steps.decide_locally(token, steps.parse(scan.raw, None), decision)
        elif (lost := await _decommissioned_here(steps, pack)) is not None:
            decision = Decision(Action.SHELVE, Why.DECOMMISSIONED, LOST_TRACK)
            item = await steps.decide_locally(token, steps.parse(scan.raw, None), decision)
            found = FOUND_AGAIN.format(token=token, id=pack.id)
            await ctx.call(ctx.store.flag, lost, found, at=ctx.clock())  # its undo advice is void
        else:
            item = await steps.prepare(token, scan.raw, None)
            wanted = item.decision.decommission_to is not None and not item.decision.verify_later
            if item.decision.action is Action.SHELVE and wanted:
                item = await steps.decommission(item)
        if item.decision.action is Action.SHELVE:
            stored = JobOutcome(JobResult.STORED, location=pack.id)
            shelf = (Route.SHELVED, SHELVED, False)
            await steps.record_route(item, None, None, stored, unmoved=shelf)
            return Settled(pack, token, Route.SHELVED, item.decision.why, False)
        route, flagged = await _to_quarantine(steps, item, pack)
        return Settled(pack, token, route, item.decision.why, flagged)


async def _decommissioned_here(steps: PackSteps, pack: RobotPack) -> int | None:
    """The token under which the log holds this pack off the shelf with our decommission
    standing (None: it does not): a stock-in whose report never came (a dropped link, a
    crash), which the robot's stock now gives."""
    ctx = steps.context
    if pack.ui is None:
        return None
    ui = pack.ui
    known = await ctx.call(ctx.store.find_pack, ui.product_code, ui.serial)
    if known is None or known.route is Route.SHELVED:
        return None
    change = standing_decommission(known.intents)
    return known.token if change is not None and change.location == ctx.location else None


async def _to_quarantine(steps: PackSteps, item: Prepared, pack: RobotPack) -> tuple[Route, bool]:
    """Output a suspect pack to the quarantine destination and record where it went."""
    ctx = steps.context
    planned = job_for(item.decision, item.token)
    reason = planned.reason if planned is not None else JobReason.OPERATOR
    job = Job(JobCode.RETRIEVE_TO_QUARANTINE, item.token, reason, pack.id)
    job_id = await ctx.call(ctx.store.start_job, job, at=ctx.clock(), robot=ctx.robot_name)
    outcome = await steps.turn.execute(job)
    why = item.decision.message
    no_code = pack.ui is None
    if outcome is not None and outcome.result is JobResult.RETRIEVED:
        route, flagged, message = Route.QUARANTINED, no_code, OUTPUT.format(why=why)
    else:
        detail = outcome.message if outcome is not None and outcome.message else "outcome unknown"
        message = NOT_OUTPUT.format(why=why, detail=detail, id=pack.id)
        route, flagged = Route.SHELVED, True
        outcome = dataclasses.replace(
            outcome or JobOutcome(JobResult.FAILED, message=detail), location=pack.id
        )  # where the pack still is
    await steps.record_route(item, job, job_id, outcome, unmoved=(route, message, flagged))
    return route, flagged


class StockChecks:
    """The daemon's reconciliations: one at every connect of the robot's link, one at a time,
    each finished before the pipeline stops."""

    def __init__(self, steps: PackSteps, robot: KeepsStock) -> None:
        self.steps = steps
        self.robot = robot
        self._lock = asyncio.Lock()
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Reconcile now (and at every reconnect from now on)."""
        self.robot.when_connected(self._connected)
        self._spawn()

    async def aclose(self, grace_s: float = STOP_GRACE_S) -> None:
        """No more checks; the one under way is finished, or cancelled after `grace_s` (a
        robot that never answers its StockInfoRequest does not hold the stop; a pack it left
        half-settled is recovered from its recorded scan at the next start)."""
        self.robot.when_connected(None)
        if not self._running:
            return
        _done, waiting = await asyncio.wait(set(self._running), timeout=grace_s)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)

    async def _connected(self) -> None:
        self._spawn()

    def _spawn(self) -> None:
        task = asyncio.get_running_loop().create_task(self._check())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _check(self) -> None:
        async with self._lock:
            try:
                done = await check_stock(self.steps, self.robot)
            except StoreUnwritable as error:
                self.steps.turn.stop(error)
            except RobotError as error:  # down or gone: checked again at its next connect
                log.warning("stock.check_waits", error=str(error), detail=CHECK_WAITS)
            except Exception as error:  # noqa: BLE001 - logged: loading goes on
                log.error("stock.check_failed", error=str(error))
            else:
                if done.found.agrees:
                    log.info("stock.checked", **done.found.counts)
                else:
                    log.warning("stock.differs", **done.found.counts)
