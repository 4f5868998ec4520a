"""What a crash left half done, resolved before loading starts.

A pack whose robot job had started is resolved from what the robot says of its last job (the
token it echoes, the result, the location): stored → shelved, a chute → that route; only when the
robot cannot tell is the outcome unknown, and the pack flagged. A committed but unsettled
decommission is asked about before it is sent again (invariant 3), a verify left unanswered is
sent again under its own transaction id, and everything else is decided again from its recorded
raw scan.
"""

from __future__ import annotations

import asyncio
import time

import structlog
import structlog.contextvars

from fmd.policy import Action, Decision, Why, decide_before_hub
from robot_controller.pipeline.context import Prepared
from robot_controller.pipeline.steps import PackSteps, internal_error
from robot_controller.robot.base import (
    Job,
    JobOutcome,
    Robot,
    RobotError,
    RobotStatus,
    reported_outcome,
)
from robot_controller.states import HubOperation
from robot_controller.store import Unfinished

log = structlog.get_logger("fmd.pipeline")

CUT_OFF = (
    "the daemon stopped during this robot job and the robot cannot tell what became of it: "
    "check the reject chute and the shelf"
)
FINISH_WAIT_S = 30.0


async def recover_unfinished(steps: PackSteps) -> list[Prepared]:
    """Resolve every unfinished pack; returns the packs still to hand to the robot."""
    ctx = steps.context
    unfinished: list[Unfinished] = await ctx.call(ctx.store.unfinished, robot=ctx.robot_name)
    ready: list[Prepared] = []
    for pack in unfinished:
        with structlog.contextvars.bound_contextvars(token=pack.token):
            try:
                if pack.started_job is not None:
                    await _resolve_cut_off(steps, pack, pack.started_job)
                    continue
                ready.append(await _resume(steps, pack))
            except Exception as error:
                log.exception("recovery.failed", error=repr(error))
                ready.append(internal_error(pack.token, error))
    if unfinished:
        log.info("recovery.done", packs=len(unfinished))
    return ready


async def _resolve_cut_off(steps: PackSteps, pack: Unfinished, job_id: int) -> None:
    """A pack whose job had started: its outcome as the robot reports it."""
    ctx = steps.context
    job: Job = await ctx.call(ctx.store.job, job_id)
    outcome = await last_outcome(ctx.robot, job)
    parsed = steps.parse(pack.raw, pack.symbology)
    decision = pack.decision or Decision(Action.REJECT, Why.ROBOT_OUTCOME_UNKNOWN, CUT_OFF)
    if outcome is None:
        decision = Decision(decision.action, Why.ROBOT_OUTCOME_UNKNOWN, CUT_OFF)
    item = Prepared(pack.token, parsed, decision, sent=_sent(pack), product_name=pack.product_name)
    await steps.record_route(item, job, job_id, outcome)
    log.warning(
        "recovery.robot_asked" if outcome is not None else "recovery.flagged",
        result=outcome.result.name if outcome is not None else None,
    )


async def last_outcome(
    robot: Robot, job: Job, *, wait_s: float = FINISH_WAIT_S, poll_s: float = 0.05
) -> JobOutcome | None:
    """The outcome of `job` as the robot reports its last job (waiting for one still under
    way); None when the robot cannot tell (another job since, or no token echo)."""
    deadline = time.monotonic() + wait_s
    try:
        status = await robot.status()
        while _running(status, job) and time.monotonic() < deadline:
            await asyncio.sleep(poll_s)
            status = await robot.status()
    except RobotError as error:
        log.error("recovery.robot_unreachable", error=str(error))
        return None
    if status.done_token != job.token or status.job_done_seq != status.job_ack_seq:
        return None
    try:
        return reported_outcome(job, status, f"the robot's last job (token {job.token})")
    except RobotError as error:  # a report that cannot be true tells nothing
        log.error("recovery.robot_report", error=str(error))
        return None


def _running(status: RobotStatus, job: Job) -> bool:
    return status.acked_token == job.token and status.job_done_seq != status.job_ack_seq


async def _resume(steps: PackSteps, pack: Unfinished) -> Prepared:
    ctx = steps.context
    log.info("recovery.resume")
    decision = pack.decision
    intent = pack.open_intent
    if decision is None:
        verify = intent if intent is not None and intent.operation is HubOperation.VERIFY else None
        return await steps.prepare(pack.token, pack.raw, pack.symbology, verify=verify)
    parsed = steps.parse(pack.raw, pack.symbology)
    steps.reserve(pack.token, parsed.ui)
    if decision.action is Action.SHELVE:  # the day may have turned since it was decided
        today = ctx.clock().date()
        decision = decide_before_hub(parsed, ctx.site, today=today) or decision
    decommission = (
        intent if intent is not None and intent.operation is HubOperation.DECOMMISSION else None
    )
    return Prepared(
        pack.token, parsed, decision, intent=decommission, sent=_sent(pack),
        product_name=pack.product_name,
    )  # fmt: skip


def _sent(pack: Unfinished) -> bool:
    """Whether the hub holds the pack as decommissioned, or may."""
    intent = pack.open_intent
    maybe = (
        intent is not None and intent.operation is HubOperation.DECOMMISSION and intent.attempts > 0
    )
    return maybe or (pack.decision is not None and pack.decision.why is Why.DECOMMISSIONED)
