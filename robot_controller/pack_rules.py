"""What a person may do to one pack at the hub (`fmd-robot pack …`), decided from the log alone,
before anything is committed or sent (pure).

destroy, lock, stolen, export and sample decommission the pack (DESTROYED, LOCKED, STOLEN,
EXPORTED, SAMPLE); undo reverts this site's decommission that stands, unlock the one that locked
it. Refused, with the reason, when:

- the pack has no route yet (it is being loaded, or a crash left it: recovery takes it), or a
  change for it still waits in the outbox;
- a decommission: one stands already (the hub would raise an alert for a second one);
- an undo (DR Art. 13, `fmd.hub.rules`): no decommission of ours stands; it was made at other
  premises (`[site] location`; an intent from before the location was kept counts as this
  site's); its reason allows none (STOLEN, DESTROYED); more than 240 h have passed (not for
  LOCKED, which has no limit); the pack is expired. The hub would answer most of these with an
  alert, one we would have raised ourselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from fmd.codes.dates import parse_yymmdd
from fmd.codes.model import PackIdentifier
from fmd.hub.contract import Reason
from fmd.hub.rules import NO_UNDO, UNDO_WINDOW
from robot_controller.states import HubOperation, IntentStatus, Route
from robot_controller.store import Intent
from robot_controller.store.records import KnownPack

SHORT_WINDOW: Final = timedelta(hours=24)
"""Less than this left to undo a decommission is told (by the command, and by the daemon)."""


class PackAction(StrEnum):
    """What `fmd-robot pack ACTION` does."""

    UNDO = "undo"
    DESTROY = "destroy"
    LOCK = "lock"
    UNLOCK = "unlock"
    STOLEN = "stolen"
    EXPORT = "export"
    SAMPLE = "sample"


DECOMMISSION_TO: Final = {
    PackAction.DESTROY: Reason.DESTROYED,
    PackAction.LOCK: Reason.LOCKED,
    PackAction.STOLEN: Reason.STOLEN,
    PackAction.EXPORT: Reason.EXPORTED,
    PackAction.SAMPLE: Reason.SAMPLE,
}
UNDOS: Final = frozenset({PackAction.UNDO, PackAction.UNLOCK})


WHAT: Final[dict[PackAction, str]] = {
    PackAction.UNDO: "Undo this site's decommission of the pack (Art. 13: at these premises, "
    "within 240 h, not from STOLEN or DESTROYED, not expired).",
    PackAction.DESTROY: "Decommission the pack as DESTROYED (no undo from it).",
    PackAction.LOCK: "Decommission the pack as LOCKED (undone by `pack unlock`, with no limit).",
    PackAction.UNLOCK: "Undo the pack's LOCKED decommission.",
    PackAction.STOLEN: "Decommission the pack as STOLEN (no undo from it).",
    PackAction.EXPORT: "Decommission the pack as EXPORTED (out of the EU).",
    PackAction.SAMPLE: "Decommission the pack as SAMPLE.",
}
"""What each action does, in words (the command's help, the screens' form)."""


class ActionRefused(Exception):
    """A pack action that must not be committed or sent (one line: why)."""


@dataclass(frozen=True, slots=True)
class Planned:
    """The intent a pack action commits: on the pack's token (None: the pack was never seen
    here, its scan is recorded first), for this identifier; `deadline`: an undo's (None: no
    limit, or not an undo); `shelved`: the log has the pack on the robot's shelf, which the
    robot would dispense as the hub now holds it (someone must take it off)."""

    token: int | None
    ui: PackIdentifier
    operation: HubOperation
    reason: Reason
    deadline: datetime | None = None
    shelved: bool = False


def standing_decommission(history: Sequence[Intent]) -> Intent | None:
    """The decommission in force among a pack's intents, oldest first: the newest change that
    landed, when it is a decommission (a confirm that landed is one); None when none landed or
    an undo came after it."""
    landed = [
        i
        for i in history
        if i.status is IntentStatus.DONE
        and i.operation in (HubOperation.DECOMMISSION, HubOperation.CONFIRM, HubOperation.UNDO)
    ]
    if not landed or landed[-1].operation is HubOperation.UNDO:
        return None
    return landed[-1]


def undo_deadline(change: Intent) -> datetime | None:
    """Until when a decommission (or the undo of one) may be sent: 240 h after the
    decommission was committed (earlier than the hub applied it: on the safe side); None for
    LOCKED, which has no limit."""
    return None if change.reason is Reason.LOCKED else change.created_at + UNDO_WINDOW


def undo_deadlines_due(
    changes: Sequence[Intent], *, location: str | None, now: datetime
) -> dict[int, datetime]:
    """The packs (token → deadline) whose standing decommission among `changes` (the landed
    changes of some packs, oldest first) may be undone here for less than `SHORT_WINDOW`
    more (pure): not LOCKED (no limit), nor from a reason that allows no undo, nor made at
    other premises (`location` None: any)."""
    by_pack: dict[int, list[Intent]] = {}
    for change in changes:
        by_pack.setdefault(change.token, []).append(change)
    due = {}
    for token, history in by_pack.items():
        standing = standing_decommission(history)
        if standing is None or standing.reason in NO_UNDO:
            continue
        if None not in (location, standing.location) and standing.location != location:
            continue
        deadline = undo_deadline(standing)
        if deadline is not None and now <= deadline < now + SHORT_WINDOW:
            due[token] = deadline
    return due


def time_left(deadline: datetime, now: datetime) -> str:
    """The time left before a deadline, in words: `5 h 12 min`."""
    minutes = max(0, int((deadline - now).total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60} min"


def cautions(planned: Planned, token: int, now: datetime, *, done: bool) -> tuple[str, ...]:
    """What the person must be told of a committed action (pure): an undo with less than
    `SHORT_WINDOW` left of its window while it is not `done`, and a pack the log has on the
    robot's shelf (which the robot would dispense as the hub now holds it)."""
    told: list[str] = []
    deadline = planned.deadline
    if deadline is not None and deadline - now < SHORT_WINDOW and not done:
        told.append(f"{time_left(deadline, now)} left of the 240 h undo window "
                    f"(until {deadline:%Y-%m-%d %H:%M} UTC)")  # fmt: skip
    if planned.shelved:
        told.append(f"the log has pack {token} on the robot's shelf: take it off the shelf, or "
                    "the robot dispenses it as the hub now holds it")  # fmt: skip
    return tuple(told)


