"""The robot contract: jobs, their outcomes, machine state, and the `Robot` protocol.

Numbers follow the Modbus register map of DESIGN.md, so every driver speaks the same codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol


class JobCode(IntEnum):
    PLACE_ON_SHELF = 1
    DIVERT_TO_REJECT = 2
    DIVERT_TO_QUARANTINE = 3
    RETRIEVE_TO_QUARANTINE = 4


class JobReason(IntEnum):
    NONE = 0
    FMD_ALERT = 1
    EXPIRED = 2
    UNKNOWN_PRODUCT = 3
    UNREADABLE = 4
    HUB_UNAVAILABLE = 5
    OPERATOR = 6


class JobResult(IntEnum):
    STORED = 1
    REJECTED = 2
    QUARANTINED = 3
    RETRIEVED = 4
    REFUSED_NOT_READY = 10
    REFUSED_BAD_COMMAND = 11
    FAILED = 20


class PackMLState(IntEnum):
    """PackML state numbers (PackTags)."""

    STOPPED = 2
    STARTING = 3
    IDLE = 4
    SUSPENDED = 5
    EXECUTE = 6
    STOPPING = 7
    ABORTING = 8
    ABORTED = 9
    HOLDING = 10
    HELD = 11
    RESETTING = 15
    COMPLETED = 17


class MachineCommand(IntEnum):
    RESET = 1
    START = 2
    STOP = 3
    HOLD = 4
    UNHOLD = 5
    SUSPEND = 6
    UNSUSPEND = 7
    ABORT = 8
    CLEAR = 9


@dataclass(frozen=True, slots=True)
class Job:
    """One physical move of one pack, identified by the pack's token."""

    code: JobCode
    token: int
    reason: JobReason = JobReason.NONE
    location: int | None = None


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What the robot reports it did. `fault` is the robot's fault code, if any."""

    result: JobResult
    location: int | None = None
    fault: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class RobotStatus:
    state: PackMLState
    ready: bool
    fault: int | None
    packs_stored: int
    packs_rejected: int
    packs_quarantined: int


class RobotError(Exception):
    """The robot could not be reached or gave an answer that cannot be trusted."""


class Robot(Protocol):
    """A dispensing robot, driven by one host at a time."""

    async def status(self) -> RobotStatus: ...

    async def execute(self, job: Job) -> JobOutcome: ...

    async def command(self, command: MachineCommand) -> None: ...

    async def aclose(self) -> None: ...
