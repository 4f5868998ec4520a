"""The alert register's rules: the states of an alert case, its closing causes, and which
transitions are allowed (pure; the store applies them, `store/alert_register.py`).

Every hub alert opens a case (`open`). It is investigated (`investigating`) and closed with a
cause, or closed at once; a closed case is final. Each transition names who made it and why.
The causes follow how the NMVOs describe closing an end user's alert (audit-ui.md §3.2, §3.3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AlertState(StrEnum):
    """Where an alert case stands."""

    OPEN = "open"
    INVESTIGATING = "investigating"
    CLOSED = "closed"  # final


class AlertCause(StrEnum):
    """Why an alert case was closed."""

    SCANNER_OR_PROCESS_ERROR = "scanner-or-process-error"  # our scanner, data entry or process
    UNDONE_WITHIN_WINDOW = "undone-within-window"  # our own decommission, undone (Art. 13)
    REPORTED_TO_AUTHORITY = "reported-to-authority"  # a confirmed suspect, reported
    RETURNED_TO_SUPPLIER = "returned-to-supplier"  # sent back, as agreed with the MAH/supplier


NEXT: dict[AlertState, tuple[AlertState, ...]] = {
    AlertState.OPEN: (AlertState.INVESTIGATING, AlertState.CLOSED),
    AlertState.INVESTIGATING: (AlertState.CLOSED,),
    AlertState.CLOSED: (),
}
"""The states a case in each state may move to."""

CAUSES = ", ".join(AlertCause)
_CAUSE_VALUES = frozenset(cause.value for cause in AlertCause)


class TransitionRefused(Exception):
    """A transition the register does not allow; the message is one line naming what is."""


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of a case's state: who made it, when and why (`cause` only when closing)."""

    from_state: AlertState
    to_state: AlertState
    cause: AlertCause | None
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertCase:
    """An alert the hub raised for one of our packs, and where its case stands."""

    id: int  # the register's number
    token: int  # the pack
    alert_id: str | None  # the hub's
    return_code: str
    message: str
    raised_at: datetime
    state: AlertState
    cause: AlertCause | None
    updated_at: datetime | None
    product_code: str | None
    serial: str | None
    batch: str | None
    location: str | None  # the premises ([site] location) the pack was at


def allowed(state: AlertState) -> str:
    """The transitions from `state`, in words."""
    targets = NEXT[state]
    return " or ".join(targets) if targets else "none (a closed case is final)"


def transition(
    case: AlertCase, to: str, *, cause: str | None, reason: str, actor: str, at: datetime
) -> Transition:
    """The transition of `case` to state `to`, or `TransitionRefused` naming what is allowed."""
    if not actor.strip():
        raise TransitionRefused("a transition needs the name of who makes it (--actor NAME)")
    if not reason.strip():
        raise TransitionRefused("a transition needs a reason (--reason TEXT)")
    where = f"alert {case.id} is {case.state}"
    if case.state is AlertState.CLOSED:
        closed = f"{where} ({case.cause}): a closed case is final"
        raise TransitionRefused(closed)
    if to not in NEXT[case.state]:
        raise TransitionRefused(f"{where}: it can go to {allowed(case.state)}, not {to!r}")
    target = AlertState(to)
    if target is AlertState.CLOSED:
        if cause is None:
            raise TransitionRefused(f"closing alert {case.id} needs a cause (--cause): {CAUSES}")
        if cause not in _CAUSE_VALUES:
            raise TransitionRefused(f"{cause!r} is not a closing cause: {CAUSES}")
        return Transition(case.state, target, AlertCause(cause), reason.strip(), actor.strip(), at)
    if cause is not None:
        raise TransitionRefused(f"a cause is given only when closing, not going to {target}")
    return Transition(case.state, target, None, reason.strip(), actor.strip(), at)
