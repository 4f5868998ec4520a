"""Whether the robot can take a pack now, and if not, why and what the operator does next.

A pure rule over a `RobotStatus`: the pipeline asks it before a pack is decommissioned and before
any job of the intake, so a pack the robot cannot take goes back to the operator unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot_controller.robot.base import (
    JobCode,
    PackMLState,
    RobotStatus,
    StatusFlags,
    fault_name,
)

_NEXT_STEP = {
    PackMLState.STOPPED: "reset and start it (`fmd-robot robot command reset`, then `start`)",
    PackMLState.IDLE: "start it (`fmd-robot robot command start`)",
    PackMLState.HELD: "remove the cause, then `fmd-robot robot command unhold`",
    PackMLState.SUSPENDED: "give it packs again or `fmd-robot robot command unsuspend`",
    PackMLState.ABORTED: "clear, reset and start it (`fmd-robot robot command clear`, ...)",
    PackMLState.COMPLETED: "reset and start it (`fmd-robot robot command reset`, then `start`)",
}
_SETTLING = "wait: it is changing state"


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
    if status.fault:
        return (
            f"robot fault {fault_name(status.fault)}: remove its cause, then "
            f"`fmd-robot robot ack {status.fault}`"
        )
    if StatusFlags.HOST_WATCHDOG in flags:
        return "robot host watchdog tripped: acknowledge fault 900 once the daemon is connected"
    if StatusFlags.SAFETY_OK not in flags:
        return "robot safety circuit open: close the doors and release the e-stop"
    if StatusFlags.REMOTE not in flags:
        return "robot in local mode: switch it to remote control"
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
