"""The contract every NMVS hub client keeps: states, reasons, results and `HubClient`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, Protocol, runtime_checkable

from fmd.codes.model import PackIdentifier, Scheme


class PackState(StrEnum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    UNKNOWN = "UNKNOWN"


class Reason(StrEnum):
    """Why a pack is inactive (Arvato NMVS catalogue)."""

    # pack level: set by an end user
    SUPPLIED = "SUPPLIED"
    DESTROYED = "DESTROYED"
    LOCKED = "LOCKED"
    EXPORTED = "EXPORTED"
    SAMPLE = "SAMPLE"
    FREE_SAMPLE = "FREESAMPLE"
    STOLEN = "STOLEN"
    CHECKED_OUT = "CHECKED_OUT"
    # batch level
    RECALLED = "RECALLED"
    EXPIRED = "EXPIRED"
    # product level
    WITHDRAWN = "WITHDRAWN"


PACK_LEVEL_REASONS = frozenset(
    {
        Reason.SUPPLIED,
        Reason.DESTROYED,
        Reason.LOCKED,
        Reason.EXPORTED,
        Reason.SAMPLE,
        Reason.FREE_SAMPLE,
        Reason.STOLEN,
        Reason.CHECKED_OUT,
    }
)

Outcome = Literal[
    "ok", "refused", "alert", "technical", "rate_limited", "invalid_request", "login_failed"
]
"""`login_failed` is never returned by a client (it raises `HubAuthFailed`): it records, for a
pack, that the hub refused our credentials when it was asked."""
Operation = Literal["verify", "decommission", "undo"]


class HubUnavailable(Exception):
    """The hub could not be reached or did not answer (timeout, TLS, connection)."""


class HubAuthFailed(HubUnavailable):
    """The hub refused our credentials (login fields, client certificate, client secret).

    Nothing was applied, so whoever keeps work pending on `HubUnavailable` is right to; but it
    is a configuration fault, not an outage: it is never retried, never opens the breaker, and
    the daemon does not start on it. The message names the credential to fix (never its value);
    `code` is the hub's return code (`NMVS_FE_AU_xx`, `NMVS_FE_PKI_xx`).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class HubResult:
    """What the hub answered to one transaction."""

    outcome: Outcome
    return_code: str
    state: PackState = PackState.UNKNOWN
    reasons: tuple[Reason, ...] = ()
    client_trx_id: str = ""
    hub_trx_id: str = ""
    at: datetime | None = None
    alert_id: str | None = None
    message: str = ""
    intermarket: bool = False
    latency_s: float = 0.0
    retry_after_s: float | None = None  # a throttled answer's wait, when the hub named one
    product_name: str = ""  # the hub's name of the product, when it gave one
    nhrn: str | None = None  # the national code the hub holds for the product, when it gave one

    @property
    def alert(self) -> bool:
        """True when the hub raised an L5 alert (potential falsification)."""
        return self.outcome == "alert"


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One pack in a bulk request: verify it, decommission it to `to`, or undo its decommission
    from `to` (`ref_trx`: the decommission's client trx id, carried by a mixed bulk only)."""

    ui: PackIdentifier
    operation: Operation = "verify"
    to: Reason | None = None
    trx: str | None = None
    ref_trx: str | None = None


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Answers to a bulk request, one per item in the order of the items.

    An item the hub's answer left out is `technical` with `UNANSWERED`: not done, and for a
    change, perhaps applied (ask the pack's state before sending it again). When a request
    takes several bulks and one gets no answer after others did, its items are `UNANSWERED`
    and those of the bulks after it `technical` with `NOT_SENT`, so the answered ones are kept."""

    hub_trx_id: str
    results: tuple[HubResult, ...] = field(default_factory=tuple)


UNANSWERED = "FMD_UNANSWERED"
"""The return code of a bulk item the hub's answer did not include (our own, never on a wire)."""


def unanswered(trx: str, why: str) -> HubResult:
    """A bulk item the hub gave no answer for (`UNANSWERED`): not done, perhaps applied."""
    return HubResult(
        outcome="technical",
        return_code=UNANSWERED,
        client_trx_id=trx,
        at=datetime.now(UTC),
        message=f"{why}; a change may have been applied: ask the pack's state before sending it "
        "again",
    )


NOT_SENT = "FMD_NOT_SENT"
"""The return code of a bulk item not sent, because an earlier bulk of the same call got no
answer (our own, never on a wire): nothing applied."""


@dataclass(frozen=True, slots=True)
class ManualEntry:
    """A pack whose code cannot be scanned, keyed in by hand from its printed text.

    Product code and serial always; batch and expiry (`YYMMDD` as printed) when keyed in too:
    a verify needs them (Arvato G110), a supply or stolen report does not (G122, G182)."""

    scheme: Scheme
    product_code: str
    serial: str
    batch: str | None = None
    expiry_raw: str | None = None


@runtime_checkable
class HubClient(Protocol):
    """A connection to the national verification system, bound to one location and user."""

    async def verify(self, ui: PackIdentifier, *, trx: str | None = None) -> HubResult: ...

    async def decommission(
        self, ui: PackIdentifier, to: Reason, *, trx: str | None = None
    ) -> HubResult: ...

    async def undo(
        self,
        ui: PackIdentifier,
        from_: Reason,
        *,
        trx: str | None = None,
        ref_trx: str | None = None,
    ) -> HubResult: ...

    async def bulk(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many packs at once, as the hub's bulk transactions carry them (grouped by operation,
        product and batch); per-item trx ids are not carried."""
        ...

    async def mixed(self, items: Sequence[BulkItem]) -> BulkResult:
        """Many operations in one request (a mixed bulk), each item with its own trx id (and
        `ref_trx` for an undo), so a replay of the same items is recognised by the hub."""
        ...

    async def manual(
        self, entry: ManualEntry, to: Reason | None = None, *, trx: str | None = None
    ) -> HubResult:
        """A pack keyed in by hand: verify it (`to` None) or decommission it to `to`; a request
        the hub's manual entry cannot carry is `invalid_request`, not sent."""
        ...

    async def ping(self) -> None: ...
