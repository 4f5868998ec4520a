"""A return's steps at the robot's input (WWKS2 `IsNewDelivery="False"`), decided by
`robot_controller.returns`: parse, the log's view of the pack, the verify (an outbox intent,
as for any pack), and in community mode the undo of this site's SUPPLIED decommission.

The undo is committed to the outbox on the pack's decommission, claimed for this return alone
(no background replay sends it meanwhile), and sent by the outbox's replay of that pack, within
the robot's answer deadline, once the robot has said it can take packs. An answer not in by
then leaves it pending, counted as sent: the pack is rejected now ("not yet"), and a later
replay asks the pack's state before anything is sent again, so one undo at most lands.
"""

from __future__ import annotations

import asyncio

import structlog

from fmd.policy import Action, Decision, Why, decide_before_hub
from robot_controller.outbox import replay
from robot_controller.pipeline.context import Prepared, new_trx
from robot_controller.pipeline.hub_calls import ask
from robot_controller.pipeline.steps import Check, PackSteps
from robot_controller.returns import Logged, Undo, after_undo, after_verify, before_hub
from robot_controller.robot.base import JobCode
from robot_controller.states import HubOperation, IntentStatus, Stage
from robot_controller.store import Intent

log = structlog.get_logger("fmd.pipeline")

UNDOING = "supplied here {at:%Y-%m-%d %H:%M} UTC: its supply is undone before it is shelved"


class ReturnSteps:
    """The steps of a returned pack, on the pipeline's `PackSteps`."""

    def __init__(self, steps: PackSteps) -> None:
        self.steps = steps

    async def prepare(
        self, token: int, raw: str, *, check: Check | None = None, deadline: float | None = None
    ) -> Prepared:
        """Decide one recorded return (and undo its supply where that is the way back to the
        shelf); `check` and `deadline` as for `PackSteps.prepare`."""
        steps, ctx = self.steps, self.steps.context
        parsed = steps.parse(raw, None)
        log.info("scan.parsed", format=parsed.format, submit=parsed.submit, returned=True)
        refused: Decision | None = None
        if steps.turn.paused is not None or steps.turn.halted is not None:
            refused = steps.returned()
        elif check is not None:
            refused = check(parsed)
        if refused is None and not parsed.submit:  # not a UI, or a damaged scan of one
            refused = decide_before_hub(parsed, ctx.site, today=ctx.clock().date())
        ui = parsed.ui
        if refused is not None or ui is None:
            decision = refused or Decision(Action.REJECT, Why.UNREADABLE, "no UI")
            return await steps.decide_locally(token, parsed, decision)
        on_shelf, pending = await steps.hold(token, ui)
        known = await ctx.call(ctx.store.find_pack, ui.product_code, ui.serial)
        logged = Logged(known is not None, on_shelf, pending, known.intents if known else ())
        mode, now = ctx.site.mode, ctx.clock()
        local = before_hub(logged, ui, mode=mode, location=ctx.location, now=now)
        if local is not None:
            return await steps.decide_locally(token, parsed, local)
        verify = await ctx.call(
            ctx.store.queue_intent, token, ui, HubOperation.VERIFY, None, trx=new_trx(), at=now
        )
        result, calls = await ask(
            ctx.hub, HubOperation.VERIFY, ui, verify.client_trx_id, deadline=deadline
        )
        verdict = after_verify(logged, result, mode=mode)
        settled = (verify.id, IntentStatus.CANCELLED if result is None else IntentStatus.DONE)
        decision = (
            Decision(Action.SHELVE, Why.RETURN_ACCEPTED, UNDOING.format(at=verdict.of.created_at))
            if isinstance(verdict, Undo)
            else verdict
        )
        await ctx.call(steps.record, token, Stage.VERIFY, parsed, decision, calls, settled=settled)
        item = steps.decided(token, parsed, decision)
        if not isinstance(verdict, Undo):
            return item
        refusal = await steps.turn.can_take(JobCode.PLACE_ON_SHELF, pack_here=False)
        if refusal is not None:  # nothing is sent: the pack stays in the hand
            final = Decision(Action.RETURN, Why.ROBOT_NOT_READY, refusal.message)
        else:
            final = after_undo(await self._undo(token, verdict.of, deadline))
        await ctx.call(steps.record, token, Stage.DECOMMISSION, parsed, final, ())
        return steps.decided(token, parsed, final)

    async def _undo(self, token: int, supplied: Intent, deadline: float | None) -> Intent:
        """Commit the undo of `supplied` (claimed for this return) and send it through the
        outbox's replay of its pack until `deadline`; the undo as the outbox then holds it."""
        ctx = self.steps.context
        claimant = f"{ctx.robot_name}/return/{token}"
        undo = await ctx.call(
            ctx.store.queue_intent, supplied.token, supplied.ui, HubOperation.UNDO,
            supplied.reason, trx=new_trx(), at=ctx.clock(), location=ctx.location,
            claimed_by=claimant,
        )  # fmt: skip
        log.info("return.undo", intent=undo.id, of=supplied.id, of_token=supplied.token)
        try:
            async with asyncio.timeout_at(deadline):
                await replay(
                    ctx.store, ctx.hub, clock=ctx.clock, run=ctx.call, finished_packs_only=True,
                    tokens=[supplied.token], claimant=claimant, lease=ctx.claim_lease,
                )  # fmt: skip
        except TimeoutError:
            log.warning("return.undo_unanswered", intent=undo.id)
        finally:  # what is left pending is any replay's now, which asks before it sends again
            await ctx.call(ctx.store.release_claims, by=claimant)
        history: list[Intent] = await ctx.call(ctx.store.intents_of, supplied.token)
        return next(i for i in history if i.id == undo.id)
