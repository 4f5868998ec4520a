"""The WWKS2 robot simulator's settings, faults, script packs and outcomes (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from wwks2.messages import InputHandling, InputMessage, InputResult


@dataclass(frozen=True, slots=True)
class RobotSettings:
    """How the simulated robot is set up. `valid_destinations` empty: any OutputDestination."""

    host: str = "127.0.0.1"
    port: int = 0
    subscriber: int = 999
    components: tuple[int, ...] = (40, 41)
    capacity: int = 1000
    move_time_s: float = 0.0
    answer_deadline_s: float = 5.0
    hello_within_s: float = 5.0
    keepalive_every_s: float | None = 10.0
    retry_missing: bool = True
    valid_destinations: frozenset[int] = frozenset()
    manufacturer: str = "BD Rowa"
    product_info: str = "Vmax (fmd-robot simulator)"
    version_info: str = "2.0"
    storage_description: str = "Vmax 1"


class Malformed(StrEnum):
    """A message the robot can be told to send that its client cannot use."""

    BROKEN_XML = "broken-xml"
    UNKNOWN_ELEMENT = "unknown-element"
    OVERSIZED = "oversized"


@dataclass(slots=True)
class Faults:
    """Faults, changed at any time while the robot runs (`sim.faults.reply_delay_s = 1`).

    `drop_after`: drop every connection once that many more messages have come in (then None);
    `reply_delay_s`: wait before each reply; `ignore`: lead elements left unanswered (an
    ignored InputResponse is a lost answer); `lower_case_escapes`: `\\x1d` as the live robot
    writes it; `raw_control_characters`: control characters sent raw instead of `\\xHH`;
    `malformed_after_hello`: one such message right after each HelloResponse."""

    drop_after: int | None = None
    reply_delay_s: float = 0.0
    ignore: frozenset[str] = frozenset()
    lower_case_escapes: bool = False
    raw_control_characters: bool = False
    malformed_after_hello: Malformed | None = None


@dataclass(frozen=True, slots=True)
class ScanPack:
    """One pack of the script: the raw code the robot scans and what the line says about it.

    `batch`, `serial`, `expiry`, `article`: what the robot reports instead of its own parse of
    the code; `read` False: the robot reports no parse at all (only ScanCode and Article Id
    given); `is_return`: IsNewDelivery False; `component`: the input's Source id; `stocked`:
    already on the shelf, stored without an InputRequest (autonomous stock-in)."""

    code: str
    batch: str | None = None
    serial: str | None = None
    expiry: date | None = None
    article: str | None = None
    delivery_number: str | None = None
    is_return: bool = False
    component: int | None = None
    stocked: bool = False
    read: bool = True


@dataclass(frozen=True, slots=True)
class ShelfPack:
    """A pack on the shelf."""

    id: int
    article_id: str
    scan_code: str
    batch: str | None
    serial: str | None
    expiry: date | None
    stocked_at: datetime
    delivery_number: str | None = None


@dataclass(frozen=True, slots=True)
class InputOutcome:
    """How one fed pack ended: the last answer (None when none came in time), whether an
    answer came too late, the pack's shelf Id (0: not stored) and the InputMessage sent."""

    pack: ScanPack
    request_id: str
    component: int
    handling: InputHandling | None
    late: bool
    pack_id: int
    message: InputMessage = field(repr=False)

    @property
    def stored(self) -> bool:
        return self.message.articles[0].packs[0].handling.input is InputResult.COMPLETED


@dataclass(frozen=True, slots=True)
class Wire:
    """One message in or out: its lead element, Id, the clock's time, the connection's number;
    `note` says what was odd about it (late, unprocessed, ignored, skipped, before-hello)."""

    direction: str  # "in" or "out"
    lead: str
    id: str | None
    at: float
    connection: int
    note: str | None = None
