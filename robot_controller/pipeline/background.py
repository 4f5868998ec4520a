"""Work beside loading: the outbox is replayed now and then for packs already routed, and every
shelved pack whose deferred check failed is retrieved to quarantine, and a flagged pack whose undo
window ends within 24 h is warned about; at the end of a finite input, the outbox can be drained
the same way before the daemon exits."""

from __future__ import annotations

import asyncio

import structlog
import structlog.contextvars

from fmd.hub.rules import UNDO_WINDOW
from robot_controller.attention import OutboxWatch, UndoDeadlineWatch
from robot_controller.outbox import replay
from robot_controller.pack_rules import undo_deadlines_due
from robot_controller.pipeline.steps import PackSteps
from robot_controller.states import IntentStatus

log = structlog.get_logger("fmd.pipeline")

RETRIEVE_CUT_OFF = "a retrieve to quarantine was interrupted: check where this pack is"


OUTBOX_WARN_AT = 50
"""Pending intents from which a growing outbox is warned about."""


async def run_background(steps: PackSteps, every_s: float) -> None:
    """Replay and retrieve every `every_s` seconds, until cancelled; warn while the outbox
    grows (`attention.OutboxWatch`)."""
    watch = OutboxWatch(OUTBOX_WARN_AT)
    deadlines = UndoDeadlineWatch()
    while True:
        await asyncio.sleep(every_s)
        left = await replay_once(steps)
        watch.saw(left if left is not None else await pending(steps))
        await watch_undo_deadlines(steps, deadlines)


async def watch_undo_deadlines(steps: PackSteps, watch: UndoDeadlineWatch) -> None:
    """Tell the watch which flagged packs' undo deadlines come near (within 24 h)."""
    ctx = steps.context
    now = ctx.clock()
    try:
        changes = await ctx.call(
            ctx.store.flagged_changes, since=now - UNDO_WINDOW, robot=ctx.robot_name
        )
    except Exception as error:
        log.exception("pack.undo_deadlines_failed", error=repr(error))
        return
    watch.saw(undo_deadlines_due(changes, location=ctx.location, now=now), now)


async def pending(steps: PackSteps) -> int:
    """How many intents of this robot's packs wait in the outbox."""
    ctx = steps.context
    counts: dict[tuple[str, str], int] = await ctx.call(
        ctx.store.outbox_counts, robot=ctx.robot_name
    )
    return sum(n for (_, status), n in counts.items() if status == IntentStatus.PENDING)


async def replay_once(steps: PackSteps) -> int | None:
    """Replay the outbox of the routed packs, then retrieve the suspects it found; how many
    intents are left (None when the hub is known to be down, so nothing was tried)."""
    ctx = steps.context
    if ctx.hub.breaker_open:
        return None
    try:
        report = await replay(
            ctx.store, ctx.hub, clock=ctx.clock, concurrency=2, run=ctx.call,
            finished_packs_only=True, claimant=ctx.robot_name, lease=ctx.claim_lease,
        )  # fmt: skip
    except Exception as error:
        log.exception("outbox.replay_failed", error=repr(error))
        return None
    if report.done or report.failed or report.flagged or report.cancelled:
        log.info("outbox.replay", done=report.done, failed=report.failed,
                 flagged=report.flagged, cancelled=report.cancelled, left=report.left)  # fmt: skip
    await retrieve_suspects(steps)
    return report.left


async def drain(steps: PackSteps, *, timeout_s: float, every_s: float = 1.0) -> None:
    """Replay until the outbox is empty or `timeout_s` has passed (the hub still away)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        left = await replay_once(steps)
        if left == 0 or asyncio.get_running_loop().time() + every_s > deadline:
            return
        await asyncio.sleep(every_s)


async def report_left(steps: PackSteps) -> int:
    """Warn about what of this robot's packs still waits in the outbox as the daemon ends; how
    many intents."""
    ctx = steps.context
    counts: dict[tuple[str, str], int] = await ctx.call(
        ctx.store.outbox_counts, robot=ctx.robot_name
    )
    pending = {op: n for (op, status), n in counts.items() if status == IntentStatus.PENDING}
    left = sum(pending.values())
    if left:
        log.warning(
            "outbox.left",
            intents=left,
            by_operation=pending,
            detail="they wait for the hub: the next `fmd-robot run` sends them in the background, "
            "or `fmd-robot outbox replay` now",
        )
    return left


async def retrieve_suspects(steps: PackSteps) -> None:
    """Retrieve every shelved pack whose deferred check failed (from the store, so a failure, a
    stop or `fmd-robot outbox replay` loses none); flag a retrieve that was cut off mid-move, as
    only the operator can tell where that pack is."""
    ctx = steps.context
    try:
        due, stuck = await ctx.call(ctx.store.retrievals_due, robot=ctx.robot_name)
        for token in stuck:
            await ctx.call(ctx.store.flag, token, RETRIEVE_CUT_OFF, at=ctx.clock())
        for token in due:
            with structlog.contextvars.bound_contextvars(token=token):
                # shielded: a stop lets a move under way finish and be recorded
                await asyncio.shield(steps.retrieve_to_quarantine(token))
    except Exception as error:
        log.exception("pack.retrieve_failed", error=repr(error))
