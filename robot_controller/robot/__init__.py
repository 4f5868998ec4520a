"""Robot drivers behind one protocol."""

from robot_controller.robot.base import (
    Job,
    JobCode,
    JobOutcome,
    JobReason,
    JobResult,
    MachineCommand,
    PackMLState,
    Robot,
    RobotError,
    RobotStatus,
)
from robot_controller.robot.sim import SimRobot

__all__ = [
    "Job",
    "JobCode",
    "JobOutcome",
    "JobReason",
    "JobResult",
    "MachineCommand",
    "PackMLState",
    "Robot",
    "RobotError",
    "RobotStatus",
    "SimRobot",
]
