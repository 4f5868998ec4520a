"""The loading policy: pure rules that turn a scan and the hub's answer into a route for the pack.

Safe by default: a pack is shelved only when everything is clear (ARCHITECTURE.md invariant 1).
Anything that might be falsified goes to QUARANTINE; a scan that must be read again goes back to
the operator through REJECT; an expired pack is rejected (it is not suspect, just not dispensable).
RETURN is the loader's own: the robot cannot take the pack, so it stays in the operator's hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from fmd.codes.model import ParsedScan, ProblemCode
from fmd.hub.contract import HubResult, PackState, Reason

Mode = Literal["hospital", "community"]
OfflinePolicy = Literal["quarantine", "shelve_then_verify"]
NonSerialisedPolicy = Literal["reject", "shelve"]


class Action(StrEnum):
    SHELVE = "shelve"
    REJECT = "reject"
    QUARANTINE = "quarantine"
    RETURN = "return"  # not loaded: the pack goes back to the operator, nothing changed


class Why(StrEnum):
    """Reason codes carried by every decision (stable strings, stored in the log)."""

    VERIFIED = "verified"
    DECOMMISSIONED = "decommissioned"
    NOT_SERIALISED = "not-serialised"
    UNREADABLE = "unreadable"
    DAMAGED_SCAN = "damaged-scan"
    EXPIRED = "expired"
    EXPIRY_INVALID = "expiry-invalid"
    DUPLICATE = "duplicate-in-stock"
    CHANGE_PENDING = "hub-change-pending"
    ALERT = "alert"
    UNKNOWN_PRODUCT = "unknown-product"
    RECALLED = "recalled"
    WITHDRAWN = "withdrawn"
    INACTIVE = "inactive"
    REFUSED = "hub-refused"
    INVALID_REQUEST = "invalid-request"
    HUB_UNAVAILABLE = "hub-unavailable"
    HUB_LOGIN_FAILED = "hub-login-failed"  # the hub refused our credentials: not an outage
    SHELVED_UNVERIFIED = "shelved-unverified"
    DECOMMISSION_FAILED = "decommission-failed"
    INTERNAL_ERROR = "internal-error"  # the daemon itself failed on this pack
    ROBOT_OUTCOME_UNKNOWN = "robot-outcome-unknown"  # a crash during the pack's robot job
    ROBOT_NOT_READY = "robot-not-ready"  # the robot could not take the pack: back to the operator
    ROBOT_CONFLICT = "robot-conflict"  # another master drives the robot: loading stopped
    ROBOT_DISAGREES = "robot-disagrees"  # the robot's own reading contradicts the scanned code
    BAD_REQUEST = "bad-robot-request"  # the robot's request could not be used (malformed, not ours)
    # a pack this site dispensed coming back (`robot_controller.returns`, DR Art. 13)
    RETURN_ACCEPTED = "return-accepted"
    RETURN_REFUSED = "return-refused"  # the log and the hub disagree, or the hub refused the undo
    RETURN_NOT_YET = "return-not-yet"  # its undo waits for the hub's answer: the outbox settles it
    RETURN_PAST_WINDOW = "return-past-window"  # past the 240 h in which a decommission is undone
    RETURN_OTHER_PREMISES = "return-other-premises"
    RETURN_NOT_DECOMMISSIONED_HERE = "return-not-decommissioned-here"
    RETURN_EXPIRED = "return-expired"
    RETURN_RECALLED = "return-recalled"
    RETURN_STOLEN = "return-stolen"
    RETURN_DESTROYED = "return-destroyed"


@dataclass(frozen=True, slots=True)
class SitePolicy:
    """What the site has chosen. Defaults are the safe ones."""

    mode: Mode = "hospital"
    offline: OfflinePolicy = "quarantine"
    non_serialised: NonSerialisedPolicy = "reject"


@dataclass(frozen=True, slots=True)
class Decision:
    """Where a pack goes and why.

    `decommission_to` asks for a state change before shelving; `verify_later` keeps the pack in
    the outbox to be checked once the hub answers again (it was routed without its answer). With
    both, the state change is deferred too: it is sent after the deferred check comes back clean.
    """

    action: Action
    why: Why
    message: str = ""
    decommission_to: Reason | None = None
    verify_later: bool = False


def decide_before_hub(
    parsed: ParsedScan,
    site: SitePolicy,
    *,
    today: date,
    already_in_stock: bool = False,
    change_pending: bool = False,
) -> Decision | None:
    """The local checks that need no hub: a decision when they settle the route, else None."""
    if not parsed.submit:
        if parsed.ui is None and parsed.has(ProblemCode.NOT_SERIALISED):
            if site.non_serialised == "shelve":
                return Decision(Action.SHELVE, Why.NOT_SERIALISED, "not FMD-serialised")
            return Decision(Action.REJECT, Why.NOT_SERIALISED, "no FMD unique identifier")
        if parsed.ui is not None:
            return Decision(Action.REJECT, Why.DAMAGED_SCAN, _first_error(parsed))
        return Decision(Action.REJECT, Why.UNREADABLE, _first_error(parsed) or "not a pack UI")
    ui = parsed.ui
    if ui is None:  # a scan to submit carries a UI; should one not, it is not a pack
        return Decision(Action.REJECT, Why.UNREADABLE, "not a pack UI")
    if already_in_stock:
        return Decision(Action.QUARANTINE, Why.DUPLICATE, "this UI is already on the shelf")
    if change_pending:  # sending anything now could race the outbox and raise an alert
        return Decision(
            Action.QUARANTINE, Why.CHANGE_PENDING, "a change for this pack still waits for the hub"
        )
    if ui.expiry is None:
        return Decision(Action.QUARANTINE, Why.EXPIRY_INVALID, f"expiry {ui.expiry_raw} is no date")
    if ui.expiry < today:
        return Decision(Action.REJECT, Why.EXPIRED, f"expired {ui.expiry.isoformat()}")
    return None


def decide(
    parsed: ParsedScan,
    result: HubResult | None,
    site: SitePolicy,
    *,
    today: date,
    already_in_stock: bool = False,
) -> Decision:
    """Route a pack from its scan and the hub's answer to verify (None: the hub was unavailable)."""
    local = decide_before_hub(parsed, site, today=today, already_in_stock=already_in_stock)
    if local is not None:
        return local
    if result is None or result.outcome in _UNANSWERED:
        return _unanswered(site, result, deferred=_supply(site))
    hub = _hub_decision(result)
    if hub is not None:
        return hub
    if result.state is not PackState.ACTIVE:
        return Decision(Action.QUARANTINE, Why.INACTIVE, describe(result))
    return Decision(Action.SHELVE, Why.VERIFIED, "active", decommission_to=_supply(site))


