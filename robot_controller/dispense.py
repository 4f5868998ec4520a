"""The hand-out: what a robot's OutputMessage says left it, recorded and, in community mode,
decommissioned SUPPLIED through the outbox.

For each pack that left (`dispense_rules.packs_left`), in one transaction: a pack the log has
on the shelf gets route `dispensed`, one it never shelved (or could not identify) is recorded
dispensed and flagged (and never decommissioned on the robot's word alone: WWKS2 has no
authentication); in community mode a shelved pack's SUPPLIED decommission is committed as an
outbox intent in the actor's name. Then the packs' intents are sent by the outbox's replay of those
packs alone (`outbox.replay(tokens=…)`): the attempt is counted before it leaves, so a lost
answer is asked about before anything is sent again (invariant 3). A decommission the hub
refuses opens an alert case (the one its alert opened, if it raised one). Beside a running
daemon (`send` False) the intents are committed only; that daemon's replay sends them. In
hospital mode nothing is sent: the pack was decommissioned at stock-in. A report of a pack
recorded dispensed already (the same OutputMessage twice) writes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from fmd.hub.contract import Reason
from fmd.hub.resilient import SafeHub
from robot_controller.alert_cases import AlertCase
from robot_controller.dispense_rules import LeftPack, packs_left
from robot_controller.outbox import replay
from robot_controller.pack_rules import standing_decommission
from robot_controller.states import HandOutWhy, HubOperation, IntentStatus
from robot_controller.store import DEFAULT_ROBOT, Intent, Store
from robot_controller.store.intents import CLAIM_LEASE
from robot_controller.store.records import Dispensed
from wwks2.messages import OutputMessage

StoreCall = Callable[..., Awaitable[Any]]
HAND_OUT_NOTE = "handed out by the robot"
REFUSED = (IntentStatus.FAILED, IntentStatus.FLAGGED, IntentStatus.CANCELLED)


@dataclass(frozen=True, slots=True)
class Handed:
    """One pack that left: as reported, as recorded, its SUPPLIED decommission as the outbox
    holds it now (None: none is due), why the replay stopped (None: the hub answered), the
    alert case of a refused decommission, and its product's name as the hub gave it when it
    was loaded ("": none)."""

    left: LeftPack
    dispensed: Dispensed
    intent: Intent | None = None
    stopped: str | None = None
    case: AlertCase | None = None
    product_name: str = ""

    @property
    def trouble(self) -> bool:
        """Someone must look: the pack is flagged, or the hub refused its decommission or did
        not answer (one committed for a running daemon to send is not trouble)."""
        intent = self.intent
        if not self.dispensed.shelved and not self.dispensed.already:
            return True
        if intent is None or intent.status is IntentStatus.DONE:
            return False
        return intent.status is not IntentStatus.PENDING or intent.attempts > 0


@dataclass(frozen=True, slots=True)
class HandOut:
    """Records the outputs of one robot's daemon or command (`robot`) at the premises
    `location`: `community` decommissions each pack SUPPLIED; `send` False commits only (a
    daemon that holds the store sends); `run` executes the store's calls; `on_handed` hears of
    each pack that left once it is settled (a repeated report, which records nothing, is not
    told)."""

    store: Store
    hub: SafeHub | None  # None: nothing is sent (hospital mode)
    clock: Callable[[], datetime]
    community: bool
    location: str | None  # the premises ([site] location) its decommissions are made at
    robot: str = DEFAULT_ROBOT
    send: bool = True
    run: StoreCall = asyncio.to_thread
    lease: timedelta = CLAIM_LEASE
    separators: str = "\x1d"
    on_handed: Callable[[Handed], None] | None = None

    async def record(self, message: OutputMessage, *, actor: str) -> list[Handed]:
        """Record every pack `message` reports and settle its decommission, in `actor`'s name."""
        handed = await self._settle(message, actor)
        if self.on_handed is not None:
            for pack in handed:
                if not pack.dispensed.already:
                    self.on_handed(pack)
        return handed

    async def _settle(self, message: OutputMessage, actor: str) -> list[Handed]:
        source = f"wwks2:{message.source}"
        handed: list[Handed] = [
            await self.run(self._commit, left, source, actor)
            for left in packs_left(message, separators=self.separators)
        ]
        due = [
            h for h in handed if h.intent is not None and h.intent.status is IntentStatus.PENDING
        ]
        if not due or not self.send or self.hub is None:
            return handed
        report = await replay(
            self.store, self.hub, clock=self.clock, run=self.run, finished_packs_only=True,
            tokens=[h.dispensed.token for h in due], claimant=self.robot, lease=self.lease,
        )  # fmt: skip
        return [await self.settled(h, report.stopped) for h in handed]

    def _commit(self, left: LeftPack, source: str, actor: str) -> Handed:
        """In one transaction: the pack recorded dispensed and, when due, its decommission."""
        dispensed, intent = self._record(left, source, actor)
        return Handed(
            left, dispensed, intent, product_name=self.store.product_name(dispensed.token)
        )

    def _record(self, left: LeftPack, source: str, actor: str) -> tuple[Dispensed, Intent | None]:
        store, at = self.store, self.clock()
        with store.batch():
            why = HandOutWhy.NOT_SHELVED_HERE if left.ui is not None else HandOutWhy.UNIDENTIFIED
            message = left.problem or (
                f"handed out by the robot (pack {left.robot_pack})"
                if left.ui is None or store.in_stock(left.ui)
                else f"handed out by the robot (pack {left.robot_pack}) but never shelved here"
            )
            dispensed = store.record_dispensed(
                left.raw, left.ui, robot_pack=left.robot_pack, source=source, why=why,
                message=message, actor=actor, at=at, robot=self.robot,
            )  # fmt: skip
            if not self.community or left.ui is None:
                return dispensed, None
            history = store.intents_of(dispensed.token)
            supplied = _supplied(history)
            if supplied is not None or dispensed.already or _decommissioned(history):
                return dispensed, supplied
            # only a pack this site shelved is decommissioned on the robot's word: WWKS2 has no
            # authentication, and a report naming any pack must not change it at the hub
            if not dispensed.shelved:
                return dispensed, None
            known = store.find_pack(left.ui.product_code, left.ui.serial)
            ui = known.ui if known is not None and known.ui is not None else left.ui
            intent = store.queue_pack_action(
                dispensed.token, ui, HubOperation.DECOMMISSION, Reason.SUPPLIED,
                trx=_trx(), at=at, actor=actor, note=HAND_OUT_NOTE, location=self.location,
                robot=self.robot,
            )  # fmt: skip
            return dispensed, intent

    async def settled(self, handed: Handed, stopped: str | None = None) -> Handed:
        """`handed` with its decommission as the outbox holds it now, and the alert case of
        a refusal (opened now if its alert opened none)."""
        if handed.intent is None:
            return handed
        history: list[Intent] = await self.run(self.store.intents_of, handed.dispensed.token)
        now = next(i for i in history if i.id == handed.intent.id)
        if now.status is IntentStatus.PENDING:
            return replace(handed, intent=now, stopped=stopped)
        if now.status not in REFUSED:
            return replace(handed, intent=now)
        code = now.last_code or now.status.value
        text = f"the hub refused the SUPPLIED decommission of a pack the robot handed out ({code})"
        case = await self.run(self.store.open_case, now.token, now.ui, code, text,
                              at=self.clock(), since=now.created_at)  # fmt: skip
        return replace(handed, intent=now, case=case)


