"""The NMVS rules: what the hub answers to one request, and how the pack changes.

Checks run in this order; the first that fails answers:
1. syntax (`invalid_request`, see `fmd.hub.validation`);
2. product unknown → PC_01; serial unknown → PC_02; batch unknown → LOT_03;
   not the pack's batch → LOT_13; expiry ≠ the batch's → LOT_12;
3. the operation's own rules (below). A product withdrawn (LOT_08), batch recalled (LOT_01) or
   batch expired (PCK_02) refuses every operation, without alert, except that a decommission of a
   pack already decommissioned gets PCK_22, also without alert.

Decommission of a pack that is already decommissioned answers PCK_22 with an alert at once,
except where the market's profile (`fmd.hub.markets`) tolerates the same location supplying
again a pack it supplied itself: refused for its first `resupply_alert_after - 1` attempts, an
alert from then on (`strict`, the default: 1; `fi`: 3).

Undo (DR Art. 13): PCK_06 alert if the pack is not in `from_`; PCK_27 refused from STOLEN or
DESTROYED; PCK_21 alert from another location; PCK_20 alert after 240 h (none for LOCKED);
FE_TX_01 refused if `ref_trx` is given and is not the decommission's client trx id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fmd.codes.model import PackIdentifier
from fmd.hub import returncodes as rc
from fmd.hub.contract import PACK_LEVEL_REASONS, Operation, Outcome, PackState, Reason
from fmd.hub.markets import MarketProfile
from fmd.hub.registry import Batch, PackRecord, Product, Registry, pack_reasons
from fmd.hub.validation import Invalid, expiry_matches, trx_problem, ui_problem

UNDO_WINDOW = timedelta(hours=240)
"""How long after a decommission it may be undone (Art. 13(b): 10 days), except from LOCKED."""
NO_UNDO = frozenset({Reason.STOLEN, Reason.DESTROYED})
"""Reasons no undo leaves (Art. 13(d): stolen, intended for destruction): refused by the hub."""


@dataclass(frozen=True, slots=True)
class Request:
    """One single-pack transaction as the hub receives it."""

    operation: Operation
    ui: PackIdentifier
    location: str
    user: str
    reason: Reason | None = None
    ref_trx: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The hub's answer to a request; `pack` is the pack's new record when it changed."""

    return_code: str
    outcome: Outcome
    message: str
    state: PackState = PackState.UNKNOWN
    reasons: tuple[Reason, ...] = ()
    pack: PackRecord | None = None
    state_changed: bool = False


def verdict(code: str, outcome: Outcome, detail: str = "") -> Verdict:
    """A verdict that reveals no pack state (the pack was not identified)."""
    return Verdict(code, outcome, rc.describe(code, detail))


def judge(
    registry: Registry,
    request: Request,
    *,
    client_trx: str,
    now: datetime,
    market: MarketProfile,
) -> Verdict:
    """Apply the NMVS rules to one request; the caller stores `Verdict.pack` if set."""
    invalid = _request_problem(request)
    if invalid is not None:
        return verdict(invalid.code, "invalid_request", invalid.message)
    ui = request.ui
    product = registry.products.get(ui.product_code)
    if product is None or product.scheme != ui.scheme:
        return verdict(rc.UNKNOWN_PRODUCT, "refused", f"{ui.scheme} {ui.product_code}")
    pack = registry.packs.get((ui.product_code, ui.serial))
    if pack is None:
        return verdict(rc.UNKNOWN_SERIAL, "alert", ui.serial)
    if (ui.product_code, ui.batch) not in registry.batches:
        return verdict(rc.UNKNOWN_BATCH, "alert", ui.batch)
    if ui.batch != pack.batch:
        return verdict(rc.BATCH_MISMATCH, "alert", ui.batch)
    batch = registry.batches[ui.product_code, pack.batch]
    if not expiry_matches(ui.expiry_raw, batch.expiry):
        return verdict(rc.EXPIRY_MISMATCH, "alert", ui.expiry_raw)
    pack_check = _PackCheck(product, batch, pack, request, now)
    if request.operation == "verify":
        return pack_check.verify()
    if request.operation == "decommission":
        return pack_check.decommission(client_trx, market)
    return pack_check.undo()