def settle_decommission(decision: Decision, result: HubResult | None, site: SitePolicy) -> Decision:
    """Route a pack after the decommission the decision asked for (None: no answer)."""
    if result is None or result.outcome in _UNANSWERED:
        return _unanswered(site, result)
    hub = _hub_decision(result)
    if hub is not None:
        return hub
    if decision.decommission_to in result.reasons:
        return Decision(Action.SHELVE, Why.DECOMMISSIONED, result.return_code)
    return Decision(Action.QUARANTINE, Why.DECOMMISSION_FAILED, describe(result))


def _hub_decision(result: HubResult) -> Decision | None:
    """A diverting decision for an alert, a refusal or a batch/product-level reason, else None."""
    if result.alert:
        return Decision(Action.QUARANTINE, Why.ALERT, describe(result))
    if result.outcome == "invalid_request":
        return Decision(Action.QUARANTINE, Why.INVALID_REQUEST, describe(result))
    reasons = set(result.reasons)
    if Reason.EXPIRED in reasons:
        return Decision(Action.REJECT, Why.EXPIRED, describe(result))
    if Reason.RECALLED in reasons:
        return Decision(Action.QUARANTINE, Why.RECALLED, describe(result))
    if Reason.WITHDRAWN in reasons:
        return Decision(Action.QUARANTINE, Why.WITHDRAWN, describe(result))
    if result.return_code == "NMVS_NC_PC_01":
        return Decision(Action.QUARANTINE, Why.UNKNOWN_PRODUCT, describe(result))
    if result.outcome != "ok":
        return Decision(Action.QUARANTINE, Why.REFUSED, describe(result))
    return None


_UNANSWERED = frozenset({"technical", "rate_limited", "login_failed"})


def _supply(site: SitePolicy) -> Reason | None:
    """The state change a shelved pack needs: a hospital supplies it as it is stocked."""
    return Reason.SUPPLIED if site.mode == "hospital" else None


def _unanswered(
    site: SitePolicy, result: HubResult | None, *, deferred: Reason | None = None
) -> Decision:
    """No usable answer. An outage follows the site's offline policy: quarantine, or shelve
    with the check (and the hospital's decommission, `deferred`) queued for when the hub
    answers again; a refused login is a fault to fix, never a reason to shelve a pack
    unverified: it is quarantined."""
    what = describe(result) if result is not None else "no answer from the hub"
    if result is not None and result.outcome == "login_failed":
        return Decision(Action.QUARANTINE, Why.HUB_LOGIN_FAILED, what, verify_later=True)
    if site.offline == "shelve_then_verify":
        return Decision(
            Action.SHELVE, Why.SHELVED_UNVERIFIED, what, decommission_to=deferred, verify_later=True
        )
    return Decision(Action.QUARANTINE, Why.HUB_UNAVAILABLE, what, verify_later=True)


def describe(result: HubResult) -> str:
    """A hub answer in words: its return code, message and alert id."""
    text = f"{result.return_code} {result.message}".strip()
    return f"{text} (alert {result.alert_id})" if result.alert_id else text


def _first_error(parsed: ParsedScan) -> str:
    errors = parsed.errors
    return errors[0].message if errors else ""
