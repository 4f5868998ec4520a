"""A WWKS2 StatusResponse in the terms of the robot contract (`RobotStatus`). Pure.

WWKS2 says only Ready or NotReady, with words (StateText, and per component): Ready is PackML's
EXECUTE, anything else STOPPED with the robot's own words in `reported`, so that the operator is
sent to the robot's terminal rather than told a PackML command it does not take.
"""

from __future__ import annotations

from robot_controller.robot.base import PackMLState, RobotStatus, StatusFlags
from wwks2.messages import State, StatusResponse

_UP = StatusFlags.SAFETY_OK | StatusFlags.REMOTE


def robot_status(
    response: StatusResponse, *, stored: int = 0, rejected: int = 0, quarantined: int = 0
) -> RobotStatus:
    """The robot's status as the pipeline reads it; `stored`… count this link's stock-ins."""
    ready = response.state is State.READY and all(
        component.state is State.READY for component in response.components
    )
    return RobotStatus(
        state=PackMLState.EXECUTE if ready else PackMLState.STOPPED,
        ready=ready,
        fault=None,
        packs_stored=stored,
        packs_rejected=rejected,
        packs_quarantined=quarantined,
        flags=_UP | (StatusFlags.READY if ready else StatusFlags.NONE),
        reported="" if ready else describe(response),
    )


def describe(response: StatusResponse) -> str:
    """The robot's state in its own words: "NotReady (door open); Vmax 1: NotReady"."""
    head = response.state.value + (f" ({response.state_text})" if response.state_text else "")
    parts = [head] + [
        f"{c.description}: {c.state.value}" + (f" ({c.state_text})" if c.state_text else "")
        for c in response.components
        if c.state is not State.READY or c.state_text
    ]
    return "; ".join(parts)
