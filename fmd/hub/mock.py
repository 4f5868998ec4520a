"""`MockHub`: an in-memory NMVS with the Arvato rules, pack history, alerts and injectable faults.

The rules are in `fmd.hub.rules`, the return codes in `fmd.hub.returncodes`, and the market
profiles where national systems differ in `fmd.hub.markets` (the default, `strict`, alerts on
every decommission of an already decommissioned pack, as the strictest do). This module adds what
a hub does around them: transaction ids, idempotent client trx ids, history, alerts, the rate
limit, latency and seeded faults. Everything is deterministic for a given seed, clock and sequence
of calls.

Client trx ids are scoped to a location (one client login). Re-sending a trx id with the same
request returns the first answer again and applies nothing; with another request it answers
`NMVS_TE_TX_01`. Technical and rate-limited answers are not remembered, so a retry is processed.

Fault order for each request (a bulk counts as one): latency → rate limit (`rate_limited`,
nothing applied) → timeout (`HubUnavailable`, nothing applied) → technical error (`technical`,
nothing applied) → processing → lost reply (`HubUnavailable` after the change was applied).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from types import MappingProxyType

from fmd.codes.model import PackIdentifier, Scheme
from fmd.hub import returncodes as rc
from fmd.hub.clock import Clock, utc_now
from fmd.hub.contract import (
    BulkItem,
    BulkResult,
    HubResult,
    HubUnavailable,
    ManualEntry,
    Operation,
    Outcome,
    PackState,
    Reason,
)
from fmd.hub.manual import entry_ui, missing_fields
from fmd.hub.markets import STRICT, MarketProfile, market_profile
from fmd.hub.ratelimit import SlidingWindowLimiter
from fmd.hub.registry import PackKey, Registry
from fmd.hub.rules import Request, Verdict, judge, verdict
from fmd.hub.validation import trx_problem


@dataclass(frozen=True, slots=True)
class Transaction:
    """One answered transaction in a pack's history."""

    at: datetime
    location: str
    user: str
    operation: Operation
    reason: Reason | None
    client_trx_id: str
    hub_trx_id: str
    return_code: str
    outcome: Outcome
    alert_id: str | None


@dataclass(frozen=True, slots=True)
class Alert:
    """An L5 alert raised by the hub."""

    alert_id: str
    at: datetime
    location: str
    user: str
    operation: Operation
    return_code: str
    product_code: str
    serial: str
    batch: str
    client_trx_id: str
    hub_trx_id: str


