"""A person's action on one pack at the hub (`fmd-robot pack undo|destroy|lock|…`).

In this order: the pack is found in the log by its product code and serial, the action judged
(`pack_rules.plan`: refused there, nothing is committed or sent), the intent committed to the
outbox in the person's name (actor, their reason, `[site] location`) with, for a pack never seen
here, its scan; then it is sent by the outbox's own replay of that pack alone. So a lost answer
leaves it pending, counted as sent, and the next replay (this command's next run, `fmd-robot
outbox replay`, the daemon's) asks the pack's state before it sends it again (invariant 3).
When a daemon holds the store it is committed only: that daemon's next replay sends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fmd.codes.model import PackIdentifier
from fmd.hub.resilient import SafeHub
from robot_controller.outbox import replay
from robot_controller.pack_rules import PackAction, Planned, plan
from robot_controller.store import DEFAULT_ROBOT, Intent, Store
from robot_controller.store.intents import CLAIM_LEASE

StoreCall = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class PackRequest:
    """Who asks for what on which pack, and why: `scanned` and `raw` when its scan was given
    (then the pack's identifier is the scan's)."""

    action: PackAction
    product_code: str
    serial: str
    actor: str
    note: str
    location: str
    scanned: PackIdentifier | None = None
    raw: str | None = None


@dataclass(frozen=True, slots=True)
class Sent:
    """A pack action's intent as the outbox holds it after the replay (`intent.status`), and
    why that replay stopped (None: the hub answered)."""

    intent: Intent
    stopped: str | None


def commit(
    store: Store, request: PackRequest, *, trx: str, at: datetime, robot: str = DEFAULT_ROBOT
) -> tuple[Planned, Intent]:
    """Judge the action on the log and commit its intent, in one transaction (`ActionRefused`
    when the rules forbid it: nothing is committed)."""
    with store.batch():
        known = store.find_pack(request.product_code, request.serial)
        planned = plan(
            request.action, known, scanned=request.scanned, location=request.location, now=at
        )
        intent = store.queue_pack_action(
            planned.token, planned.ui, planned.operation, planned.reason, trx=trx, at=at,
            actor=request.actor, note=request.note, location=request.location,
            scan=request.raw, robot=robot,
        )  # fmt: skip
    return planned, intent


async def send(
    store: Store,
    hub: SafeHub,
    intent: Intent,
    *,
    clock: Callable[[], datetime],
    run: StoreCall = asyncio.to_thread,
    claimant: str = DEFAULT_ROBOT,
    lease: timedelta = CLAIM_LEASE,
) -> Sent:
    """Send a committed pack action through the outbox's replay of its pack alone, as robot
    `claimant`'s (whose lock the caller holds; `lease`: how long another daemon's claim on one
    of the pack's intents holds)."""
    report = await replay(
        store, hub, clock=clock, run=run, finished_packs_only=True, tokens=[intent.token],
        claimant=claimant, lease=lease,
    )  # fmt: skip
    history: list[Intent] = await run(store.intents_of, intent.token)
    now = next(i for i in history if i.id == intent.id)
    return Sent(now, report.stopped)
