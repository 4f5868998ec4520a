"""The loading pipeline: scans in, verified and decided packs out to the robot, every step logged.

Verification of the next packs overlaps the robot's current job (a bounded window of packs in
flight); the robot receives its jobs one at a time, in scan order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from fmd.codes import PackIdentifier, ParsedScan, parse_scan
from fmd.hub.contract import HubClient, HubResult, HubUnavailable, Reason
from fmd.hub.resilient import Attempt, ResilientHub, traced
from fmd.policy import Action, Decision, SitePolicy, Why, decide, decide_before_hub
from fmd.policy import settle_decommission as settle
from robot_controller.outbox import replay
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason, Robot
from robot_controller.routing import job_for, route_of
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import Intent, Store, Unfinished
from robot_controller.store.runner import StoreRunner
from scanners.base import Scan, Scanner

log = structlog.get_logger("fmd.pipeline")


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_trx() -> str:
    """A client transaction id: 32 characters of [0-9a-f], within the NMVS limit."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Prepared:
    """A pack ready for the robot: its token, its scan as parsed, and the final decision."""

    token: int
    parsed: ParsedScan
    decision: Decision


class ScannerFailed(Exception):
    """A scan source failed; the packs it had delivered were all finished."""


@dataclass(frozen=True, slots=True)
class Sent:
    """A decommission's answer (None: unknown), the calls it took, and the intent's status."""

    result: HubResult | None
    calls: tuple[Attempt, ...]
    status: IntentStatus


