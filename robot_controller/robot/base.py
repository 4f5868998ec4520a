"""The robot contract: jobs, their outcomes, machine state, and the `Robot` protocol.

Numbers follow the Modbus register map of ARCHITECTURE.md, so every driver speaks the same codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag
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

    CLEARING = 1
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
    UNHOLDING = 12
    SUSPENDING = 13
    UNSUSPENDING = 14
    RESETTING = 15
    COMPLETING = 16
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


class FaultCode(IntEnum):
    """The robot's fault codes (Modbus register 10, the line protocol's ERR)."""

    ESTOP = 1
    GRIPPER = 100
    CONVEYOR_JAM = 200
    NO_PACK = 300
    MEASUREMENT = 310
    NO_SHELF_SPACE = 400
    REJECT_CHUTE_FULL = 500
    HOST_WATCHDOG = 900


def fault_name(code: int | None) -> str:
    """A fault as the operator reads it: "900 HOST_WATCHDOG" (or the bare number)."""
    if not code:
        return "none"
    try:
        return f"{code} {FaultCode(code).name}"
    except ValueError:
        return str(code)


class StatusFlags(IntFlag):
    """The robot's status word (Modbus register 4)."""

    NONE = 0
    READY = 1 << 0
    BUSY = 1 << 1
    DONE = 1 << 2
    ERROR = 1 << 3
    FAULT = 1 << 4
    PACK_AT_TRANSFER = 1 << 5
    REJECT_CHUTE_FULL = 1 << 6
    NO_SHELF_SPACE = 1 << 7
    SAFETY_OK = 1 << 8
    REMOTE = 1 << 9
    HOST_WATCHDOG = 1 << 10


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
    """The robot's state. Drivers that see more of it (Modbus) fill the defaulted fields."""

    state: PackMLState
    ready: bool
    fault: int | None
    packs_stored: int
    packs_rejected: int
    packs_quarantined: int
    flags: StatusFlags = StatusFlags.NONE
    heartbeat: int = 0
    job_ack_seq: int = 0
    job_done_seq: int = 0
    job_result: JobResult | None = None
    location: int | None = None
    command_ack_seq: int = 0
    command_rejected: bool = False
    unit_mode: int = 0
    interface_version: int = 0
    acked_token: int | None = None  # the token of the job `job_ack_seq` names
    done_token: int | None = None  # the token of the job `job_done_seq` names
    reported: str = ""  # a robot that reports its state in words (WWKS2): what it says


def next_seq(seq: int) -> int:
    """The sequence number after `seq`: 1…65535, skipping 0 (the Modbus map and the line
    protocol count alike)."""
    return seq % 0xFFFF + 1


def unexpected(job: Job, outcome: JobOutcome) -> str:
    """What is odd about an outcome for its job ('' when nothing): routing flags the pack."""
    if outcome.result is JobResult.STORED and job.code is not JobCode.PLACE_ON_SHELF:
        return f"stored a pack it was told to {job.code.name}"
    if outcome.result is JobResult.RETRIEVED and job.code is not JobCode.RETRIEVE_TO_QUARANTINE:
        return f"reported a retrieve for {job.code.name}"
    if outcome.location and job.code in (JobCode.DIVERT_TO_REJECT, JobCode.DIVERT_TO_QUARANTINE):
        return f"reported shelf location {outcome.location} for {job.code.name}"
    return ""


class RobotError(Exception):
    """The robot could not be reached or gave an answer that cannot be trusted."""


class CommandRefused(RobotError):
    """The robot refused a PackML command in its current state."""


def reported_outcome(job: Job, status: RobotStatus, what: str) -> JobOutcome:
    """The outcome the robot reports in `status` for `job`, its last finished one (anything odd
    about it in `message`); RobotError, worded after `what`, when it cannot be true."""
    if status.job_result is None:
        raise RobotError(f"{what} done without a result")
    if status.job_result is JobResult.STORED and status.location is None:
        raise RobotError(f"{what} stored without a location")
    outcome = JobOutcome(status.job_result, status.location, status.fault)
    problem = unexpected(job, outcome)
    return JobOutcome(outcome.result, outcome.location, outcome.fault, problem)


class RobotConflict(RobotError):
    """Another master drives this robot (its job sequence moved without us): loading stops."""


class Robot(Protocol):
    """A dispensing robot, driven by one host at a time."""

    async def connect(self) -> None:
        """Reach the robot and check it answers sanely; `RobotError` (one line) when not."""
        ...

    async def status(self) -> RobotStatus: ...

    async def execute(self, job: Job) -> JobOutcome: ...

    async def command(self, command: MachineCommand) -> None: ...

    async def ack_fault(self, code: int) -> bool:
        """Acknowledge a fault; True when the robot cleared it (its cause is gone)."""
        ...

    async def aclose(self) -> None: ...
