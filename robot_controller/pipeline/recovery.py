"""What a crash left half done, resolved before loading starts.

A pack whose robot job had started has an unknown outcome: it is flagged for the operator. A
stored but unsettled decommission is checked with a verify before it is sent again (invariant
3). Everything else is decided again from its recorded raw scan.
"""

from __future__ import annotations

import structlog
import structlog.contextvars

from fmd.policy import Action, Why, decide_before_hub
from robot_controller.pipeline.context import Prepared
from robot_controller.pipeline.steps import PackSteps, internal_error
from robot_controller.states import HubOperation, Route
from robot_controller.store import Unfinished

log = structlog.get_logger("fmd.pipeline")

CUT_OFF = "the daemon stopped during this robot job: check the reject chute and the shelf"


async def recover_unfinished(steps: PackSteps) -> list[Prepared]:
    """Resolve every unfinished pack; returns the packs still to hand to the robot."""
    ctx = steps.context
    unfinished: list[Unfinished] = await ctx.call(ctx.store.unfinished, robot=ctx.robot_name)
    ready: list[Prepared] = []
    for pack in unfinished:
        with structlog.contextvars.bound_contextvars(token=pack.token):
            if pack.started_job is not None:
                await ctx.call(
                    ctx.store.finish, pack.token, route=Route.REJECTED,
                    why=Why.ROBOT_OUTCOME_UNKNOWN, message=CUT_OFF, ui=None,
                    at=ctx.clock(), job_id=pack.started_job, flagged=True,
                )  # fmt: skip
                log.warning("recovery.flagged")
                continue
            try:
                ready.append(await _resume(steps, pack))
            except Exception as error:
                log.exception("recovery.failed", error=repr(error))
                ready.append(internal_error(pack.token, error))
    if unfinished:
        log.info("recovery.done", packs=len(unfinished))
    return ready


async def _resume(steps: PackSteps, pack: Unfinished) -> Prepared:
    ctx = steps.context
    log.info("recovery.resume")
    decision = pack.decision
    if decision is None:
        return await steps.prepare(pack.token, pack.raw, pack.symbology)
    parsed = steps.parse(pack.raw, pack.symbology)
    intent = pack.open_intent
    if intent is not None and intent.operation is HubOperation.DECOMMISSION:
        settled = await steps.decommission(pack.token, parsed, decision, intent, verify_first=True)
        decision = settled.decision
    if decision.action is Action.SHELVE:  # the day may have turned since it was decided
        today = ctx.clock().date()
        decision = decide_before_hub(parsed, ctx.site, today=today) or decision
    return Prepared(pack.token, parsed, decision)
