"""Replaying the outbox once the hub answers again: queued state changes and deferred checks.

Intents are replayed oldest first, so each pack's changes keep their order. A decommission that
was sent before is confirmed before it is sent again (it may have landed before its answer was
lost); one never sent goes straight out, under the same idempotent transaction id. An undo whose
10-day window (Art. 13) has passed is not sent but flagged for the operator; a deferred verify
that does not come back clean is flagged, so the pack can be retrieved to quarantine, and the
pack's deferred decommission behind it is cancelled. A verify goes out under the transaction id
it was committed with, so one that reached the hub before raises no second alert.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from fmd.hub.contract import HubResult, HubUnavailable, PackState
from fmd.hub.resilient import Attempt, SafeHub, traced
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import Intent, Store

UNDO_WINDOW = timedelta(hours=240)
log = structlog.get_logger("fmd.outbox")


@dataclass
class ReplayReport:
    """What one replay did; `stopped` says why it ended early (the hub went away again)."""

    done: int = 0
    failed: int = 0
    flagged: int = 0
    cancelled: int = 0
    left: int = 0
    stopped: str | None = None
    flagged_tokens: list[int] = field(default_factory=list)
    suspect_tokens: list[int] = field(default_factory=list)  # a deferred check came back bad

    def count(self, intent: Intent, status: IntentStatus) -> None:
        """Count one intent replayed to `status` (done, failed or flagged)."""
        if status is IntentStatus.DONE:
            self.done += 1
        elif status is IntentStatus.FAILED:
            self.failed += 1
        elif status is IntentStatus.CANCELLED:
            self.cancelled += 1
        elif status is IntentStatus.FLAGGED:
            self.flagged += 1
            self.flagged_tokens.append(intent.token)
            if intent.operation is HubOperation.VERIFY:
                self.suspect_tokens.append(intent.token)
        else:
            raise ValueError(f"a replayed intent cannot be left {status}")


class UndoRefused(Exception):
    """An undo that cannot be queued (one line: why)."""


def queue_undo(store: Store, token: int, *, at: datetime, trx: str) -> Intent:
    """Queue the undo of a pack's decommission, to be sent by the next replay (Art. 13: at the
    same location, within 240 h of the decommission)."""
    history = store.intents_of(token)
    landed = [
        i
        for i in history
        if i.operation is HubOperation.DECOMMISSION and i.status is IntentStatus.DONE
    ]
    if not landed:
        raise UndoRefused(f"pack {token} has no decommission that reached the hub: nothing to undo")
    if any(i.operation is HubOperation.UNDO and i.status is IntentStatus.PENDING for i in history):
        raise UndoRefused(f"an undo for pack {token} already waits in the outbox")
    decommission = landed[-1]
    if at - decommission.created_at > UNDO_WINDOW:
        raise UndoRefused(
            f"pack {token} was decommissioned more than 240 h ago: Art. 13 no longer allows an undo"
        )
    return store.queue_intent(
        token, decommission.ui, HubOperation.UNDO, decommission.reason, trx=trx, at=at
    )


def settle_status(intent: Intent, result: HubResult) -> IntentStatus:
    """The intent's new status once the hub has answered (pure)."""
    if intent.operation is HubOperation.VERIFY:
        clean = result.outcome == "ok" and result.state is PackState.ACTIVE
        return IntentStatus.DONE if clean else IntentStatus.FLAGGED
    if intent.operation is HubOperation.CONFIRM:  # asked only: did it land before?
        landed = result.outcome == "ok" and intent.reason in result.reasons
        return IntentStatus.DONE if landed else IntentStatus.CANCELLED
    landed = result.outcome == "ok" and (
        intent.reason in result.reasons
        if intent.operation is HubOperation.DECOMMISSION
        else result.state is PackState.ACTIVE
    )
    return IntentStatus.DONE if landed else IntentStatus.FAILED


StoreCall = Callable[..., Awaitable[Any]]


