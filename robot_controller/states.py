"""The daemon's closed sets, stored and shown by value (the strings never change)."""

from __future__ import annotations

from enum import StrEnum


class Route(StrEnum):
    """Where a pack ended up."""

    SHELVED = "shelved"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"
    RETURNED = "returned"  # never moved: back in the operator's hand
    DISPENSED = "dispensed"  # handed out by the robot (it left the shelf): no longer in stock


class HandOutWhy(StrEnum):
    """Why a pack left by hand-out (the reason a `dispensed` route is shown with)."""

    HANDED_OUT = "handed-out"  # the log had it on the shelf
    NOT_SHELVED_HERE = "not-shelved-here"  # flagged: the log never had it on the shelf
    UNIDENTIFIED = "unidentified"  # flagged: the robot's report names no identifier we read


class HubOperation(StrEnum):
    """What the daemon asks of the hub; an outbox intent is a verify, decommission or undo."""

    VERIFY = "verify"
    DECOMMISSION = "decommission"
    CONFIRM = "confirm"  # a decommission that may have landed already: ask first (an outbox
    # intent of a pack off the shelf: only asked about, never sent again)
    UNDO = "undo"


class IntentStatus(StrEnum):
    """Where an outbox intent stands."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    FLAGGED = "flagged"  # the operator must look
    CANCELLED = "cancelled"  # never sent: the pack did not reach the shelf, or failed its check


class JobStatus(StrEnum):
    """Where a robot job stands in the log."""

    STARTED = "started"
    DONE = "done"
    UNKNOWN = "unknown"  # the robot's outcome never came


class Stage(StrEnum):
    """Which decision of a pack: the first one, or the one settled after its decommission."""

    VERIFY = "verify"
    DECOMMISSION = "decommission"
