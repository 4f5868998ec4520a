"""Returns: a pack this site dispensed or took out comes back to the robot (WWKS2
`IsNewDelivery="False"`), decided from the log's view of it and the hub's answer (pure).

| the log, then the hub | hospital (supplied at stock-in) | community (supplied at hand-out) |
|---|---|---|
| on the shelf (or in flight) | quarantined: a twin | the same |
| a change of it waits in the outbox | rejected, not yet | the same |
| never seen, or never decommissioned here | rejected | the same |
| expired (its code) | rejected | the same |
| decommissioned STOLEN or DESTROYED | rejected | the same |
| decommissioned otherwise than SUPPLIED | rejected: a person decides | the same |
| SUPPLIED at other premises | rejected | the same |
| SUPPLIED more than 240 h ago | allowed (no undo is needed) | rejected |
| its SUPPLIED undone here since | rejected: stock it in as a delivery | asked: ACTIVE → allowed |
| no answer from the hub in time | rejected, not yet | the same |
| an alert | quarantined | the same |
| expired, recalled, withdrawn at the hub | rejected | the same |
| the hub holds it INACTIVE SUPPLIED | allowed, no hub change | undone, then allowed |
| the hub holds it otherwise | rejected: the log and the hub disagree | the same |
| the undo: landed / unanswered / refused | | allowed / rejected, not yet / rejected |

The undo is asked for only where Art. 13 allows it (`pack_rules.undo_barred`); its answer
(`after_undo`) comes from the outbox, which settles an unanswered one later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from fmd.codes.model import PackIdentifier
from fmd.hub.contract import HubResult, PackState, Reason
from fmd.policy import Action, Decision, Mode, Why, describe
from robot_controller.pack_rules import UndoBar, standing_decommission, undo_barred
from robot_controller.states import HubOperation, IntentStatus
from robot_controller.store import Intent
from robot_controller.store.packs import LANDED_CHANGES

BARS: Final = {
    UndoBar.OTHER_PREMISES: Why.RETURN_OTHER_PREMISES,
    UndoBar.PAST_WINDOW: Why.RETURN_PAST_WINDOW,
    UndoBar.EXPIRED: Why.RETURN_EXPIRED,
}
NO_UNDO_WHY: Final = {Reason.STOLEN: Why.RETURN_STOLEN, Reason.DESTROYED: Why.RETURN_DESTROYED}
AGAIN_LATER = "put it in again later"


@dataclass(frozen=True, slots=True)
class Logged:
    """What the log knows of a returned pack: whether it was ever seen here, whether it is on
    the shelf (or in flight), whether a change of it waits in the outbox, and every outbox
    intent of it, oldest first."""

    seen: bool
    on_shelf: bool
    change_pending: bool
    history: Sequence[Intent] = ()

    @property
    def standing(self) -> Intent | None:
        """The decommission of ours that stands (`pack_rules.standing_decommission`)."""
        return standing_decommission(self.history)

    @property
    def undone(self) -> bool:
        """The last change of it that landed is an undo of ours: the hub holds it active."""
        landed = [
            i
            for i in self.history
            if i.status is IntentStatus.DONE and i.operation in LANDED_CHANGES
        ]
        return bool(landed) and landed[-1].operation is HubOperation.UNDO


@dataclass(frozen=True, slots=True)
class Undo:
    """The hub confirmed the decommission `of`: in community mode it is undone before the
    pack is allowed."""

    of: Intent


def refuse(why: Why, message: str, action: Action = Action.REJECT) -> Decision:
    return Decision(action, why, message)


def before_hub(
    logged: Logged,
    ui: PackIdentifier,
    *,
    mode: Mode,
    location: str | None,
    now: datetime,
) -> Decision | None:
    """A refusal from the log alone (and the code's expiry), or None: ask the hub."""
    if logged.on_shelf:
        return refuse(
            Why.DUPLICATE, "returned, but the log has this pack on the shelf", Action.QUARANTINE
        )
    if logged.change_pending:
        return refuse(
            Why.RETURN_NOT_YET, f"a change of this pack still waits for the hub: {AGAIN_LATER}"
        )
    if not logged.seen:
        return refuse(Why.RETURN_NOT_DECOMMISSIONED_HERE, "never seen here")
    if ui.expiry is None:
        return refuse(Why.EXPIRY_INVALID, f"expiry {ui.expiry_raw} is no date")
    if ui.expiry < now.date():
        return refuse(Why.RETURN_EXPIRED, f"expired {ui.expiry.isoformat()}")
    standing = logged.standing
    if standing is None:
        if logged.undone and mode == "community":
            return None  # the hub is asked: active, it is allowed as it is
        why = "its decommission here was undone" if logged.undone else "no decommission of ours"
        return refuse(Why.RETURN_NOT_DECOMMISSIONED_HERE, f"{why}: stock it in as a delivery")
    if standing.reason in NO_UNDO_WHY:
        return refuse(NO_UNDO_WHY[standing.reason], f"decommissioned here as {standing.reason}")
    if standing.reason is not Reason.SUPPLIED:
        return refuse(
            Why.RETURN_REFUSED,
            f"decommissioned here as {standing.reason}, not supplied: a person decides "
            "(`fmd-robot pack undo`)",
        )
    barred = undo_barred(standing, location=location, now=now, name="the pack")
    if barred is None:
        return None
    bar, words = barred
    if mode == "hospital" and bar is UndoBar.PAST_WINDOW:
        return None  # it stays supplied: no undo is needed
    return refuse(BARS[bar], words)


def after_verify(logged: Logged, result: HubResult | None, *, mode: Mode) -> Decision | Undo:
    """The decision on the hub's verify answer (None: none in time), or the undo to send."""
    if result is None or result.outcome in ("technical", "rate_limited"):
        return refuse(Why.RETURN_NOT_YET, f"no answer from the hub in time: {AGAIN_LATER}")
    if result.outcome == "login_failed":
        return refuse(Why.HUB_LOGIN_FAILED, describe(result))
    if result.alert:
        return refuse(Why.ALERT, describe(result), Action.QUARANTINE)
    reasons = set(result.reasons)
    if Reason.EXPIRED in reasons:
        return refuse(Why.RETURN_EXPIRED, describe(result))
    if Reason.RECALLED in reasons:
        return refuse(Why.RETURN_RECALLED, describe(result))
    if Reason.WITHDRAWN in reasons:
        return refuse(Why.WITHDRAWN, describe(result))
    if result.outcome != "ok":
        return refuse(Why.RETURN_REFUSED, describe(result))
    standing = logged.standing
    if standing is None:  # `before_hub` let only an undone one through (community)
        if result.state is PackState.ACTIVE:
            return Decision(Action.SHELVE, Why.RETURN_ACCEPTED, "active: its supply was undone")
        return _disagrees(result, "its supply undone")
    if result.state is PackState.INACTIVE and Reason.SUPPLIED in reasons:
        if mode == "community":
            return Undo(standing)
        return Decision(
            Action.SHELVE,
            Why.RETURN_ACCEPTED,
            f"still supplied at the hub, as decommissioned here {standing.created_at:%Y-%m-%d}",
        )
    return _disagrees(result, "supplied here")


def after_undo(undo: Intent) -> Decision:
    """The decision once the outbox has sent the undo (`undo` as it left it)."""
    code = undo.last_code or ""
    if undo.status is IntentStatus.DONE:
        return Decision(Action.SHELVE, Why.RETURN_ACCEPTED, f"its supply undone {code}".strip())
    if undo.status is IntentStatus.PENDING:
        return refuse(
            Why.RETURN_NOT_YET,
            f"no answer to the undo in time: the outbox settles it; {AGAIN_LATER}",
        )
    if undo.status is IntentStatus.FLAGGED:
        return refuse(Why.RETURN_PAST_WINDOW, "the undo window passed before it was sent")
    return refuse(Why.RETURN_REFUSED, f"the hub refused the undo {code}".strip())


def _disagrees(result: HubResult, logged: str) -> Decision:
    held = "/".join(result.reasons) or "-"
    return refuse(
        Why.RETURN_REFUSED,
        f"the log has it {logged}, the hub holds it {result.state} ({held}): a person checks",
    )