class MockHub:
    """An in-memory national medicines verification system.

    - `clock`: returns the current aware UTC datetime (default: real time); drives expiry and the
      240 h undo window.
    - `seed`: seeds fault injection and generated ids.
    - `latency_s`: awaited before every request (0 = no sleep at all).
    - `timeout_rate`, `technical_error_rate`, `lost_reply_rate`: probability per request of a
      timeout (nothing applied), a technical error answer, or a lost reply (applied, then
      `HubUnavailable`). Change them at run time as attributes or with `set_faults`.
    - `rate_limit_per_s`: at most this many requests per location in any second (None = no limit).
    - `market`: the national system's profile, a `MarketProfile` or its name
      (`fmd.hub.markets`). `strict` (the default): any decommission of an inactive pack alerts at
      once (PCK_22), even the same location supplying its own pack again; `fi` (FiMVS): that
      re-supply is refused twice and alerts the 3rd time. In every profile a pack inactive
      because of its product or batch (withdrawn, recalled, expired) is refused without alert.
    - `monotonic`: the clock of the rate limit (default `time.monotonic`).
    - `remembered_trx`: how many client transaction ids are remembered for idempotent replays
      (the oldest are forgotten first), so a long-running simulator stays bounded in memory.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        latency_s: float = 0.0,
        timeout_rate: float = 0.0,
        technical_error_rate: float = 0.0,
        lost_reply_rate: float = 0.0,
        rate_limit_per_s: int | None = None,
        market: MarketProfile | str = STRICT,
        monotonic: Callable[[], float] = time.monotonic,
        remembered_trx: int = 10_000,
    ) -> None:
        if rate_limit_per_s is not None and rate_limit_per_s < 1:
            raise ValueError("rate_limit_per_s must be at least 1, or None")
        self.clock: Clock = clock or utc_now
        self.latency_s = 0.0
        self.timeout_rate = 0.0
        self.technical_error_rate = 0.0
        self.lost_reply_rate = 0.0
        self.set_faults(
            latency_s=latency_s,
            timeout_rate=timeout_rate,
            technical_error_rate=technical_error_rate,
            lost_reply_rate=lost_reply_rate,
        )
        self.rate_limit_per_s = rate_limit_per_s
        self.market = market if isinstance(market, MarketProfile) else market_profile(market)
        self.alerts: list[Alert] = []
        self._registry = Registry()
        # reproducible faults and ids for a simulation, never secrets
        self._fault_rng = random.Random(seed)  # noqa: S311
        self._id_rng = random.Random(f"ids-{seed}")  # noqa: S311
        self._limiter = SlidingWindowLimiter(monotonic)
        self._history: dict[PackKey, list[Transaction]] = {}
        self._answered: OrderedDict[tuple[str, str], tuple[Request, HubResult]] = OrderedDict()
        self._remembered_trx = remembered_trx
        self._state_changes: dict[PackKey, int] = {}
        self._state_change_total = 0
        self._transactions = 0

    # -- faults ---------------------------------------------------------------------------------

    def set_faults(
        self,
        *,
        latency_s: float | None = None,
        timeout_rate: float | None = None,
        technical_error_rate: float | None = None,
        lost_reply_rate: float | None = None,
    ) -> None:
        """Change the injected faults; arguments left None stay as they are."""
        if latency_s is not None:
            if latency_s < 0:
                raise ValueError("latency_s must not be negative")
            self.latency_s = latency_s
        if timeout_rate is not None:
            self.timeout_rate = _probability("timeout_rate", timeout_rate)
        if technical_error_rate is not None:
            self.technical_error_rate = _probability("technical_error_rate", technical_error_rate)
        if lost_reply_rate is not None:
            self.lost_reply_rate = _probability("lost_reply_rate", lost_reply_rate)

    # -- master data ----------------------------------------------------------------------------

    def add_product(self, product_code: str, scheme: Scheme = "GTIN", name: str = "") -> None:
        """Register a product (the code must be valid for its scheme)."""
        self._registry.add_product(product_code, scheme, name)

    def add_batch(self, product_code: str, batch: str, expiry: date) -> None:
        """Register a batch of a known product; `expiry` is the reference for its packs."""
        self._registry.add_batch(product_code, batch, expiry)

    def add_pack(self, ui: PackIdentifier) -> None:
        """Register an ACTIVE pack of a known product and batch (ValueError otherwise)."""
        self._registry.add_pack(ui)

    def recall_batch(self, product_code: str, batch: str) -> None:
        """Recall a batch: its packs become INACTIVE (RECALLED)."""
        self._registry.recall_batch(product_code, batch)

    def withdraw_product(self, product_code: str) -> None:
        """Withdraw a product: its packs become INACTIVE (WITHDRAWN)."""
        self._registry.withdraw_product(product_code)

    def add_decommissioned(
        self, product_code: str, serial: str, reason: Reason, location: str
    ) -> None:
        """Record a known pack as already inactive for a pack-level `reason` at `location`
        (master data: a pack supplied or destroyed elsewhere before this run)."""
        self._registry.decommission((product_code, serial), reason, location, self.clock())

    def client(self, location: str, user: str = "user") -> MockHubClient:
        """A `HubClient` bound to one location and user."""
        return MockHubClient(self, location, user)

    # -- inspection -----------------------------------------------------------------------------

    def pack_state(self, product_code: str, serial: str) -> tuple[PackState, tuple[Reason, ...]]:
        """The pack's state and reasons now (UNKNOWN, () for a pack that does not exist)."""
        return self._registry.state((product_code, serial), self.clock().date())

    def history(self, product_code: str, serial: str) -> list[Transaction]:
        """Every transaction answered for this product code and serial, oldest first."""
        return list(self._history.get((product_code, serial), ()))

    @property
    def transactions(self) -> int:
        """How many transactions the hub answered (idempotent replays not counted)."""
        return self._transactions

    @property
    def state_changes(self) -> int:
        """How many pack state changes (decommissions and undos) were applied."""
        return self._state_change_total

    @property
    def state_changes_by_pack(self) -> Mapping[PackKey, int]:
        """Applied state changes per (product_code, serial); packs never changed are absent."""
        return MappingProxyType(self._state_changes)

    # -- processing -----------------------------------------------------------------------------

    async def ping(self) -> None:
        """Answer a ping: None, or HubUnavailable on an injected timeout."""
        await self._delay()
        self._maybe_time_out()

    async def _call(self, request: Request, trx: str | None) -> HubResult:
        """Answer one single-pack request, with latency and faults."""
        await self._delay()
        if not self._limiter.allow(request.location, self.rate_limit_per_s):
            return self._process(request, trx, verdict(rc.RATE_LIMITED, "rate_limited"))
        self._maybe_time_out()
        result = self._process(request, trx, self._technical_fault())
        self._maybe_lose_reply()
        return result

    async def _call_bulk(
        self, location: str, requests: Sequence[tuple[Request, str | None]]
    ) -> BulkResult:
        """Answer a bulk request: one result per item, in order; faults hit the bulk as a whole."""
        await self._delay()
        hub_trx = self._new_id()
        if not self._limiter.allow(location, self.rate_limit_per_s):
            limited = verdict(rc.RATE_LIMITED, "rate_limited")
            return BulkResult(hub_trx, tuple(self._process(r, t, limited) for r, t in requests))
        self._maybe_time_out()
        technical = self._technical_fault()
        results = tuple(self._process(r, t, technical) for r, t in requests)
        self._maybe_lose_reply()
        return BulkResult(hub_trx, results)

    def _process(
        self, request: Request, trx: str | None, interruption: Verdict | None
    ) -> HubResult:
        now = self.clock()
        client_trx = self._new_id() if trx is None else trx
        if interruption is not None:
            return self._answer(request, client_trx, interruption, now)
        invalid = None if trx is None else trx_problem(trx)
        if invalid is not None:
            return self._answer(
                request, client_trx, verdict(invalid.code, "invalid_request", invalid.message), now
            )
        key = (request.location, client_trx)
        earlier = self._answered.get(key)
        if earlier is not None:
            if earlier[0] == request:
                return earlier[1]
            return self._answer(
                request, client_trx, verdict(rc.TRX_ID_USED, "invalid_request"), now
            )
        answer = judge(
            self._registry,
            request,
            client_trx=client_trx,
            now=now,
            market=self.market,
        )
        pack_key = (request.ui.product_code, request.ui.serial)
        if answer.pack is not None:
            self._registry.packs[pack_key] = answer.pack
        if answer.state_changed:
            self._state_changes[pack_key] = self._state_changes.get(pack_key, 0) + 1
            self._state_change_total += 1
        result = self._answer(request, client_trx, answer, now)
        if trx is not None:
            self._answered[key] = (request, result)
            if len(self._answered) > self._remembered_trx:
                self._answered.popitem(last=False)
        return result

    def _answer(
        self, request: Request, client_trx: str, answer: Verdict, now: datetime
    ) -> HubResult:
        """Record the transaction (and its alert) and build the result."""
        hub_trx = self._new_id()
        ui = request.ui
        product = self._registry.products.get(ui.product_code)
        alert_id = None
        if answer.outcome == "alert":
            alert_id = f"ALR-{self._id_rng.getrandbits(64):016X}"
            self.alerts.append(
                Alert(
                    alert_id,
                    now,
                    request.location,
                    request.user,
                    request.operation,
                    answer.return_code,
                    ui.product_code,
                    ui.serial,
                    ui.batch,
                    client_trx,
                    hub_trx,
                )
            )
        self._history.setdefault((ui.product_code, ui.serial), []).append(
            Transaction(
                now,
                request.location,
                request.user,
                request.operation,
                request.reason,
                client_trx,
                hub_trx,
                answer.return_code,
                answer.outcome,
                alert_id,
            )
        )
        self._transactions += 1
        return HubResult(
            outcome=answer.outcome,
            return_code=answer.return_code,
            state=answer.state,
            reasons=answer.reasons,
            client_trx_id=client_trx,
            hub_trx_id=hub_trx,
            at=now,
            alert_id=alert_id,
            message=answer.message,
            latency_s=self.latency_s,
            product_name=product.name if product is not None else "",
        )

    async def _delay(self) -> None:
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)

    def _maybe_time_out(self) -> None:
        if self._fault_rng.random() < self.timeout_rate:
            raise HubUnavailable("injected timeout: the request did not reach the hub")

    def _technical_fault(self) -> Verdict | None:
        if self._fault_rng.random() < self.technical_error_rate:
            return verdict(self._fault_rng.choice((rc.TIMEOUT, rc.ERROR)), "technical")
        return None

    def _maybe_lose_reply(self) -> None:
        if self._fault_rng.random() < self.lost_reply_rate:
            raise HubUnavailable("injected lost reply: the request was processed")

    def _new_id(self) -> str:
        return f"{self._id_rng.getrandbits(128):032x}"

    def _recorded_ui(self, entry: ManualEntry) -> PackIdentifier:
        """The identifier of a keyed-in pack with the batch and expiry the hub holds for it; a
        pack it does not know keeps placeholders, which the rules refuse before reading them."""
        record = self._registry.packs.get((entry.product_code, entry.serial))
        batch = self._registry.batches.get((entry.product_code, record.batch)) if record else None
        expiry = batch.expiry if batch is not None else date(2099, 12, 31)
        return PackIdentifier(
            scheme=entry.scheme,
            product_code=entry.product_code,
            serial=entry.serial,
            batch=record.batch if record is not None else "?",
            expiry=None,
            expiry_raw=expiry.strftime("%y%m%d"),
        )


