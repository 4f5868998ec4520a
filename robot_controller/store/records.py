"""What the store hands back besides domain objects: outbox intents, unfinished scans and the
packs on the shelf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fmd.codes.model import PackIdentifier
from fmd.hub.contract import Reason
from fmd.policy import Decision
from robot_controller.states import HubOperation, IntentStatus, Route

DEFAULT_ROBOT = "robot"
"""The robot of a daemon whose configuration names none, and of rows recorded before names."""

MANUAL_SOURCE = "manual"
"""The source of a pack keyed in by hand: its scan's raw text is what was keyed, spelled out."""

KEYED_IN = "keyed-in"
"""Why a pack keyed in by hand ends `returned` as it is recorded: it never goes to the robot."""

OPERATOR_SOURCE = "operator"
"""The source of a pack first seen by a pack action (`fmd-robot pack … --scan RAW`)."""

PACK_ACTION = "pack-action"
"""Why a pack first seen by a pack action ends `returned` as it is recorded."""


@dataclass(frozen=True, slots=True)
class Intent:
    """A state change for the hub, as kept in the outbox."""

    id: int
    token: int
    operation: HubOperation
    reason: Reason | None
    client_trx_id: str
    ui: PackIdentifier
    status: IntentStatus
    attempts: int
    created_at: datetime
    last_code: str | None = None  # the hub's return code when it was last settled
    actor: str | None = None  # who asked for it (None: the daemon)
    note: str | None = None  # that person's reason
    location: str | None = None  # the premises that queued it (None: before 0003, this site)


@dataclass(frozen=True, slots=True)
class Dispensed:
    """A pack the robot handed out, as recorded: its token; `shelved`: the log had it on the
    shelf (else it was recorded now, flagged); `already`: it was recorded dispensed before (a
    repeated report: nothing was written); `intent`: the decommission committed for it."""

    token: int
    shelved: bool
    already: bool = False
    intent: Intent | None = None


@dataclass(frozen=True, slots=True)
class KnownPack:
    """A pack as the store knows it by product code and serial: its newest token, that
    token's route (None: not recorded yet), the full identifier it was last seen with (None:
    only without batch and expiry), and every outbox intent of its tokens, oldest first."""

    token: int
    route: Route | None
    ui: PackIdentifier | None
    intents: tuple[Intent, ...]


@dataclass(frozen=True, slots=True)
class ShelvedPack:
    """A pack the log has on the robot's shelf: its token, identity, the robot's location for
    it (a WWKS2 robot's pack id; None when the robot reported none) and whether it is flagged."""

    token: int
    product_code: str
    serial: str
    location: int | None
    flagged: bool


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A scan without a final outcome, with what a crash may have left half done."""

    token: int
    raw: str
    symbology: str | None
    source: str
    scanned_at: datetime
    decision: Decision | None  # the newest one recorded
    open_intent: Intent | None
    started_job: int | None
    product_name: str = ""  # the hub's name of the product, from its newest answer with one

    @property
    def decided(self) -> bool:
        return self.decision is not None