def plan(
    action: PackAction,
    known: KnownPack | None,
    *,
    scanned: PackIdentifier | None,
    location: str,
    now: datetime,
) -> Planned:
    """The intent `action` commits for a pack the log knows as `known` (None: never seen
    here), `scanned` when its scan was given; `ActionRefused` naming the rule otherwise."""
    if known is None:
        if action in UNDOS:
            raise ActionRefused("never seen here: no decommission of ours to undo")
        if scanned is None:
            raise ActionRefused("never seen here: give its scan (--scan RAW) to record it")
        return Planned(None, scanned, HubOperation.DECOMMISSION, DECOMMISSION_TO[action])
    name = f"pack {known.token}"
    if known.route is None:
        raise ActionRefused(
            f"{name} has no route yet: it is being loaded, or a crash left it (the daemon's "
            "next start recovers it)"
        )
    if any(
        i.status is IntentStatus.PENDING and i.operation is not HubOperation.VERIFY
        for i in known.intents
    ):
        raise ActionRefused(
            f"a change for {name} still waits in the outbox: it is sent first (the running "
            "daemon, or `fmd-robot outbox replay`)"
        )
    standing = standing_decommission(known.intents)
    shelved = known.route is Route.SHELVED
    if action in UNDOS:
        return replace(_undo(action, standing, name, location, now), shelved=shelved)
    if standing is not None:
        undo = "unlock" if standing.reason is Reason.LOCKED else "undo"
        raise ActionRefused(
            f"{name} is decommissioned here already ({standing.reason}): a second "
            f"decommission raises an alert at the hub; {undo} it first (`fmd-robot pack {undo}`)"
        )
    ui = scanned or known.ui
    if ui is None:
        raise ActionRefused(f"{name} was seen without its batch and expiry: give its scan (--scan)")
    return Planned(
        known.token, ui, HubOperation.DECOMMISSION, DECOMMISSION_TO[action], shelved=shelved
    )


class UndoBar(StrEnum):
    """What in Art. 13 forbids undoing a decommission (`undo_barred`)."""

    OTHER_PREMISES = "other-premises"
    NO_UNDO_REASON = "no-undo-reason"  # STOLEN, DESTROYED
    PAST_WINDOW = "past-window"
    EXPIRED = "expired"


def undo_barred(
    standing: Intent, *, location: str | None, now: datetime, name: str
) -> tuple[UndoBar, str] | None:
    """Why DR Art. 13 forbids undoing the decommission `standing` here now, in words naming
    the pack `name` (None: it allows it). `location` None: the premises are not checked; an
    intent from before the location was kept counts as this site's."""
    reason = standing.reason
    if None not in (standing.location, location) and standing.location != location:
        return UndoBar.OTHER_PREMISES, (
            f"{name} was decommissioned at {standing.location}, not here ({location}): Art. 13 "
            "allows the undo at the same premises only"
        )
    if reason in NO_UNDO:
        return UndoBar.NO_UNDO_REASON, (
            f"{name} was decommissioned as {reason}: Art. 13 allows no undo from it (the hub "
            "refuses it)"
        )
    deadline = undo_deadline(standing)
    if deadline is not None and now > deadline:
        return UndoBar.PAST_WINDOW, (
            f"{name} was decommissioned at {standing.created_at:%Y-%m-%d %H:%M} UTC, more than "
            "240 h ago: Art. 13 allows no undo now, and the pack must not return to stock"
        )
    expiry = parse_yymmdd(standing.ui.expiry_raw, now.year).value
    if expiry is None or expiry < now.date():
        printed = standing.ui.expiry_raw
        return UndoBar.EXPIRED, (
            f"{name} is expired ({printed}): Art. 13 allows no undo of an expired pack"
            if expiry is not None
            else f"{name}'s expiry {printed!r} is no date: Art. 13 cannot be checked"
        )
    return None


def _undo(
    action: PackAction, standing: Intent | None, name: str, location: str, now: datetime
) -> Planned:
    """The undo of the decommission that stands (Art. 13, see the module)."""
    if standing is None or standing.reason is None:
        raise ActionRefused(f"{name}: no decommission of ours stands at the hub: nothing to undo")
    reason = standing.reason
    if action is PackAction.UNLOCK and reason is not Reason.LOCKED:
        raise ActionRefused(f"{name} is not locked: its decommission here is {reason}")
    barred = undo_barred(standing, location=location, now=now, name=name)
    if barred is not None:
        raise ActionRefused(barred[1])
    return Planned(standing.token, standing.ui, HubOperation.UNDO, reason, undo_deadline(standing))
