"""The robot control terminal's rules and words, shared by `fmd-robot robot` and the `/robot`
screen. Pure.

`allowed_commands` is the PackML state model of ARCHITECTURE.md ("PackML commands"): which
command each state takes. `commands_now` narrows it by what the status adds (a latched fault
refuses the commands that resume production; a robot that reports its state in words takes
none). The rest words a status: its status word bit by bit, its last job, a WWKS2 report.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot_controller.robot.base import (
    MachineCommand,
    PackMLState,
    RobotStatus,
    StatusFlags,
    fault_name,
)
from robot_controller.robot.readiness import latched_fault
from wwks2.messages import State, StatusResponse

_S = PackMLState
_C = MachineCommand
_RUNNING = frozenset(
    {_S.IDLE, _S.STARTING, _S.EXECUTE, _S.SUSPENDING, _S.SUSPENDED, _S.UNSUSPENDING, _S.HOLDING,
     _S.HELD, _S.UNHOLDING, _S.RESETTING, _S.COMPLETING, _S.COMPLETED}
)  # fmt: skip
FROM_STATES: dict[MachineCommand, frozenset[PackMLState]] = {
    _C.RESET: frozenset({_S.STOPPED, _S.COMPLETED}),
    _C.START: frozenset({_S.IDLE}),
    _C.STOP: _RUNNING,
    _C.HOLD: frozenset({_S.EXECUTE}),
    _C.UNHOLD: frozenset({_S.HELD}),
    _C.SUSPEND: frozenset({_S.EXECUTE}),
    _C.UNSUSPEND: frozenset({_S.SUSPENDED}),
    _C.ABORT: frozenset(_S) - {_S.ABORTING, _S.ABORTED},
    _C.CLEAR: frozenset({_S.ABORTED}),
}
"""Each command and the states it is taken in (Stop from any running state, Abort from any
but Aborting and Aborted, Clear only from Aborted)."""

RESUMING = frozenset({_C.START, _C.UNHOLD, _C.UNSUSPEND})
"""Commands a robot with a latched fault refuses: acknowledge the fault first."""

BUTTONS = (_C.START, _C.STOP, _C.HOLD, _C.UNHOLD, _C.RESET, _C.ABORT, _C.CLEAR)
"""The terminal's buttons, in the order it shows them."""

TAKES_PACKS = "yes: it scans each pack and asks"
TAKES_NO_PACKS = "no: see the robot's own terminal"
NO_FAULTS = "a WWKS2 robot reports no faults to acknowledge here: use the robot's own terminal"


def allowed_commands(state: PackMLState) -> frozenset[MachineCommand]:
    """The commands PackML allows from `state`."""
    return frozenset(command for command, states in FROM_STATES.items() if state in states)


def commands_now(status: RobotStatus, *, takes_commands: bool = True) -> frozenset[MachineCommand]:
    """The commands the robot takes now: its state's, less those that resume production while
    a fault is latched; none for a robot that takes no PackML commands (WWKS2)."""
    if not takes_commands:
        return frozenset()
    allowed = allowed_commands(status.state)
    return allowed - RESUMING if latched_fault(status) is not None else allowed


def why_not(status: RobotStatus, command: MachineCommand) -> str:
    """Why `command` is not taken now (one line naming the state and what is allowed)."""
    allowed = commands_now(status)
    names = ", ".join(sorted(c.name.lower() for c in allowed)) or "none"
    head = f"{command.name.lower()} is not allowed in state {status.state.name}"
    latched = latched_fault(status) is not None
    if latched and command in RESUMING and command in allowed_commands(status.state):
        fault = fault_name(status.fault)
        return f"{head} while fault {fault} is latched: acknowledge it first (allowed: {names})"
    return f"{head} (allowed: {names})"


@dataclass(frozen=True, slots=True)
class Bit:
    """One bit of the status word, in words."""

    flag: StatusFlags
    name: str
    meaning: str
    on: bool


BIT_MEANINGS: dict[StatusFlags, str] = {
    StatusFlags.READY: "a job may be written",
    StatusFlags.BUSY: "a job is running",
    StatusFlags.DONE: "the last job has finished",
    StatusFlags.ERROR: "the last job was refused or failed",
    StatusFlags.FAULT: "a fault is latched",
    StatusFlags.PACK_AT_TRANSFER: "a pack waits at the transfer point",
    StatusFlags.REJECT_CHUTE_FULL: "the reject chute is full",
    StatusFlags.NO_SHELF_SPACE: "no free shelf location",
    StatusFlags.SAFETY_OK: "the safety circuit is closed",
    StatusFlags.REMOTE: "the robot is under host control",
    StatusFlags.HOST_WATCHDOG: "the host watchdog has tripped",
}


def status_bits(flags: StatusFlags) -> list[Bit]:
    """Every bit of the status word, set or not, in bit order."""
    return [
        Bit(flag, flag.name or str(int(flag)), meaning, flag in flags)
        for flag, meaning in BIT_MEANINGS.items()
    ]


def flag_names(flags: StatusFlags) -> list[str]:
    """The names of the bits set."""
    return [bit.name for bit in status_bits(flags) if bit.on]


def last_job(status: RobotStatus) -> str:
    """The robot's last finished job: "12: STORED at location 7, token 42" ("—": none)."""
    if status.job_result is None:
        return "—"
    where = f" at location {status.location}" if status.location else ""
    token = f", token {status.done_token}" if status.done_token else ""
    return f"{status.job_done_seq}: {status.job_result.name}{where}{token}"


def state_words(state: str, text: str | None) -> str:
    """A WWKS2 state and its StateText: "NotReady (door open)"."""
    return f"{state} ({text})" if text else state


def wwks2_takes_packs(report: StatusResponse) -> bool:
    """A WWKS2 robot takes packs when it and each of its components are Ready."""
    return report.state is State.READY and all(c.state is State.READY for c in report.components)
