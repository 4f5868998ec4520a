"""The pipeline's lifecycle: recover → load → drain → shut down.

Verification of the next packs overlaps the robot's current job (a bounded window of packs in
flight); the robot receives its jobs one at a time, in scan order. The pipeline closes only what
it opened (its store thread); scanners, robot and hub belong to whoever opened them.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
import structlog.contextvars

from fmd.hub.resilient import SafeHub
from fmd.policy import Decision, SitePolicy
from robot_controller.pipeline.background import drain, report_left, run_background
from robot_controller.pipeline.context import Context, Prepared, utc_now
from robot_controller.pipeline.hand_out import HandOutRunner, ReportsOutputs
from robot_controller.pipeline.recovery import recover_unfinished
from robot_controller.pipeline.robot_turn import RESUME_EVERY_S, RobotTurn
from robot_controller.pipeline.steps import OnRouted, PackSteps, internal_error
from robot_controller.pipeline.stock_check import KeepsStock, StockChecks
from robot_controller.pipeline.stock_in import (
    DEFAULT_TIMING,
    AsksAtInput,
    RejectText,
    StockIn,
    StockInTiming,
)
from robot_controller.product_names import NONE
from robot_controller.robot.base import Robot
from robot_controller.store import Store, StoreUnwritable
from robot_controller.store.intents import CLAIM_LEASE
from robot_controller.store.runner import StoreRunner
from scanners.base import Scan, Scanner

log = structlog.get_logger("fmd.pipeline")

Queue = asyncio.Queue[tuple[int, asyncio.Future[Prepared]] | None]
"""Packs in scan order, each with its decision to come; None ends loading."""


class ScannerFailed(Exception):
    """A scan source failed; the packs it had delivered were all finished."""


class Pipeline:
    """Runs packs from scanners through parse → verify → decide → decommission → robot."""

    def __init__(
        self,
        *,
        store: Store,
        hub: SafeHub,
        robot: Robot,
        site: SitePolicy,
        separators: str = "\x1d",
        clock: Callable[[], datetime] = utc_now,
        window: int = 32,
        on_routed: OnRouted | None = None,
        replay_every_s: float | None = None,
        resume_every_s: float = RESUME_EVERY_S,
        decommission_ahead: int = 4,
        robot_name: str = "robot",
        location: str | None = None,
        claim_lease: timedelta = CLAIM_LEASE,
        reject_text: RejectText | None = None,
        stock_in: StockInTiming = DEFAULT_TIMING,
        absent_is_new_delivery: bool = True,
        product_names: Mapping[str, str] = NONE,
    ) -> None:
        """`hub` is behind the resilience wrapper (`ResilientHub`); `replay_every_s`: how often
        the outbox is replayed in the background while loading (None: never; `fmd-robot outbox
        replay` does it on demand); `resume_every_s`: how often a paused pipeline asks the robot
        whether it is ready again; `decommission_ahead`: how many packs, the one at the robot
        included, may be decommissioned before their job (1: one at a time; a robot that stops
        meanwhile sends back at most that many decommissioned packs, flagged with their undo);
        `robot_name`: the robot this pipeline drives, among those sharing the store;
        `location`: the premises (`[site] location`), kept on each decommission so that its
        undo is allowed here only (Art. 13); `claim_lease`: how long another daemon's claim on
        an outbox intent holds (a shared PostgreSQL store); a robot that scans each pack and
        asks about it (WWKS2) is answered as `stock_in` times it, its rejections worded by
        `reject_text`, a request without IsNewDelivery taken as `absent_is_new_delivery`
        says; `product_names`: the site's own names of products (`[site] products`), told with
        a pack whose hub answer names none."""
        self.store = store
        self.hub = hub
        self.robot = robot
        self.window = window
        self.replay_every_s = replay_every_s
        self.robot_name = robot_name
        self.decommission_ahead = max(1, decommission_ahead)
        self._db = StoreRunner(store)
        context = Context(
            store,
            hub,
            robot,
            site,
            separators,
            clock,
            self._db.call,
            robot_name,
            location,
            claim_lease,
            product_names,
        )
        turn = RobotTurn(robot, resume_every_s=resume_every_s)
        self.steps = PackSteps(context, on_routed, turn=turn)
        self._takes: set[asyncio.Future[None]] = set()
        self.stock_in = (
            StockIn(
                self.steps,
                robot,
                reject_text=reject_text or _plain,
                timing=stock_in,
                absent_is_new_delivery=absent_is_new_delivery,
            )
            if isinstance(robot, AsksAtInput)
            else None
        )
        self.hand_out = (
            HandOutRunner(context, robot, on_routed) if isinstance(robot, ReportsOutputs) else None
        )

    async def aclose(self) -> None:
        """Stop the store thread (the one thing the pipeline opened)."""
        await self._db.aclose()

    async def run(
        self,
        scanners: Sequence[Scanner],
        *,
        stop: asyncio.Event | None = None,
        drain_s: float | None = None,
    ) -> None:
        """Recover what a crash left, then load packs until the scanners end or `stop` is set.

        On stop, no new scan is taken; every pack already taken is finished. When the scanners
        end (a finite input) and `drain_s` is given, the outbox is replayed for up to that long
        before returning; what is still left is reported either way.
        """
        stop = stop or asyncio.Event()
        slots = asyncio.Semaphore(self.window)
        queue: Queue = asyncio.Queue()
        placer = asyncio.create_task(self._place_all(queue, slots))
        every_s = self.replay_every_s
        background = asyncio.create_task(run_background(self.steps, every_s)) if every_s else None
        intakes: list[asyncio.Task[None]] = []
        robot = self.robot
        checks = StockChecks(self.steps, robot) if isinstance(robot, KeepsStock) else None
        try:
            recovered = await recover_unfinished(self.steps)
            if self.stock_in is not None:  # the robot no longer holds them at its input
                await self.stock_in.give_back(recovered)
                recovered = []
            for item in recovered:
                await slots.acquire()
                await queue.put((item.token, _ready(item)))
            if checks is not None:  # the robot's stock against the log, now and at each connect
                checks.start()
            intakes = [asyncio.create_task(self._intake(s, queue, slots, stop)) for s in scanners]
            if self.stock_in is not None:
                intakes.append(asyncio.create_task(self.stock_in.run(stop)))
            if self.hand_out is not None:
                intakes.append(asyncio.create_task(self.hand_out.run(stop)))
            await _until_done_or_stopped(intakes, stop, self.steps.turn.halt)
        finally:
            if checks is not None:
                await checks.aclose()
            await asyncio.gather(*self._takes, return_exceptions=True)  # finish what was taken
            if self.stock_in is not None:
                await self.stock_in.finish()
            if self.hand_out is not None:
                await self.hand_out.finish()
            await queue.put(None)
            await placer
            if background is not None:
                background.cancel()
                await asyncio.gather(background, return_exceptions=True)
            await self.steps.turn.aclose()
        if self.steps.turn.halted is not None:
            raise self.steps.turn.halted
        if drain_s is not None and not stop.is_set():
            await drain(self.steps, timeout_s=drain_s)
        await report_left(self.steps)
        failed = [t.exception() for t in intakes if not t.cancelled() and t.exception()]
        if failed:
            raise ScannerFailed(f"{len(failed)} scanner(s) failed: {failed[0]!r}") from failed[0]

    async def _intake(
        self, scanner: Scanner, queue: Queue, slots: asyncio.Semaphore, stop: asyncio.Event
    ) -> None:
        async for scan in scanner.scans():
            # A scan read from the device is always recorded and queued, even when stopping.
            take = asyncio.ensure_future(self._take(scan, queue, slots))
            self._takes.add(take)
            take.add_done_callback(self._takes.discard)
            try:
                await asyncio.shield(take)
            except StoreUnwritable as error:  # nothing can be recorded: loading stops
                self.steps.turn.stop(error)
                return
            if stop.is_set():
                return

    async def _take(self, scan: Scan, queue: Queue, slots: asyncio.Semaphore) -> None:
        await slots.acquire()
        try:
            token = await self._record_scan(scan)
        except BaseException:
            slots.release()
            raise
        with structlog.contextvars.bound_contextvars(token=token):  # the pack's task keeps it
            log.info("scan.recorded", source=scan.source)
            task = asyncio.create_task(self.steps.prepare(token, scan.raw, scan.symbology_id))
        await queue.put((token, task))

    async def _record_scan(self, scan: Scan, attempts: int = 4) -> int:
        """Commit a scan, retrying a failing store a few times before giving up."""
        ctx = self.steps.context
        record, robot = ctx.store.record_scan, ctx.robot_name
        for attempt in range(attempts - 1):
            try:
                token: int = await ctx.call(record, scan, at=ctx.clock(), robot=robot)
            except StoreUnwritable:
                raise  # a full or read-only store does not heal by itself
            except Exception as error:  # noqa: BLE001 - retried, then raised below
                log.error("store.retry", step="record_scan", error=repr(error))
                await asyncio.sleep(0.2 * 2**attempt)
            else:
                return token
        last: int = await ctx.call(record, scan, at=ctx.clock(), robot=robot)
        return last

    async def _place_all(self, queue: Queue, slots: asyncio.Semaphore) -> None:
        """Hand the packs to the robot in scan order; the decommissions of the next
        `decommission_ahead - 1` packs overlap the current job (each after its own readiness
        check)."""
        recording: set[asyncio.Future[None]] = set()
        ahead: collections.deque[tuple[int, asyncio.Task[Prepared]]] = collections.deque()
        ended = False

        def recorded(future: asyncio.Future[None]) -> None:
            recording.discard(future)
            slots.release()

        while True:
            while not ended and len(ahead) < self.decommission_ahead:
                if ahead and queue.empty():
                    break  # the head goes first; what comes meanwhile is staged after it
                entry = await queue.get()
                if entry is None:
                    ended = True
                    break
                token, decided = entry
                with structlog.contextvars.bound_contextvars(token=token):
                    ahead.append((token, asyncio.create_task(self._stage(token, decided))))
            if not ahead:
                break
            token, staged = ahead.popleft()
            with structlog.contextvars.bound_contextvars(token=token):
                item = await staged
                try:
                    finished = await self.steps.place(item)
                except Exception as error:
                    log.exception("pack.place_failed", error=repr(error))
                    finished = asyncio.ensure_future(
                        self.steps.record_route(item, None, None, None)
                    )  # never reached the robot: flagged
            recording.add(finished)
            finished.add_done_callback(recorded)
        await asyncio.gather(*recording)

    async def _stage(self, token: int, decided: asyncio.Future[Prepared]) -> Prepared:
        """The pack's decision, then its decommission when due (a failure: the pack goes to
        the reject chute as an internal error, never stopping the others)."""
        item = await self._prepared_or_reject(token, decided)
        try:
            return await self.steps.stage(item)
        except Exception as error:  # noqa: BLE001 - any failure diverts this pack alone
            return self._failed(token, error)

    async def _prepared_or_reject(self, token: int, decided: asyncio.Future[Prepared]) -> Prepared:
        """The pack's decision; a failure inside the pipeline diverts the pack, never stops it."""
        try:
            return await decided
        except Exception as error:  # noqa: BLE001 - any failure diverts this pack alone
            return self._failed(token, error)

    def _failed(self, token: int, error: Exception) -> Prepared:
        """A pack the pipeline itself failed on: to the reject chute as an internal error; a
        store that cannot be written halts loading."""
        if isinstance(error, StoreUnwritable):
            self.steps.turn.stop(error)
        self.steps.release(token)
        log.exception("pack.internal_error", error=str(error))
        return internal_error(token, error)


async def _until_done_or_stopped(
    intakes: list[asyncio.Task[None]], stop: asyncio.Event, halt: asyncio.Event
) -> None:
    """Wait until every scanner has ended or `stop` (or `halt`) is set, then cancel what still
    reads."""
    stopper = asyncio.create_task(_either(stop, halt))
    pending: set[asyncio.Future[Any]] = set(intakes)
    try:
        while pending:
            done, pending = await asyncio.wait(
                pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
            )
            pending.discard(stopper)
            for task in done - {stopper}:
                if task.exception() is not None:
                    log.error("scanner.failed", error=repr(task.exception()))
            if stopper.done():
                break
    finally:
        for task in (*pending, stopper):
            task.cancel()
        await asyncio.gather(*intakes, stopper, return_exceptions=True)


async def _either(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def _plain(decision: Decision) -> str:
    return f"FMD: {decision.why.value}"


def _ready(item: Prepared) -> asyncio.Future[Prepared]:
    decided: asyncio.Future[Prepared] = asyncio.get_running_loop().create_future()
    decided.set_result(item)
    return decided
