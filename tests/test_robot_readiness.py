"""The pure readiness rules: whether the robot can take a pack, and the terminal's refusals, each
one line naming the state, the cause and the next step."""

from __future__ import annotations

from robot_controller.robot.base import (
    FaultCode,
    JobCode,
    MachineCommand,
    PackMLState,
    RobotStatus,
    StatusFlags,
)
from robot_controller.robot.readiness import command_refused, fault_refused, not_ready

PRODUCING = StatusFlags.READY | StatusFlags.SAFETY_OK | StatusFlags.REMOTE


def status(
    state: PackMLState = PackMLState.EXECUTE,
    flags: StatusFlags = PRODUCING | StatusFlags.PACK_AT_TRANSFER,
    fault: int | None = None,
) -> RobotStatus:
    return RobotStatus(state, StatusFlags.READY in flags, fault, 0, 0, 0, flags=flags)


def test_a_producing_robot_with_a_pack_waiting_takes_it() -> None:
    assert not_ready(status(), JobCode.PLACE_ON_SHELF) is None


def test_no_pack_at_the_transfer_point_means_no_move() -> None:
    why = not_ready(status(flags=PRODUCING), JobCode.DIVERT_TO_REJECT)
    assert why is not None
    assert "no pack at the robot's transfer point" in why.message
    assert not why.pauses  # only this pack: loading goes on
    assert not_ready(status(flags=PRODUCING), JobCode.RETRIEVE_TO_QUARANTINE) is None


def test_a_latched_fault_blocks_an_unlatched_one_is_history() -> None:
    held = status(PackMLState.HELD, StatusFlags.FAULT | StatusFlags.SAFETY_OK, FaultCode.GRIPPER)
    why = not_ready(held, JobCode.PLACE_ON_SHELF)
    assert why is not None
    assert "robot is HELD: cause: fault 100 GRIPPER latched" in why.message
    assert "`fmd-robot robot ack 100`" in why.message
    assert why.pauses
    earlier = status(fault=FaultCode.NO_PACK)  # the last job found no pack; nothing latched
    assert not_ready(earlier, JobCode.PLACE_ON_SHELF) is None


def test_a_refused_command_without_a_fault_names_what_packml_allows() -> None:
    line = command_refused(status(), MachineCommand.CLEAR)
    assert line.startswith("robot refused CLEAR in state EXECUTE; cause: PackML allows no CLEAR")
    assert "next: none needed, it is producing" in line


def test_a_fault_not_active_is_named_with_the_active_one() -> None:
    held = status(PackMLState.HELD, StatusFlags.FAULT, FaultCode.HOST_WATCHDOG)
    line = fault_refused(held, FaultCode.CONVEYOR_JAM)
    assert "fault 200 CONVEYOR_JAM is not active in state HELD" in line
    assert "the robot's fault: 900 HOST_WATCHDOG" in line