class MockHubClient:
    """A `HubClient` on a `MockHub`, bound to one location and user."""

    def __init__(self, hub: MockHub, location: str, user: str) -> None:
        self.hub = hub
        self.location = location
        self.user = user

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult:
        """Verify a pack (informational: an inactive pack is a success with its reasons)."""
        return await self.hub._call(self._request("verify", ui), trx)

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult:
        """Set an active pack inactive with reason `to`."""
        return await self.hub._call(self._request("decommission", ui, to), trx)

    async def undo(
        self,
        ui: PackIdentifier,
        from_: Reason,
        *,
        trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult:
        """Revert a decommission (DR Art. 13)."""
        return await self.hub._call(self._request("undo", ui, from_, ref_trx), trx)

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many packs in one request. As on a bulk wire, the items' trx ids are not carried:
        each gets a new one, so a bulk sent again is processed again."""
        requests = [(self._request(item.operation, item.ui, item.to), None) for item in items]
        return await self.hub._call_bulk(self.location, requests)

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many operations in one request, each under its own trx id (a replay is recognised)."""
        requests = [
            (self._request(item.operation, item.ui, item.to, item.ref_trx), item.trx)
            for item in items
        ]
        return await self.hub._call_bulk(self.location, requests)

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        """A pack keyed in by hand: what the entry lacks (batch, expiry) is taken from the
        hub's own record of the pack, where manual entry allows it (supply, stolen)."""
        missing = missing_fields(entry, to)
        if missing is not None:
            return HubResult(
                outcome="invalid_request",
                return_code=rc.SCHEMA_VIOLATION,
                client_trx_id=trx or "",
                message=f"manual entry: {missing}",
            )
        ui = entry_ui(entry, self.hub.clock().year) or self.hub._recorded_ui(entry)
        operation: Operation = "verify" if to is None else "decommission"
        return await self.hub._call(self._request(operation, ui, to), trx)

    async def ping(self) -> None:
        """Check the hub is reachable; raises HubUnavailable on an injected timeout."""
        await self.hub.ping()

    def _request(
        self,
        operation: Operation,
        ui: PackIdentifier,
        reason: Reason | None = None,
        ref_trx: str | None = None,
    ) -> Request:
        # Only what goes over the wire identifies a request: the expiry as printed, not the
        # date a parser made of it (a replayed request must equal the one first sent).
        wire_ui = replace(ui, expiry=None) if ui.expiry is not None else ui
        return Request(operation, wire_ui, self.location, self.user, reason, ref_trx)


def _probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1")
    return value
