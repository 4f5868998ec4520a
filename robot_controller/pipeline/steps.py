"""One pack's steps: parse, check locally, verify, decide; then, at the robot's turn, the check
that the robot can take it, the decommission, the robot job and the recorded route. Each step
commits before the next acts on it (invariant 2), and no pack is decommissioned before the robot
has said it can take it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Sequence

import structlog
import structlog.contextvars

from fmd.codes import PackIdentifier, ParsedScan, parse_scan
from fmd.hub.resilient import Attempt
from fmd.policy import Action, Decision, Why, decide, decide_before_hub
from fmd.policy import settle_decommission as settle
from robot_controller.pipeline.context import Context, Prepared, Routed, new_trx
from robot_controller.pipeline.hub_calls import ask, send_intent
from robot_controller.pipeline.robot_turn import RobotTurn
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobReason
from robot_controller.routing import job_for, route_of
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import Intent, StoreUnwritable

log = structlog.get_logger("fmd.pipeline")

OnRouted = Callable[[Routed], None]
Check = Callable[[ParsedScan], Decision | None]

UNDO_ADVICE = (
    "decommissioned at the hub but not shelved: find the pack; within 240 h (Art. 13) its "
    "decommission can be undone at this location with `fmd-robot outbox undo {token} "
    "--reason TEXT --actor NAME`"
)
HALTED = "loading stopped before this pack reached the robot: {why}"


def internal_error(token: int, error: BaseException) -> Prepared:
    """A pack the daemon itself failed on: to the reject chute, for the operator."""
    decision = Decision(Action.REJECT, Why.INTERNAL_ERROR, f"internal error: {error}")
    return Prepared(token, parse_scan(""), decision)


class PackSteps:
    """The steps of one pack, and what packs in flight share: the UIs they hold (so a twin
    scanned meanwhile is caught) and the robot's turn."""

    def __init__(
        self, context: Context, on_routed: OnRouted | None = None, *, turn: RobotTurn | None = None
    ) -> None:
        self.context = context
        self.on_routed = on_routed
        self.turn = turn or RobotTurn(context.robot)
        self._in_flight: dict[tuple[str, str], int] = {}  # UI -> token of the pack holding it

    def parse(self, raw: str, symbology: str | None) -> ParsedScan:
        today = self.context.clock().date()
        return parse_scan(raw, symbology=symbology, separators=self.context.separators, today=today)

    async def prepare(
        self,
        token: int,
        raw: str,
        symbology: str | None,
        *,
        verify: Intent | None = None,
        check: Check | None = None,
        deadline: float | None = None,
    ) -> Prepared:
        """Parse, check locally, verify and decide one recorded scan. The verify is committed
        with its transaction id before it is sent (`verify`: one a crash left unanswered, sent
        again under its id). While loading is paused the pack goes back to the operator.
        `check`: the caller's own check of the parsed scan, before the hub (a decision when it
        settles the route); `deadline` (event-loop time): a hub answer not in by then is none,
        and the site's offline policy decides."""
        ctx = self.context
        today = ctx.clock().date()
        parsed = self.parse(raw, symbology)
        log.info(
            "scan.parsed",
            format=parsed.format,
            submit=parsed.submit,
            problems=[p.code.value for p in parsed.problems],
        )
        if self.turn.paused is not None or self.turn.halted is not None:
            return await self.decide_locally(token, parsed, self.returned(), verify)
        if check is not None and (refused := check(parsed)) is not None:
            return await self.decide_locally(token, parsed, refused, verify)
        ui = parsed.ui
        in_stock, change_pending = await self.hold(token, ui)
        local = decide_before_hub(
            parsed, ctx.site, today=today, already_in_stock=in_stock, change_pending=change_pending
        )
        if local is not None or ui is None:
            decision = local or Decision(Action.REJECT, Why.UNREADABLE, "no UI")
            return await self.decide_locally(token, parsed, decision, verify)
        if verify is None:
            verify = await ctx.call(
                ctx.store.queue_intent, token, ui, HubOperation.VERIFY, None, trx=new_trx(),
                at=ctx.clock(),
            )  # fmt: skip
        trx = verify.client_trx_id
        verified, calls = await ask(ctx.hub, HubOperation.VERIFY, ui, trx, deadline=deadline)
        decision = decide(parsed, verified, ctx.site, today=today)
        # answered: the check is done; unanswered, it stays in the outbox as the deferred check
        status = IntentStatus.PENDING if decision.verify_later else IntentStatus.DONE
        await ctx.call(
            self.record, token, Stage.VERIFY, parsed, decision, calls, settled=(verify.id, status)
        )
        name = verified.product_name if verified is not None else ""
        return self.decided(token, parsed, decision, product_name=name)

    async def decide_locally(
        self, token: int, parsed: ParsedScan, decision: Decision, verify: Intent | None = None
    ) -> Prepared:
        """A decision made without the hub (a verify a crash left open is not needed now)."""
        settled = None if verify is None else (verify.id, IntentStatus.CANCELLED)
        await self.context.call(
            self.record, token, Stage.VERIFY, parsed, decision, (), settled=settled
        )
        return self.decided(token, parsed, decision)

    def returned(self) -> Decision:
        """Loading is paused or halted: the pack goes back to the operator."""
        why = self.turn.halted or self.turn.paused
        return Decision(
            Action.RETURN,
            Why.ROBOT_CONFLICT if self.turn.halted else Why.ROBOT_NOT_READY,
            f"{why}: keep this pack and scan it again once loading resumes",
        )

    async def decommission(self, item: Prepared, *, deadline: float | None = None) -> Prepared:
        """Commit the decision's decommission (unless a crash left it committed), send it, and
        settle the decision on its answer (none by `deadline`: unknown, the intent stays). One
        left by a crash is asked about first."""
        ctx = self.context
        reason = item.decision.decommission_to
        ui = item.parsed.ui
        if reason is None or ui is None:
            raise ValueError(f"pack {item.token}: nothing to decommission")
        intent = item.intent
        if intent is None:
            intent = await ctx.call(
                ctx.store.queue_intent, item.token, ui, HubOperation.DECOMMISSION, reason,
                trx=new_trx(), at=ctx.clock(), location=ctx.location,
            )  # fmt: skip
        first = item.intent is not None
        sent = await send_intent(ctx.hub, intent, verify_first=first, deadline=deadline)
        final = settle(item.decision, sent.result, ctx.site)
        await ctx.call(
            self.record, item.token, Stage.DECOMMISSION, item.parsed, final, sent.calls,
            settled=(intent.id, sent.status),
        )  # fmt: skip
        self.decided(item.token, item.parsed, final)
        maybe_landed = sent.status in (IntentStatus.DONE, IntentStatus.PENDING)
        return Prepared(
            item.token, item.parsed, final, sent=maybe_landed, product_name=item.product_name
        )

    def record(
        self,
        token: int,
        stage: Stage,
        parsed: ParsedScan,
        decision: Decision,
        calls: Sequence[Attempt],
        *,
        settled: tuple[int, IntentStatus] | None = None,
    ) -> None:
        """In the store's thread: the hub calls, the intent's new status and the decision, as
        one transaction."""
        store, at = self.context.store, self.context.clock()
        with store.batch():
            store.record_calls(token, calls)
            if settled is not None:
                code = next((c.result.return_code for c in reversed(calls) if c.result), None)
                store.settle_intent(settled[0], settled[1], code, at=at)
            store.record_decision(token, stage, parsed, decision, at=at)

    async def stage(self, item: Prepared, *, deadline: float | None = None) -> Prepared:
        """Ahead of the pack's job (at most `[pipeline] decommission_ahead` packs ahead): the
        decommission its decision asks for, once a fresh status read shows the robot can take
        packs. When it cannot, nothing is sent and the pack is marked to go back."""
        decision = item.decision
        job = job_for(decision, item.token)
        wanted = decision.decommission_to is not None and not decision.verify_later
        if job is None or not wanted or self.turn.halted is not None:
            return item
        refusal = await self.turn.can_take(job.code, pack_here=False)
        if refusal is not None:
            return dataclasses.replace(item, refused=refusal.message)
        return await self.decommission(item, deadline=deadline)

    async def place(self, item: Prepared) -> asyncio.Future[None]:
        """At the robot's turn: check that the robot can take the pack (at its transfer point),
        run its job; returns the recording of where it really went.

        The next job need not wait for that recording: the store runs calls in order, so the
        next job's start is committed with or after this outcome, never before it.
        """
        ctx = self.context
        job = job_for(item.decision, item.token)
        if self.turn.halted is not None:
            why = HALTED.format(why=self.turn.halted)
            return self._settle_now(item, Route.RETURNED, why, flagged=True)
        if job is None:
            return self._settle_now(item, Route.RETURNED, item.decision.message)
        if item.refused is not None:
            return self._settle_now(item, Route.RETURNED, f"{item.refused}: keep this pack")
        refusal = await self.turn.can_take(job.code)
        if refusal is not None:
            return self._settle_now(item, Route.RETURNED, f"{refusal.message}: keep this pack")
        job_id = await ctx.call(ctx.store.start_job, job, at=ctx.clock(), robot=ctx.robot_name)
        outcome = await self.turn.execute(job)
        return asyncio.ensure_future(self.record_route(item, job, job_id, outcome))

    def _settle_now(
        self, item: Prepared, route: Route, message: str, *, flagged: bool = False
    ) -> asyncio.Future[None]:
        """Record a pack that never reached the robot."""
        return asyncio.ensure_future(
            self.record_route(item, None, None, None, unmoved=(route, message, flagged))
        )

    async def record_route(
        self,
        item: Prepared,
        job: Job | None,
        job_id: int | None,
        outcome: JobOutcome | None,
        *,
        unmoved: tuple[Route, str, bool] | None = None,
    ) -> None:
        """Record where the pack went. `unmoved`: it never reached the robot, or the caller
        settled its route itself (route, why, flagged); with neither a job nor that, the daemon
        failed before the job: flagged."""
        ctx = self.context
        if unmoved is not None:
            route, message, flagged = unmoved
        elif job is None:
            route, message, flagged = Route.RETURNED, item.decision.message, True
        else:
            route, flagged = route_of(job, outcome)
            message = outcome.message if outcome is not None and outcome.message else ""
            message = message or item.decision.message
        if item.sent and route is not Route.SHELVED:  # the hub holds it as decommissioned
            flagged = True
            message = f"{message}; {UNDO_ADVICE.format(token=item.token)}"
        try:
            await ctx.call(
                self._finish, item, route=route, message=message, job_id=job_id,
                outcome=outcome, flagged=flagged,
            )  # fmt: skip
        except StoreUnwritable as error:  # left unfinished: the next start recovers it
            self.turn.stop(error)
            return
        except Exception as error:  # left unfinished: the next start recovers it
            log.exception("pack.record_failed", error=repr(error))
            return
        finally:
            self.release(item.token)
        event = "pack.returned" if route is Route.RETURNED else "pack.routed"
        log.info(event, route=route, flagged=flagged, why=item.decision.why.value, detail=message)
        if flagged:  # someone must look at this pack: told once, at warning level
            log.warning("pack.flagged", route=route, why=item.decision.why.value, detail=message)
        if self.on_routed is not None:
            ui = item.parsed.ui
            why, name = item.decision.why, ctx.product_name(item.product_name, ui)
            self.on_routed(Routed(item.token, route, why, ui, message, flagged, name))

    def _finish(
        self,
        item: Prepared,
        *,
        route: Route,
        message: str,
        job_id: int | None,
        outcome: JobOutcome | None,
        flagged: bool,
    ) -> None:
        """In the store's thread: the route, and the outbox as the route leaves it, as one
        transaction. A shelved pack whose checks were deferred gets its deferred decommission
        queued after its deferred verify; a pack that never reached the shelf has its
        deferred steps cancelled (a decommission already sent stays, to be settled)."""
        store, at, decision = self.context.store, self.context.clock(), item.decision
        with store.batch():
            store.finish(
                item.token, route=route, why=decision.why, message=message, ui=item.parsed.ui,
                at=at, job_id=job_id, outcome=outcome, flagged=flagged,
            )  # fmt: skip
            deferred = decision.decommission_to if decision.verify_later else None
            if route is Route.SHELVED and deferred is not None and item.parsed.ui is not None:
                store.queue_intent(
                    item.token, item.parsed.ui, HubOperation.DECOMMISSION, deferred,
                    trx=new_trx(), at=at, location=self.context.location,
                )  # fmt: skip
            elif route is not Route.SHELVED:
                store.cancel_unsent(item.token, at=at, keep_verify=route is Route.QUARANTINED)

    async def retrieve_to_quarantine(self, token: int) -> Route | None:
        """Take a shelved pack whose deferred check failed off the shelf into quarantine
        (`shelve_then_verify`); its route afterwards, or None when it is not on the shelf."""
        ctx = self.context
        location = await ctx.call(ctx.store.shelved_location, token)
        if location is None:
            return None
        job = Job(JobCode.RETRIEVE_TO_QUARANTINE, token, JobReason.FMD_ALERT, location)
        job_id = await ctx.call(ctx.store.start_job, job, at=ctx.clock(), robot=ctx.robot_name)
        outcome = await self.turn.execute(job)
        route: Route = await ctx.call(
            ctx.store.record_retrieval, token, job_id, outcome, at=ctx.clock()
        )
        log.warning("pack.retrieve", location=location, route=route)
        return route

    def release(self, token: int) -> None:
        """Free the UI a pack held while in flight (if it held one)."""
        for key, holder in list(self._in_flight.items()):
            if holder == token:
                del self._in_flight[key]

    def holding(self) -> frozenset[tuple[str, str]]:
        """The UIs (product code, serial) of the packs in flight now."""
        return frozenset(self._in_flight)

    def reserve(self, token: int, ui: PackIdentifier | None) -> None:
        """Hold a recovered pack's UI, as its preparation did before the crash: a twin scanned
        meanwhile is caught while its decommission still waits for the robot's turn."""
        if ui is not None:
            self._in_flight.setdefault((ui.product_code, ui.serial), token)

    async def hold(self, token: int, ui: PackIdentifier | None) -> tuple[bool, bool]:
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

    def decided(
        self, token: int, parsed: ParsedScan, decision: Decision, *, product_name: str = ""
    ) -> Prepared:
        """A pack decided (logged); `product_name` as the hub's answer gave it."""
        log.info(
            "pack.decided",
            action=decision.action.value,
            why=decision.why.value,
            detail=decision.message,
        )
        return Prepared(token, parsed, decision, product_name=product_name)
