"""Replaying the outbox once the hub answers again: queued state changes and deferred checks.

Each pack's intents go oldest first, one after the other; the packs go side by side, in rounds:
a round asks the hub for the next intent of every pack, in mixed bulks (Arvato G195) of at most
`BULK_SIZE` items, each under its intent's own client trx id (an undo also names its
decommission's), so the hub recognises a replayed item and repeats its first answer. A bulk of
one goes as a single-pack call, and so does every intent of a pack that needs single-pack
transactions: a bulk triggers no intermarket transaction, so a pack an answer names intermarket,
or whose product a bulk answer calls unknown (a refusal, nothing applied), goes on its own.

A change sent before (its answer lost) is never sent again blindly: its round asks the pack's
state (a verify), and only a change that did not land goes again, in the next round, under the
same trx id. A deferred verify goes out under the trx id it was committed with, so one that
reached the hub before raises no second alert; one that does not come back clean is flagged, so
the pack can be retrieved to quarantine, and the pack's deferred decommission behind it is
cancelled. An undo whose decommission's 240 h window (Art. 13; LOCKED has none) has passed is
not sent but flagged (one sent before is asked about first: it may have landed in time).

An intent no answer settles stays pending: without an answer, or with a technical one (a bulk
item the hub's answer left out, `UNANSWERED`, included), it counts as sent, so the next replay
asks first; a throttled one (nothing applied) is left as it was. The hub going away stops the
replay; what was not sent waits for the next one.

Daemons sharing a PostgreSQL store each replay what they claim (`Store.claim_intents`: their
own robot's packs, and what another left for longer than the lease); each request renews the
claims on what it carries first and leaves out any another daemon has taken over meanwhile, so
no intent is sent by two daemons. The claims left are released when the replay ends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from fmd.hub import returncodes as rc
from fmd.hub.contract import BulkItem, HubResult, HubUnavailable, PackState
from fmd.hub.resilient import Attempt, CircuitOpen, SafeHub, traced
from robot_controller.pack_rules import standing_decommission, undo_deadline
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import DEFAULT_ROBOT, Intent, Store
from robot_controller.store.intents import CLAIM_LEASE

BULK_SIZE = 1000
"""Most items in one mixed bulk. The NMVS takes 100,000; a smaller bulk is answered sooner, and
one whose answer is lost leaves fewer items to confirm. (A bulk is not bound by the per-call
`[hub] timeout_s`: the client's bulk deadline bounds it.)"""
THROTTLED = "the hub asked us to slow down (rate limited): the rest waits for the next replay"
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


def settle_status(intent: Intent, result: HubResult | None) -> IntentStatus | None:
    """The intent's new status after the hub's answer (pure): PENDING while no answer settles
    it (none came, or a technical one: a change may have landed); None when the hub throttled
    it (nothing was applied, nothing changes)."""
    if result is None or result.outcome == "technical":
        return IntentStatus.PENDING
    if result.outcome == "rate_limited":
        return None
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


def still_to_send(intent: Intent, state: HubResult) -> bool:
    """A change sent before, its pack's state just asked (pure): True when the change did not
    land and nothing else happened to the pack, so it goes again under the same trx id."""
    if state.outcome != "ok":
        return False
    if intent.operation is HubOperation.DECOMMISSION:
        return state.state is PackState.ACTIVE
    return state.state is PackState.INACTIVE and intent.reason in state.reasons


StoreCall = Callable[..., Awaitable[Any]]


async def replay(
    store: Store,
    hub: SafeHub,
    *,
    clock: Callable[[], datetime],
    concurrency: int = 8,
    run: StoreCall = asyncio.to_thread,
    finished_packs_only: bool = False,
    bulk_size: int = BULK_SIZE,
    tokens: Collection[int] | None = None,
    claimant: str = DEFAULT_ROBOT,
    lease: timedelta = CLAIM_LEASE,
) -> ReplayReport:
    """Send what the outbox holds until it is empty or the hub stops answering.

    Packs go side by side, each pack's intents one after the other, oldest first: in mixed
    bulks of at most `bulk_size` items, single-pack calls up to `concurrency` at once. `run`
    executes the store's calls (a running daemon passes its own store thread, so replay and
    loading share it). `tokens`: only these packs' intents (a pack action sends its own).
    `claimant`: the robot whose daemon replays, among those sharing the store; the caller
    holds that robot's lock (`locks.hold_store`), so a claim in its name is its own or a dead
    process's. `lease`: how long another daemon's claim holds.
    """
    if bulk_size < 1:
        raise ValueError("bulk_size must be at least 1")
    intents = await run(store.claim_intents, by=claimant, at=clock(), lease=lease,
                        finished_packs_only=finished_packs_only, tokens=tokens)  # fmt: skip
    rounds = _Rounds(store, hub, clock, run, concurrency, bulk_size, claimant)
    for intent in intents:
        rounds.queues.setdefault(intent.token, deque()).append(intent)
    try:
        await rounds.play()
    finally:
        await run(store.release_claims, by=claimant)
    report = rounds.report
    report.left = len(intents) - rounds.handled
    report.flagged_tokens.sort()
    report.suspect_tokens.sort()
    return report


@dataclass(frozen=True, slots=True)
class _Ask:
    """What a round asks of the hub for one intent; `check`: the verify before a change sent
    before may go again."""

    intent: Intent
    item: BulkItem
    check: bool = False


@dataclass(frozen=True, slots=True)
class _Answer:
    """The hub's answer to one item (None: none came, `error` says why) and the calls it took;
    `in_bulk`: it came in a mixed bulk."""

    result: HubResult | None
    calls: tuple[Attempt, ...]
    error: str | None = None
    in_bulk: bool = False

    @property
    def again(self) -> bool:
        """A bulk answer only a single-pack call can give: the product is unknown to this
        national system, and a bulk triggers no intermarket transaction, so the pack's own
        market was not asked (a refusal: nothing was applied)."""
        result = self.result
        return self.in_bulk and result is not None and result.return_code == rc.UNKNOWN_PRODUCT


_Row = tuple[Intent, tuple[Attempt, ...], IntentStatus | None, str | None, bool]
"""An intent, its calls, its new status (None: unsettled), the code, whether it was counted as
sent before it went (a change: `Store.note_sending`)."""
"""An intent's calls and its new status (None: unchanged) with the hub's return code."""


class _Rounds:
    """One replay: rounds of the next intent of every pack, until none is left or the hub
    stops answering."""

    def __init__(
        self,
        store: Store,
        hub: SafeHub,
        clock: Callable[[], datetime],
        run: StoreCall,
        concurrency: int,
        bulk_size: int,
        claimant: str,
    ) -> None:
        self.store = store
        self.claimant = claimant
        self.hub = hub
        self.clock = clock
        self.run = run
        self.bulk_size = bulk_size
        self.slots = asyncio.Semaphore(concurrency)
        self.queues: dict[int, deque[Intent]] = {}
        self.report = ReplayReport()
        self.handled = 0
        self.confirmed: set[int] = set()  # changes sent before, found not landed: send again
        self.singles: set[int] = set()  # packs whose intents go as single-pack calls
        self.throttled = False

    async def play(self) -> None:
        while self.queues and self.report.stopped is None:
            asks = []
            for token in list(self.queues):
                ask = await self._next(token)
                if ask is not None:
                    asks.append(ask)
            await self._exchange(asks)
        if self.throttled and self.report.stopped is None:
            self.report.stopped = THROTTLED

    async def _next(self, token: int) -> _Ask | None:
        """What to ask for the pack's next intent (None: nothing left to send for it)."""
        queue = self.queues[token]
        while queue and await self._undo_too_late(queue[0]):
            intent = queue.popleft()
            flagged = IntentStatus.FLAGGED
            await self.run(self.store.settle_intent, intent.id, flagged, "undo-window-passed",
                           at=self.clock())  # fmt: skip
            self._count(intent, flagged)
        if not queue:
            del self.queues[token]
            return None
        return await self._ask(queue[0])

    async def _undo_too_late(self, intent: Intent) -> bool:
        """An undo past its decommission's deadline (`pack_rules.undo_deadline`: 240 h, none
        for LOCKED): the hub would raise an alert, so it is flagged, never sent. One sent
        before is asked about first: it may have landed in time."""
        if intent.operation is not HubOperation.UNDO:
            return False
        if intent.attempts > 0 and intent.id not in self.confirmed:
            return False
        history = await self.run(self.store.intents_of, intent.token)
        undone = standing_decommission([i for i in history if i.id < intent.id]) or intent
        deadline = undo_deadline(undone)
        return deadline is not None and self.clock() > deadline

    async def _ask(self, intent: Intent) -> _Ask:
        ui = intent.ui
        if intent.operation is HubOperation.VERIFY:
            return _Ask(intent, BulkItem(ui, trx=intent.client_trx_id))
        if intent.operation is HubOperation.CONFIRM:  # the pack is off the shelf: never re-sent
            return _Ask(intent, BulkItem(ui, trx=_fresh_trx()))
        if intent.reason is None:
            raise ValueError(f"outbox intent {intent.id} ({intent.operation}) has no reason")
        if intent.attempts > 0 and intent.id not in self.confirmed:  # it may have landed
            return _Ask(intent, BulkItem(ui, trx=_fresh_trx()), check=True)
        if intent.operation is HubOperation.DECOMMISSION:
            item = BulkItem(ui, "decommission", intent.reason, intent.client_trx_id)
        else:
            history = await self.run(self.store.intents_of, intent.token)
            landed = standing_decommission([i for i in history if i.id < intent.id])
            ref_trx = landed.client_trx_id if landed is not None else None
            item = BulkItem(ui, "undo", intent.reason, intent.client_trx_id, ref_trx)
        return _Ask(intent, item)

    async def _exchange(self, asks: list[_Ask]) -> None:
        """Send one round: its mixed bulks one after the other, then the single-pack calls."""
        bulk = [ask for ask in asks if ask.intent.token not in self.singles]
        chunks = [bulk[n : n + self.bulk_size] for n in range(0, len(bulk), self.bulk_size)]
        alone = [ask for ask in asks if ask.intent.token in self.singles]
        alone += [chunk[0] for chunk in chunks if len(chunk) == 1]
        for chunk in chunks:
            if len(chunk) > 1 and self.report.stopped is None:
                chunk = await self._sending(chunk)
                if chunk:
                    await self._settle(chunk, await _mixed(self.hub, chunk))
        if self.report.stopped is None:
            alone = await self._sending(alone)
        await asyncio.gather(*(self._alone(ask) for ask in alone))

    async def _sending(self, asks: Sequence[_Ask]) -> list[_Ask]:
        """Renew the claims on what is about to be sent and count an attempt for its changes,
        committed before they go; what another daemon took over is left to it (returned: the
        asks still ours)."""
        held = await self.run(_hold, self.store, asks, self.claimant, self.clock())
        for ask in asks:
            if ask.intent.id not in held and ask.intent.token in self.queues:
                log.warning("outbox.claim_lost", token=ask.intent.token, intent=ask.intent.id)
                del self.queues[ask.intent.token]  # its pack's intents are the other's now
        return [ask for ask in asks if ask.intent.id in held]

    async def _alone(self, ask: _Ask) -> None:
        async with self.slots:
            if self.report.stopped is None:
                await self._settle([ask], [await _single(self.hub, ask)])

    async def _settle(self, asks: list[_Ask], answers: list[_Answer]) -> None:
        """Record one request's answers (one transaction) and move each pack on."""
        rows: list[_Row] = []
        moves: list[tuple[Intent, IntentStatus]] = []  # the others are asked again next round
        for ask, answer in zip(asks, answers, strict=True):
            intent, result = ask.intent, answer.result
            if result is None:
                self.report.stopped = self.report.stopped or answer.error
            if answer.again or (result is not None and result.intermarket):
                self.singles.add(intent.token)
            status: IntentStatus | None = None
            if ask.check and result is not None and still_to_send(intent, result):
                self.confirmed.add(intent.id)
            elif not answer.again:
                status = settle_status(intent, result)
                self.throttled |= status is None
                moves.append((intent, status or IntentStatus.PENDING))  # throttled: it waits
            code = result.return_code if result is not None and status is not None else None
            rows.append((intent, answer.calls, status, code, ask.item.operation != "verify"))
        await self.run(_record, self.store, rows, self.clock())
        for intent, status in moves:
            self._move_on(intent, status)

    def _move_on(self, intent: Intent, status: IntentStatus) -> None:
        """The pack's next intent comes next round, unless this one waits or failed its check."""
        queue = self.queues[intent.token]
        if status is IntentStatus.PENDING:  # unsettled: it and the pack's next ones wait
            del self.queues[intent.token]
            return
        queue.popleft()
        self._count(intent, status)
        log.info("outbox.replayed", token=intent.token, operation=intent.operation, status=status)
        if intent.operation is HubOperation.VERIFY and status is IntentStatus.FLAGGED:
            self.report.cancelled += len(queue)  # `_record` cancelled what was never sent
            self.handled += len(queue)
            del self.queues[intent.token]
        elif not queue:
            del self.queues[intent.token]

    def _count(self, intent: Intent, status: IntentStatus) -> None:
        self.report.count(intent, status)
        self.handled += 1


def _fresh_trx() -> str:
    return uuid.uuid4().hex


async def _mixed(hub: SafeHub, asks: list[_Ask]) -> list[_Answer]:
    """One mixed bulk; each item's call is logged with the bulk's latency."""
    items = [ask.item for ask in asks]
    at, started = datetime.now(UTC), time.perf_counter()
    try:
        answered = await hub.mixed(items)
    except CircuitOpen as error:  # nothing went out
        return [_Answer(None, (), str(error)) for _ in items]
    except HubUnavailable as error:
        why = str(error) or type(error).__name__
        latency = time.perf_counter() - started
        return [_Answer(None, (_attempt(i, None, why, latency, at),), why) for i in items]
    latency = time.perf_counter() - started
    log.info("outbox.bulk", items=len(items), hub_trx=answered.hub_trx_id,
             latency_ms=round(latency * 1000, 2))  # fmt: skip
    return [
        _Answer(result, (_attempt(item, result, None, latency, at),), in_bulk=True)
        for item, result in zip(items, answered.results, strict=True)
    ]


async def _single(hub: SafeHub, ask: _Ask) -> _Answer:
    """One single-pack call, through the resilient hub (which asks before any re-send)."""
    item = ask.item
    with traced() as calls:
        try:
            if item.operation == "verify":
                result = await hub.verify(item.ui, trx=item.trx)
            elif item.to is None:
                raise ValueError(f"a {item.operation} without a reason")
            elif item.operation == "decommission":
                result = await hub.decommission(item.ui, item.to, trx=item.trx)
            else:
                result = await hub.undo(item.ui, item.to, trx=item.trx, ref_trx=item.ref_trx)
        except HubUnavailable as error:
            return _Answer(None, tuple(calls), str(error) or type(error).__name__)
        return _Answer(result, tuple(calls))


def _attempt(
    item: BulkItem, result: HubResult | None, error: str | None, latency_s: float, at: datetime
) -> Attempt:
    trx = item.trx or (result.client_trx_id if result is not None else "")
    return Attempt(item.operation, item.ui, trx, item.to, result, error, latency_s, at)


def _hold(store: Store, asks: Sequence[_Ask], by: str, at: datetime) -> set[int]:
    """In one transaction: renew `by`'s claims on the asks' intents and count an attempt for
    the changes among those still held; the ids held."""
    with store.batch():
        held = store.keep_claims([ask.intent.id for ask in asks], by=by, at=at)
        kept = [ask for ask in asks if ask.intent.id in held]
        store.note_sending([a.intent.id for a in kept if a.item.operation != "verify"], at=at)
    return held


def _record(store: Store, rows: list[_Row], at: datetime) -> None:
    """One request's calls and the intents' new statuses, in one transaction; a deferred check
    that came back bad cancels what its pack never sent."""
    with store.batch():
        for intent, calls, status, code, counted in rows:
            store.record_calls(intent.token, calls)
            if status is None:  # throttled, or to be sent singly: nothing was applied
                if counted:
                    store.note_sending([intent.id], at=at, sent=False)
                continue
            store.settle_intent(intent.id, status, code, at=at, counted=counted)
            if intent.operation is HubOperation.VERIFY and status is IntentStatus.FLAGGED:
                store.cancel_unsent(intent.token, at=at)