async def replay(
    store: Store,
    hub: SafeHub,
    *,
    clock: Callable[[], datetime],
    concurrency: int = 8,
    run: StoreCall = asyncio.to_thread,
    finished_packs_only: bool = False,
) -> ReplayReport:
    """Send what the outbox holds until it is empty or the hub stops answering.

    Packs are replayed side by side (up to `concurrency` at once); each pack's own intents go
    one after the other, oldest first. `run` executes the store's calls (a running daemon
    passes its own store thread, so replay and loading share it).
    """
    report = ReplayReport()
    intents = await run(store.pending_intents, finished_packs_only=finished_packs_only)
    by_pack: dict[int, list[Intent]] = defaultdict(list)
    for intent in intents:
        by_pack[intent.token].append(intent)
    slots = asyncio.Semaphore(concurrency)
    handled = 0

    async def one_pack(queue: list[Intent]) -> None:
        nonlocal handled
        async with slots:
            for n, intent in enumerate(queue):
                if report.stopped is not None:
                    return
                status = await _replay_one(store, hub, intent, clock, report, run)
                if status is None:
                    return
                handled += 1
                report.count(intent, status)
                if intent.operation is HubOperation.VERIFY and status is IntentStatus.FLAGGED:
                    await run(store.cancel_unsent, intent.token, at=clock())
                    report.cancelled += len(queue) - n - 1
                    handled += len(queue) - n - 1
                    return

    await asyncio.gather(*(one_pack(queue) for queue in by_pack.values()))
    report.left = len(intents) - handled
    report.flagged_tokens.sort()
    report.suspect_tokens.sort()
    return report


async def _replay_one(
    store: Store,
    hub: SafeHub,
    intent: Intent,
    clock: Callable[[], datetime],
    report: ReplayReport,
    run: StoreCall,
) -> IntentStatus | None:
    """Replay one intent; its new status, or None when the hub stopped answering."""
    if intent.operation is HubOperation.UNDO and clock() - intent.created_at > UNDO_WINDOW:
        flagged = IntentStatus.FLAGGED
        await run(store.settle_intent, intent.id, flagged, "undo-window-passed", at=clock())
        return flagged
    with traced() as attempts:
        try:
            result = await _send(hub, intent)
        except HubUnavailable as error:
            report.stopped = str(error) or type(error).__name__
            # what was tried is kept, and the intent counts as sent: next time, ask first
            await run(_record, store, intent, None, list(attempts), clock())
            return None
    await run(_record, store, intent, result, list(attempts), clock())
    status = settle_status(intent, result)
    log.info("outbox.replayed", token=intent.token, operation=intent.operation, status=status)
    return status


async def _send(hub: SafeHub, intent: Intent) -> HubResult:
    """Send one intent. One that was sent before may have landed: its state is asked first."""
    sent_before = intent.attempts > 0
    if intent.operation is HubOperation.VERIFY:
        return await hub.verify(intent.ui, trx=intent.client_trx_id)
    if intent.operation is HubOperation.CONFIRM:  # the pack is off the shelf: never re-sent
        return await hub.verify(intent.ui)
    if intent.reason is None:
        raise ValueError(f"outbox intent {intent.id} ({intent.operation}) has no reason")
    trx = intent.client_trx_id
    if intent.operation is HubOperation.DECOMMISSION:
        if sent_before:
            return await hub.confirm_or_decommission(intent.ui, intent.reason, trx=trx)
        return await hub.decommission(intent.ui, intent.reason, trx=trx)
    if sent_before:
        return await hub.confirm_or_undo(intent.ui, intent.reason, trx=trx)
    return await hub.undo(intent.ui, intent.reason, trx=trx)


def _record(
    store: Store, intent: Intent, result: HubResult | None, attempts: list[Attempt], at: datetime
) -> None:
    with store.batch():  # the calls and the intent's new status: one transaction
        store.record_calls(intent.token, attempts)
        if result is None:  # no answer: still pending, one more attempt counted
            store.settle_intent(intent.id, IntentStatus.PENDING, None, at=at)
        else:
            store.settle_intent(intent.id, settle_status(intent, result), result.return_code, at=at)
