"""Whether the robot can take a pack now, and if not, why and what the operator does next.

Pure rules over a `RobotStatus`: the pipeline asks `not_ready` before a pack is decommissioned
and before any job of the intake, so a pack the robot cannot take goes back to the operator
unchanged; the robot control terminal words its refusals with `command_refused` and
`fault_refused`. Each answer is one line naming the state, the cause and the next step.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot_controller.robot.base import (
    FaultCode,
    JobCode,
    MachineCommand,
    PackMLState,
    RobotStatus,
    StatusFlags,
    fault_name,
)

_NEXT_STEP = {
    PackMLState.STOPPED: "reset and start it (`fmd-robot robot command reset`, then `start`)",
    PackMLState.IDLE: "start it (`fmd-robot robot command start`)",
    PackMLState.EXECUTE: "none needed, it is producing (`hold`, `suspend` or `stop` it first)",
    PackMLState.HELD: "`fmd-robot robot command unhold` (or `stop`, then `reset`)",
    PackMLState.SUSPENDED: "give it packs again or `fmd-robot robot command unsuspend`",
    PackMLState.ABORTED: "clear, reset and start it (`fmd-robot robot command clear`, ...)",
    PackMLState.COMPLETED: "reset and start it (`fmd-robot robot command reset`, then `start`)",
}
_SETTLING = "wait: it is changing state"

# fault → (its cause, what removes the cause)
_FAULTS = {
    FaultCode.ESTOP: (
        "the e-stop is pressed or a door open",
        "release the e-stop, close the doors",
    ),
    FaultCode.GRIPPER: ("the gripper failed", "check the gripper"),
    FaultCode.CONVEYOR_JAM: ("the conveyor jammed", "clear the conveyor"),
    FaultCode.NO_PACK: ("no pack was found", "put the pack on the transfer point"),
    FaultCode.MEASUREMENT: ("a pack could not be measured", "check the pack and the gauge"),
    FaultCode.NO_SHELF_SPACE: ("no free shelf location", "make room on the shelf"),
    FaultCode.REJECT_CHUTE_FULL: ("the reject chute is full", "empty the reject chute"),
    FaultCode.HOST_WATCHDOG: (
        "no host heartbeat",
        "connect the daemon or this terminal, so that a host beats",
    ),
}


def fault_cause(code: int) -> tuple[str, str]:
    """A fault's cause and what removes it, in the operator's words."""
    try:
        return _FAULTS[FaultCode(code)]
    except ValueError:
        return f"fault {code}", "see the robot's manual"


def latched_fault(status: RobotStatus) -> int | None:
    """The latched fault (the FAULT bit; a driver that reports no bits: any fault code)."""
    latched = StatusFlags.FAULT in status.flags if status.flags else bool(status.fault)
    return status.fault if latched else None


def _fault_step(code: int) -> str:
    cause, remedy = fault_cause(code)
    return (
        f"cause: fault {fault_name(code)} latched ({cause}); next: {remedy}, then "
        f"`fmd-robot robot ack {code}`"
    )


@dataclass(frozen=True, slots=True)
class NotReady:
    """Why the robot cannot take a pack now: one sentence with the operator's next step.
    `pauses`: loading waits for the robot (False: only this pack is affected)."""

    message: str
    pauses: bool = True


def not_ready(status: RobotStatus, code: JobCode) -> NotReady | None:
    """None when the robot can take a job of `code` for the pack at its transfer point."""
    machine = machine_not_ready(status, code)
    if machine is not None:
        return NotReady(machine)
    if (
        code is not JobCode.RETRIEVE_TO_QUARANTINE
        and StatusFlags.PACK_AT_TRANSFER not in status.flags
    ):
        return NotReady("no pack at the robot's transfer point: nothing was moved", pauses=False)
    return None


def machine_not_ready(status: RobotStatus, code: JobCode) -> str | None:
    """None when the machine can take a job of `code`; else what stops it and the next step."""
    flags = status.flags
    if (fault := latched_fault(status)) is not None:
        return f"robot is {status.state.name}: {_fault_step(fault)}"
    if StatusFlags.HOST_WATCHDOG in flags:
        return "robot host watchdog tripped: with a host connected, `fmd-robot robot ack 900`"
    if StatusFlags.SAFETY_OK not in flags:
        return "robot safety circuit open: close the doors and release the e-stop"
    if StatusFlags.REMOTE not in flags:
        return "robot in local mode: switch it to remote control"
    if status.state is not PackMLState.EXECUTE and status.reported:
        return f"robot not ready: {status.reported}: see the robot's own terminal"
    if status.state is not PackMLState.EXECUTE:
        step = _NEXT_STEP.get(status.state, _SETTLING)
        return f"robot is {status.state.name}: {step}"
    if StatusFlags.BUSY in flags or not status.ready:
        return "robot not ready for a job: wait for it, or check `fmd-robot robot status`"
    if code is JobCode.PLACE_ON_SHELF and StatusFlags.NO_SHELF_SPACE in flags:
        return "robot has no free shelf location: make room on the shelf"
    if code is JobCode.DIVERT_TO_REJECT and StatusFlags.REJECT_CHUTE_FULL in flags:
        return "robot reject chute full: empty it"
    return None


def command_refused(status: RobotStatus, command: MachineCommand) -> str:
    """Why the robot refused a PackML command (read from its status after the refusal)."""
    head = f"robot refused {command.name} in state {status.state.name}"
    if (fault := latched_fault(status)) is not None:
        return f"{head}; {_fault_step(fault)}"
    step = _NEXT_STEP.get(status.state, _SETTLING)
    return f"{head}; cause: PackML allows no {command.name} from {status.state.name}; next: {step}"


def fault_refused(status: RobotStatus, code: int) -> str:
    """Why a fault acknowledgement did not clear `code`: not the active fault, or its cause
    remains."""
    state = status.state.name
    if status.fault != code:
        return (
            f"fault {fault_name(code)} is not active in state {state} (the robot's fault: "
            f"{fault_name(status.fault)}); next: acknowledge the one `fmd-robot robot status` shows"
        )
    cause, remedy = fault_cause(code)
    return (
        f"fault {fault_name(code)} is still active in state {state}: its cause remains "
        f"({cause}); next: {remedy}, then acknowledge it again"
    )