def line(handed: Handed) -> str:
    """What became of one pack that left, in one line."""
    left, dispensed, intent = handed.left, handed.dispensed, handed.intent
    ui = left.ui
    name = f"pack {dispensed.token}" + (f" ({ui.product_code} {ui.serial})" if ui else "")
    if ui is None:
        return f"{name}: recorded dispensed and flagged: {left.problem}"
    if dispensed.already:
        said = f"{name}: recorded dispensed before"
    elif dispensed.shelved:
        said = f"{name}: dispensed from the shelf (robot pack {left.robot_pack})"
    else:
        said = f"{name}: dispensed but never shelved here, flagged"
    if intent is None:
        return (
            f"{said}; {NOT_DECOMMISSIONED}"
            if not dispensed.shelved and not dispensed.already
            else said
        )
    status = intent.status
    if status is IntentStatus.DONE:
        return f"{said}; SUPPLIED at the hub"
    if status is IntentStatus.PENDING and intent.attempts == 0:
        return f"{said}; its SUPPLIED decommission is committed, a running daemon sends it"
    if status is IntentStatus.PENDING:
        return (
            f"{said}; the hub did not answer ({handed.stopped or 'no answer'}): its SUPPLIED "
            "decommission waits in the outbox (the next replay asks the pack's state first)"
        )
    case = f", alert case {handed.case.id}" if handed.case is not None else ""
    return f"{said}; the hub refused its SUPPLIED decommission ({intent.last_code}){case}"


def _supplied(history: Sequence[Intent]) -> Intent | None:
    """The pack's SUPPLIED decommission committed at a hand-out before (None: none)."""
    for intent in reversed(history):
        if intent.operation is HubOperation.DECOMMISSION and intent.reason is Reason.SUPPLIED:
            return intent if intent.note == HAND_OUT_NOTE else None
    return None


NOT_DECOMMISSIONED = (
    "nothing sent to the hub on the robot's word alone: check the pack, and supply it by hand "
    "(`fmd-robot pack supply --manual PRODUCT SERIAL`) if it really was handed out"
)


def _decommissioned(history: Sequence[Intent]) -> bool:
    """The pack is decommissioned by us already, or a change for it waits."""
    waiting = any(
        i.status is IntentStatus.PENDING and i.operation is not HubOperation.VERIFY for i in history
    )
    return waiting or standing_decommission(history) is not None


def _trx() -> str:
    """A client transaction id (as `pipeline.context.new_trx`, which this module may not
    import: the pipeline imports it)."""
    return uuid.uuid4().hex
