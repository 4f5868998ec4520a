"""Work beside loading: the outbox is replayed now and then for packs already routed, and every
shelved pack whose deferred check failed is retrieved to quarantine."""

from __future__ import annotations

import asyncio

import structlog
import structlog.contextvars

from robot_controller.outbox import replay
from robot_controller.pipeline.steps import PackSteps

log = structlog.get_logger("fmd.pipeline")

RETRIEVE_CUT_OFF = "a retrieve to quarantine was interrupted: check where this pack is"


async def run_background(steps: PackSteps, every_s: float) -> None:
    """Replay and retrieve every `every_s` seconds, until cancelled."""
    ctx = steps.context
    while True:
        await asyncio.sleep(every_s)
        if ctx.hub.breaker_open:
            continue
        try:
            report = await replay(
                ctx.store, ctx.hub, clock=ctx.clock, concurrency=2, run=ctx.call,
                finished_packs_only=True,
            )  # fmt: skip
        except Exception as error:
            log.exception("outbox.replay_failed", error=repr(error))
            continue
        if report.done or report.failed or report.flagged:
            log.info("outbox.replay", done=report.done, failed=report.failed,
                     flagged=report.flagged, left=report.left)  # fmt: skip
        await retrieve_suspects(steps)


async def retrieve_suspects(steps: PackSteps) -> None:
    """Retrieve every shelved pack whose deferred check failed (from the store, so a failure, a
    stop or `fmd-robot outbox replay` loses none); flag a retrieve that was cut off mid-move, as
    only the operator can tell where that pack is."""
    ctx = steps.context
    try:
        due, stuck = await ctx.call(ctx.store.retrievals_due)
        for token in stuck:
            await ctx.call(ctx.store.flag, token, RETRIEVE_CUT_OFF, at=ctx.clock())
        for token in due:
            with structlog.contextvars.bound_contextvars(token=token):
                # shielded: a stop lets a move under way finish and be recorded
                await asyncio.shield(steps.retrieve_to_quarantine(token))
    except Exception as error:
        log.exception("pack.retrieve_failed", error=repr(error))