def _request_problem(request: Request) -> Invalid | None:
    problem = ui_problem(request.ui)
    if problem is not None:
        return problem
    if request.operation != "verify" and request.reason not in PACK_LEVEL_REASONS:
        return Invalid(rc.SCHEMA_VIOLATION, f"no {request.operation} with reason {request.reason}")
    if request.ref_trx is not None:
        return trx_problem(request.ref_trx)
    return None


class _PackCheck:
    """The operation rules for an identified pack."""

    def __init__(
        self, product: Product, batch: Batch, pack: PackRecord, request: Request, now: datetime
    ) -> None:
        self.product, self.batch, self.pack = product, batch, pack
        self.request, self.now = request, now
        self.reasons = pack_reasons(product, batch, pack, now.date())

    def verify(self) -> Verdict:
        blocked = self._blocked()
        if blocked is not None:
            return self._answer(blocked, "refused")
        detail = f"INACTIVE ({', '.join(self.reasons)})" if self.reasons else "ACTIVE"
        return self._answer(rc.SUCCESS, "ok", detail)

    def decommission(self, client_trx: str, market: MarketProfile) -> Verdict:
        pack, request = self.pack, self.request
        if pack.reason is not None:
            if self._blocked() is not None:
                return self._answer(rc.ALREADY_INACTIVE, "refused", "batch or product inactive")
            if (
                pack.reason == request.reason == Reason.SUPPLIED
                and pack.location == request.location
            ):
                attempts = pack.resupply_attempts + 1
                outcome: Outcome = "alert" if attempts >= market.resupply_alert_after else "refused"
                detail = f"supplied again by this location, attempt {attempts}"
                return self._answer(
                    rc.ALREADY_INACTIVE, outcome, detail, replace(pack, resupply_attempts=attempts)
                )
            return self._answer(rc.ALREADY_INACTIVE, "alert", pack.reason)
        blocked = self._blocked()
        if blocked is not None:
            return self._answer(blocked, "refused")
        changed = PackRecord(
            pack.batch, request.reason, request.location, request.user, self.now, client_trx
        )
        return self._change(changed)

    def undo(self) -> Verdict:
        pack, request = self.pack, self.request
        blocked = self._blocked()
        if blocked is not None:
            return self._answer(blocked, "refused")
        if pack.reason != request.reason:
            return self._answer(rc.UNDO_STATUS_MISMATCH, "alert", f"pack is not {request.reason}")
        if pack.reason in NO_UNDO:
            return self._answer(rc.STATUS_CHANGE_FAILED, "refused", f"no undo from {pack.reason}")
        if pack.location != request.location:
            return self._answer(rc.UNDO_OTHER_LOCATION, "alert")
        if pack.reason != Reason.LOCKED and (pack.at is None or self.now - pack.at > UNDO_WINDOW):
            return self._answer(rc.UNDO_TOO_LATE, "alert", "more than 240 hours")
        if request.ref_trx is not None and request.ref_trx != pack.trx:
            return self._answer(rc.WRONG_REF_TRX, "refused", request.ref_trx)
        return self._change(PackRecord(pack.batch))

    def _blocked(self) -> str | None:
        """The code refusing any operation on a withdrawn, recalled or expired pack."""
        if self.product.withdrawn:
            return rc.PRODUCT_WITHDRAWN
        if self.batch.recalled:
            return rc.BATCH_RECALLED
        if self.batch.expiry < self.now.date():
            return rc.PACK_EXPIRED
        return None

    def _answer(
        self, code: str, outcome: Outcome, detail: str = "", pack: PackRecord | None = None
    ) -> Verdict:
        reasons = self.reasons
        state = PackState.INACTIVE if reasons else PackState.ACTIVE
        return Verdict(code, outcome, rc.describe(code, detail), state, reasons, pack)

    def _change(self, pack: PackRecord) -> Verdict:
        reasons = pack_reasons(self.product, self.batch, pack, self.now.date())
        state = PackState.INACTIVE if reasons else PackState.ACTIVE
        return Verdict(
            rc.SUCCESS, "ok", rc.describe(rc.SUCCESS), state, reasons, pack, state_changed=True
        )
