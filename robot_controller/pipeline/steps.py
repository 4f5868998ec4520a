"""One pack's steps: parse, check locally, verify, decide, decommission, the robot job, and the
recorded route. Each step commits before the next acts on it (invariant 2)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import structlog
import structlog.contextvars

from fmd.codes import PackIdentifier, ParsedScan, parse_scan
from fmd.hub.resilient import Attempt
from fmd.policy import Action, Decision, Why, decide, decide_before_hub
from fmd.policy import settle_decommission as settle
from robot_controller.pipeline.context import Context, Prepared, new_trx
from robot_controller.pipeline.hub_calls import ask, send_intent
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason
from robot_controller.routing import job_for, route_of
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import Intent

log = structlog.get_logger("fmd.pipeline")

OnRouted = Callable[[int, str, Decision], None]


def internal_error(token: int, error: BaseException) -> Prepared:
    """A pack the daemon itself failed on: to the reject chute, for the operator."""
    decision = Decision(Action.REJECT, Why.INTERNAL_ERROR, f"internal error: {error}")
    return Prepared(token, parse_scan(""), decision)


class PackSteps:
    """The steps of one pack, and what packs in flight share: the UIs they hold (so a twin
    scanned meanwhile is caught) and the robot, one job at a time."""

    def __init__(self, context: Context, on_routed: OnRouted | None = None) -> None:
        self.context = context
        self.on_routed = on_routed
        self._in_flight: dict[tuple[str, str], int] = {}  # UI -> token of the pack holding it
        self._robot_turn = asyncio.Lock()

    def parse(self, raw: str, symbology: str | None) -> ParsedScan:
        today = self.context.clock().date()
        return parse_scan(raw, symbology=symbology, separators=self.context.separators, today=today)

    async def prepare(self, token: int, raw: str, symbology: str | None) -> Prepared:
        """Parse, check locally, verify and (per policy) decommission one recorded scan."""
        ctx = self.context
        today = ctx.clock().date()
        parsed = self.parse(raw, symbology)
        log.info(
            "scan.parsed",
            format=parsed.format,
            submit=parsed.submit,
            problems=[p.code.value for p in parsed.problems],
        )
        ui = parsed.ui
        in_stock, change_pending = await self._hold(token, ui)
        local = decide_before_hub(
            parsed, ctx.site, today=today, already_in_stock=in_stock, change_pending=change_pending
        )
        if local is not None or ui is None:
            decision = local or Decision(Action.REJECT, Why.UNREADABLE, "no UI")
            await ctx.call(self.record, token, Stage.VERIFY, parsed, decision, ())
            return self._decided(token, parsed, decision)
        verified, calls = await ask(ctx.hub, HubOperation.VERIFY, ui, new_trx())
        decision = decide(parsed, verified, ctx.site, today=today)
        wants_intent = decision.decommission_to is not None or decision.verify_later
        intent = await ctx.call(
            self.record, token, Stage.VERIFY, parsed, decision, calls,
            intent_trx=new_trx() if wants_intent else None,
        )  # fmt: skip
        if intent is None or intent.operation is not HubOperation.DECOMMISSION:
            return self._decided(token, parsed, decision)
        return await self.decommission(token, parsed, decision, intent)

    async def decommission(
        self,
        token: int,
        parsed: ParsedScan,
        decision: Decision,
        intent: Intent,
        *,
        verify_first: bool = False,
    ) -> Prepared:
        """Send a stored decommission and settle the decision on its answer."""
        ctx = self.context
        sent = await send_intent(ctx.hub, intent, verify_first=verify_first)
        final = settle(decision, sent.result, ctx.site)
        await ctx.call(
            self.record, token, Stage.DECOMMISSION, parsed, final, sent.calls,
            settled=(intent.id, sent.status),
        )  # fmt: skip
        return self._decided(token, parsed, final)

    def record(
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
        store, at = self.context.store, self.context.clock()
        with store.batch():
            store.record_calls(token, calls)
            if settled is not None:
                code = next((c.result.return_code for c in reversed(calls) if c.result), None)
                store.settle_intent(settled[0], settled[1], code, at=at)
            return store.record_decision(
                token, stage, parsed, decision, at=at, intent_trx=intent_trx
            )

    async def place(self, item: Prepared) -> asyncio.Future[None]:
        """Hand a decided pack to the robot; returns the recording of where it really went.

        The next job need not wait for that recording: the store runs calls in order, so the
        next job's start is committed with or after this outcome, never before it.
        """
        ctx = self.context
        job = job_for(item.decision, item.token)
        job_id = await ctx.call(ctx.store.start_job, job, at=ctx.clock(), robot=ctx.robot_name)
        outcome = await self.execute(job)
        return asyncio.ensure_future(self.record_route(item, job, job_id, outcome))

    async def record_route(
        self, item: Prepared, job: Job | None, job_id: int | None, outcome: JobOutcome | None
    ) -> None:
        """Record where the pack went (`job` None: it never reached the robot, so flagged)."""
        ctx = self.context
        route, flagged = route_of(job, outcome) if job is not None else (Route.REJECTED, True)
        message = (
            item.decision.message if outcome is None else (outcome.message or item.decision.message)
        )
        try:
            await ctx.call(
                ctx.store.finish, item.token, route=route, why=item.decision.why,
                message=message, ui=item.parsed.ui, at=ctx.clock(), job_id=job_id,
                outcome=outcome, flagged=flagged,
            )  # fmt: skip
        except Exception as error:  # left unfinished: the next start recovers it
            log.exception("pack.record_failed", error=repr(error))
            return
        finally:
            self.release(item.token)
        log.info("pack.routed", route=route, flagged=flagged, why=item.decision.why.value)
        if self.on_routed is not None:
            self.on_routed(item.token, route, item.decision)

    async def retrieve_to_quarantine(self, token: int) -> Route | None:
        """Take a shelved pack whose deferred check failed off the shelf into quarantine
        (`shelve_then_verify`); its route afterwards, or None when it is not on the shelf."""
        ctx = self.context
        location = await ctx.call(ctx.store.shelved_location, token)
        if location is None:
            return None
        job = Job(JobCode.RETRIEVE_TO_QUARANTINE, token, JobReason.FMD_ALERT, location)
        job_id = await ctx.call(ctx.store.start_job, job, at=ctx.clock(), robot=ctx.robot_name)
        outcome = await self.execute(job)
        route: Route = await ctx.call(
            ctx.store.record_retrieval, token, job_id, outcome, at=ctx.clock()
        )
        log.warning("pack.retrieve", location=location, route=route)
        return route

    async def execute(self, job: Job) -> JobOutcome | None:
        """One robot job at a time, placing or retrieving; None when its outcome is unknown."""
        async with self._robot_turn:
            try:
                return await self.context.robot.execute(job)
            except Exception as error:  # noqa: BLE001 - RobotError or a driver's own: unknown
                log.error("robot.error", error=repr(error))
                return None

    def release(self, token: int) -> None:
        """Free the UI a pack held while in flight (if it held one)."""
        for key, holder in list(self._in_flight.items()):
            if holder == token:
                del self._in_flight[key]

    async def _hold(self, token: int, ui: PackIdentifier | None) -> tuple[bool, bool]:
        """Reserve the pack's UI while it is in flight: is it on the shelf or in flight
        already, and does a change for it wait in the outbox?"""
        if ui is None:
            return False, False
        key = (ui.product_code, ui.serial)
        if key in self._in_flight:
            return True, False
        self._in_flight[key] = token  # reserved before any await: no twin slips past
        store = self.context.store
        held: tuple[bool, bool] = await self.context.call(
            lambda: (store.in_stock(ui), store.change_pending(ui))
        )
        if any(held):
            self.release(token)
        return held

    def _decided(self, token: int, parsed: ParsedScan, decision: Decision) -> Prepared:
        log.info(
            "pack.decided",
            action=decision.action.value,
            why=decision.why.value,
            detail=decision.message,
        )
        return Prepared(token, parsed, decision)