class Pipeline:
    """Runs packs from scanners through parse → verify → decide → decommission → robot."""

    def __init__(
        self,
        *,
        store: Store,
        hub: HubClient,
        robot: Robot,
        site: SitePolicy,
        separators: str = "\x1d",
        clock: Callable[[], datetime] = utc_now,
        window: int = 32,
        on_routed: Callable[[int, str, Decision], None] | None = None,
        replay_every_s: float | None = None,
    ) -> None:
        """`replay_every_s`: how often the outbox is replayed in the background while loading
        (None: never; `fmd-robot outbox replay` does it on demand)."""
        self.store = store
        self.hub = hub if isinstance(hub, ResilientHub) else ResilientHub(hub)
        self.robot = robot
        self.site = site
        self.separators = separators
        self.clock = clock
        self.window = window
        self.on_routed = on_routed
        self.replay_every_s = replay_every_s
        self._db = StoreRunner(store)
        self._call = self._db.call
        self._in_flight: dict[tuple[str, str], int] = {}  # UI -> token of the pack holding it
        self._takes: set[asyncio.Future[None]] = set()
        self._robot_turn = asyncio.Lock()

    async def aclose(self) -> None:
        await self._db.aclose()

    # -- running ---------------------------------------------------------------------------

    async def run(self, scanners: Sequence[Scanner], *, stop: asyncio.Event | None = None) -> None:
        """Recover what a crash left, then load packs until the scanners end or `stop` is set.

        On stop, no new scan is taken; every pack already taken is finished.
        """
        stop = stop or asyncio.Event()
        slots = asyncio.Semaphore(self.window)
        queue: asyncio.Queue[tuple[int, asyncio.Task[Prepared]] | None] = asyncio.Queue()
        placer = asyncio.create_task(self._place_all(queue, slots))
        replayer = asyncio.create_task(self._replay_loop()) if self.replay_every_s else None
        for item in await self.recover_unfinished():
            await slots.acquire()
            await queue.put((item.token, asyncio.ensure_future(_ready(item))))
        try:
            intakes = [asyncio.create_task(self._intake(s, queue, slots, stop)) for s in scanners]
            stopper = asyncio.create_task(stop.wait())
            pending: set[asyncio.Future[Any]] = set(intakes)
            while pending:
                done, pending = await asyncio.wait(
                    pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stopper)
                for task in done - {stopper}:
                    if task.exception() is not None:
                        log.error("scanner.failed", error=repr(task.exception()))
                if stop.is_set():
                    break
            for task in (*pending, stopper):
                task.cancel()
            await asyncio.gather(*intakes, stopper, return_exceptions=True)
        finally:
            await asyncio.gather(*self._takes, return_exceptions=True)
            await queue.put(None)
            await placer
            if replayer is not None:
                replayer.cancel()
                await asyncio.gather(replayer, return_exceptions=True)
            for scanner in scanners:
                await scanner.aclose()
        failed = [t.exception() for t in intakes if not t.cancelled() and t.exception()]
        if failed:
            raise ScannerFailed(f"{len(failed)} scanner(s) failed: {failed[0]!r}") from failed[0]

    async def _intake(
        self,
        scanner: Scanner,
        queue: asyncio.Queue[tuple[int, asyncio.Task[Prepared]] | None],
        slots: asyncio.Semaphore,
        stop: asyncio.Event,
    ) -> None:
        async for scan in scanner.scans():
            # A scan read from the device is always recorded and queued, even when stopping.
            take = asyncio.ensure_future(self._take(scan, queue, slots))
            self._takes.add(take)
            take.add_done_callback(self._takes.discard)
            await asyncio.shield(take)
            if stop.is_set():
                return

    async def _take(
        self,
        scan: Scan,
        queue: asyncio.Queue[tuple[int, asyncio.Task[Prepared]] | None],
        slots: asyncio.Semaphore,
    ) -> None:
        await slots.acquire()
        try:
            token = await self._record_scan(scan)
        except BaseException:
            slots.release()
            raise
        log.info("scan.recorded", token=token, source=scan.source)
        task = asyncio.create_task(self.prepare(token, scan.raw, scan.symbology_id))
        await queue.put((token, task))

    async def _record_scan(self, scan: Scan, attempts: int = 4) -> int:
        """Commit a scan, retrying a failing store a few times before giving up."""
        for attempt in range(attempts - 1):
            try:
                return await self._call(self.store.record_scan, scan, at=self.clock())
            except Exception as error:
                log.error("store.retry", step="record_scan", error=repr(error))
                await asyncio.sleep(0.2 * 2**attempt)
        return await self._call(self.store.record_scan, scan, at=self.clock())

    async def _place_all(
        self,
        queue: asyncio.Queue[tuple[int, asyncio.Task[Prepared]] | None],
        slots: asyncio.Semaphore,
    ) -> None:
        recording: set[asyncio.Future[None]] = set()

        def recorded(future: asyncio.Future[None]) -> None:
            recording.discard(future)
            slots.release()

        while (entry := await queue.get()) is not None:
            token, task = entry
            item = await self._prepared_or_reject(token, task)
            try:
                finished = await self.place(item)
            except Exception as error:  # the store failed before the robot moved
                log.exception("pack.place_failed", token=token, error=repr(error))
                finished = asyncio.ensure_future(self._record_route(item, None, None, None))
            recording.add(finished)
            finished.add_done_callback(recorded)
        await asyncio.gather(*recording)

    async def _prepared_or_reject(self, token: int, task: asyncio.Task[Prepared]) -> Prepared:
        """The pack's decision; a failure inside the pipeline diverts the pack, never stops it."""
        try:
            return await task
        except Exception as error:
            self._release(token)
            log.exception("pack.internal_error", token=token, error=str(error))
            decision = Decision(Action.REJECT, Why.INTERNAL_ERROR, f"internal error: {error}")
            return Prepared(token, parse_scan(""), decision)

    # -- one pack ----------------------------------------------------------------------

    async def prepare(self, token: int, raw: str, symbology: str | None) -> Prepared:
        """Parse, check locally, verify and (per policy) decommission one recorded scan."""
        today = self.clock().date()
        parsed = parse_scan(raw, symbology=symbology, separators=self.separators, today=today)
        log.info(
            "scan.parsed",
            token=token,
            format=parsed.format,
            submit=parsed.submit,
            problems=[p.code for p in parsed.problems],
        )
        ui = parsed.ui
        in_stock = change_pending = False
        if ui is not None:
            key = (ui.product_code, ui.serial)
            in_stock = key in self._in_flight
            if not in_stock:
                self._in_flight[key] = token  # reserved before any await: no twin slips past
                in_stock, change_pending = await self._call(self._held, ui)
                if in_stock or change_pending:
                    self._release(token)
        local = decide_before_hub(
            parsed,
            self.site,
            today=today,
            already_in_stock=in_stock,
            change_pending=change_pending,
        )
        if local is not None or ui is None:
            decision = local or Decision(Action.REJECT, Why.UNREADABLE, "no UI")
            await self._call(self._record, token, Stage.VERIFY, parsed, decision, ())
            return self._decided(token, parsed, decision)
        verified, calls = await self._ask(token, HubOperation.VERIFY, ui, new_trx())
        decision = decide(parsed, verified, self.site, today=today)
        wants_intent = decision.decommission_to is not None or decision.verify_later
        intent = await self._call(
            self._record,
            token,
            Stage.VERIFY,
            parsed,
            decision,
            calls,
            intent_trx=new_trx() if wants_intent else None,
        )
        if intent is None or intent.operation is not HubOperation.DECOMMISSION:
            return self._decided(token, parsed, decision)
        sent = await self.send_intent(intent)
        final = settle(decision, sent.result, self.site)
        await self._call(
            self._record,
            token,
            Stage.DECOMMISSION,
            parsed,
            final,
            sent.calls,
            settled=(intent.id, sent.status),
        )
        return self._decided(token, parsed, final)

    def _record(
        self,
        token: int,
        stage: Stage,
        parsed: ParsedScan,
        decision: Decision,
        calls: Sequence[Attempt],
        *,
        intent_trx: str | None = None,
        settled: tuple[int, IntentStatus] | None = None,
    ) -> Intent | None:
        """In the store's thread: the hub calls, the intent's new status and the decision, as
        one transaction."""
        at = self.clock()
        for call in calls:
            self.store.record_verification(
                token,
                call.operation,
                call.ui,
                call.trx,
                call.result,
                error=call.error,
                latency_s=call.latency_s,
                at=call.at,
                reason=call.reason,
            )
        if settled is not None:
            code = next((c.result.return_code for c in reversed(calls) if c.result), None)
            self.store.settle_intent(settled[0], settled[1], code, at=at)
        return self.store.record_decision(
            token, stage, parsed, decision, at=at, intent_trx=intent_trx
        )

    def _decided(self, token: int, parsed: ParsedScan, decision: Decision) -> Prepared:
        log.info(
            "pack.decided",
            token=token,
            action=decision.action.value,
            why=decision.why.value,
            detail=decision.message,
        )
        return Prepared(token, parsed, decision)

    async def place(self, item: Prepared) -> asyncio.Future[None]:
        """Hand a decided pack to the robot; returns the recording of where it really went.

        The next job need not wait for that recording: the store runs calls in order, so the
        next job's start is committed with or after this outcome, never before it.
        """
        job = job_for(item.decision, item.token)
        job_id = await self._call(self.store.start_job, job, at=self.clock())
        outcome = await self._execute(job)
        return asyncio.ensure_future(self._record_route(item, job, job_id, outcome))

    async def _record_route(
        self, item: Prepared, job: Job | None, job_id: int | None, outcome: JobOutcome | None
    ) -> None:
        """Record where the pack went (`job` None: it never reached the robot, so flagged)."""
        route, flagged = route_of(job, outcome) if job is not None else (Route.REJECTED, True)
        message = (
            item.decision.message if outcome is None else (outcome.message or item.decision.message)
        )
        try:
            await self._call(
                self.store.finish,
                item.token,
                route=route,
                why=item.decision.why.value,
                message=message,
                ui=item.parsed.ui,
                at=self.clock(),
                job_id=job_id,
                outcome=outcome,
                flagged=flagged,
            )
        except Exception as error:  # left unfinished: the next start recovers it
            log.exception("pack.record_failed", token=item.token, error=repr(error))
            return
        finally:
            self._release(item.token)
        log.info(
            "pack.routed",
            token=item.token,
            route=route,
            flagged=flagged,
            why=item.decision.why.value,
        )
        if self.on_routed is not None:
            self.on_routed(item.token, route, item.decision)

    async def _replay_loop(self) -> None:
        """Replay the outbox now and then, beside loading, for packs already routed."""
        every_s = self.replay_every_s
        if every_s is None:
            raise ValueError("the outbox replay loop needs replay_every_s")
        while True:
            await asyncio.sleep(every_s)
            if self.hub.breaker.state == "open":
                continue
            try:
                report = await replay(
                    self.store, self.hub, clock=self.clock, concurrency=2, run=self._call,
                    finished_packs_only=True,
                )  # fmt: skip
            except Exception as error:  # the next round tries again
                log.exception("outbox.replay_failed", error=repr(error))
                continue
            if report.done or report.failed or report.flagged:
                log.info("outbox.replay", done=report.done, failed=report.failed,
                         flagged=report.flagged, left=report.left)  # fmt: skip
            await self._retrieve_suspects()

    async def _retrieve_suspects(self) -> None:
        """Retrieve every shelved pack whose deferred check failed (from the store, so a
        failure, a stop or `fmd-robot outbox replay` loses none); flag a retrieve that was cut
        off mid-move, as only the operator can tell where that pack is."""
        try:
            due, stuck = await self._call(self.store.retrievals_due)
            for token in stuck:
                message = "a retrieve to quarantine was interrupted: check where this pack is"
                await self._call(self.store.flag, token, message, at=self.clock())
            for token in due:
                # shielded: a stop lets a move under way finish and be recorded
                await asyncio.shield(self.retrieve_to_quarantine(token))
        except Exception as error:  # the next round tries again
            log.exception("pack.retrieve_failed", error=repr(error))

    def _held(self, ui: PackIdentifier) -> tuple[bool, bool]:
        """In the store's thread: is this UI on the shelf, and does a change for it wait?"""
        return self.store.in_stock(ui), self.store.change_pending(ui)

    def _release(self, token: int) -> None:
        """Free the UI a pack held while in flight (if it held one)."""
        for key, holder in list(self._in_flight.items()):
            if holder == token:
                del self._in_flight[key]

    async def _execute(self, job: Job) -> JobOutcome | None:
        async with self._robot_turn:  # one robot job at a time: placing, or retrieving
            try:
                return await self.robot.execute(job)
            except Exception as error:  # RobotError, or a driver's own: the outcome is unknown
                log.error("robot.error", token=job.token, error=repr(error))
                return None

    async def retrieve_to_quarantine(self, token: int) -> Route | None:
        """Take a shelved pack whose deferred check failed off the shelf into quarantine
        (`shelve_then_verify`); its route afterwards, or None when it is not on the shelf."""
        location = await self._call(self.store.shelved_location, token)
        if location is None:
            return None
        job = Job(JobCode.RETRIEVE_TO_QUARANTINE, token, JobReason.FMD_ALERT, location)
        job_id = await self._call(self.store.start_job, job, at=self.clock())
        outcome = await self._execute(job)
        route: Route = await self._call(
            self.store.record_retrieval, token, job_id, outcome, at=self.clock()
        )
        log.warning("pack.retrieve", token=token, location=location, route=route)
        return route

    # -- the hub, under invariant 3 ---------------------------------------------------------

    async def send_intent(self, intent: Intent, *, verify_first: bool = False) -> Sent:
        """Send a stored decommission through the resilience wrapper (invariant 3 lives there).

        `verify_first` is for an intent that may already have reached the hub (after a crash).
        The answer is None while the outcome is unknown: the intent then stays pending.
        """
        if intent.reason is None:
            raise ValueError(f"outbox intent {intent.id} is a decommission without a reason")
        operation = HubOperation.CONFIRM if verify_first else HubOperation.DECOMMISSION
        result, calls = await self._ask(
            intent.token, operation, intent.ui, intent.client_trx_id, intent.reason
        )
        if result is None or result.outcome in ("technical", "rate_limited"):
            return Sent(None, calls, IntentStatus.PENDING)
        landed = result.outcome == "ok" and intent.reason in result.reasons
        return Sent(result, calls, IntentStatus.DONE if landed else IntentStatus.FAILED)

    async def _ask(
        self,
        token: int,
        operation: HubOperation,
        ui: PackIdentifier,
        trx: str,
        reason: Reason | None = None,
    ) -> tuple[HubResult | None, tuple[Attempt, ...]]:
        """One hub operation with its retries; the answer (None: none came) and every call made."""
        error: str | None = None
        result: HubResult | None = None
        with traced() as attempts:
            try:
                if operation is HubOperation.VERIFY:
                    result = await self.hub.verify(ui, trx=trx)
                elif reason is None:
                    raise ValueError(f"a hub {operation} needs a reason")
                elif operation is HubOperation.CONFIRM:
                    result = await self.hub.confirm_or_decommission(ui, reason, trx=trx)
                else:
                    result = await self.hub.decommission(ui, reason, trx=trx)
            except HubUnavailable as exc:
                error = str(exc) or type(exc).__name__
        log.info(
            f"hub.{operation}",
            token=token,
            trx=trx,
            calls=len(attempts),
            latency_ms=round(sum(a.latency_s for a in attempts) * 1000, 2),
            code=result.return_code if result else None,
            error=error,
        )
        return result, tuple(attempts)

    # -- crash recovery -----------------------------------------------------------------

    async def recover_unfinished(self) -> list[Prepared]:
        """Resolve what a crash left half done; returns the packs still to hand to the robot.

        A pack whose robot job had started has an unknown outcome: it is flagged for the
        operator. A stored but unsettled decommission is checked with a verify before it is
        sent again. Everything else is decided again from its recorded raw scan.
        """
        unfinished: list[Unfinished] = await self._call(self.store.unfinished)
        ready: list[Prepared] = []
        for pack in unfinished:
            if pack.started_job is not None:
                await self._call(
                    self.store.finish,
                    pack.token,
                    route=Route.REJECTED,
                    why="robot-outcome-unknown",
                    message="the daemon stopped during this robot job: check the reject chute "
                    "and the shelf",
                    ui=None,
                    at=self.clock(),
                    job_id=pack.started_job,
                    flagged=True,
                )
                log.warning("recovery.flagged", token=pack.token)
                continue
            try:
                ready.append(await self._resume(pack))
            except Exception as error:
                log.exception("recovery.failed", token=pack.token, error=repr(error))
                decision = Decision(Action.REJECT, Why.INTERNAL_ERROR, f"internal error: {error}")
                ready.append(Prepared(pack.token, parse_scan(""), decision))
        if unfinished:
            log.info("recovery.done", packs=len(unfinished))
        return ready

    async def _resume(self, pack: Unfinished) -> Prepared:
        log.info("recovery.resume", token=pack.token)
        decision = await self._call(self.store.last_decision, pack.token)
        if decision is None:
            return await self.prepare(pack.token, pack.raw, pack.symbology)
        today = self.clock().date()
        parsed = parse_scan(pack.raw, symbology=pack.symbology, separators=self.separators,
                            today=today)  # fmt: skip
        intent = pack.open_intent
        if intent is not None and intent.operation is HubOperation.DECOMMISSION:
            sent = await self.send_intent(intent, verify_first=True)
            decision = settle(decision, sent.result, self.site)
            await self._call(self._record, pack.token, Stage.DECOMMISSION, parsed, decision,
                             sent.calls, settled=(intent.id, sent.status))  # fmt: skip
        if decision.action is Action.SHELVE:  # the day may have turned since it was decided
            decision = decide_before_hub(parsed, self.site, today=today) or decision
        return Prepared(pack.token, parsed, decision)


async def _ready(item: Prepared) -> Prepared:
    return item
