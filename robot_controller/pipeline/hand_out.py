"""The outputs a robot reports that the daemon did not ask for (WWKS2: an output started at
the robot's own terminal comes as an OutputMessage with Id "1"): each is recorded, and in
community mode decommissioned, as `fmd-robot dispense` does (`robot_controller.dispense`)."""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

import structlog
import structlog.contextvars

from robot_controller.dispense import HandOut, line
from robot_controller.pipeline.context import Context
from robot_controller.pipeline.until_stop import unless_stopped
from robot_controller.store import StoreUnwritable
from wwks2.messages import Message, OutputMessage

log = structlog.get_logger("fmd.pipeline")


@runtime_checkable
class ReportsOutputs(Protocol):
    """A robot that reports the outputs it was not asked for (the WWKS2 driver)."""

    unsolicited: asyncio.Queue[Message]


class HandOutRunner:
    """Records each unsolicited output of the pipeline's robot, one after the other."""

    def __init__(self, context: Context, robot: ReportsOutputs) -> None:
        self.robot = robot
        self.hand_out = HandOut(
            context.store, context.hub, context.clock,
            community=context.site.mode == "community", location=context.location,
            robot=context.robot_name, run=context.call, lease=context.claim_lease,
            separators=context.separators,
        )  # fmt: skip
        self.actor = f"robot {context.robot_name}'s terminal"

    async def run(self, stop: asyncio.Event) -> None:
        """Take the robot's reports until `stop` (the one under way is finished); a store that
        cannot be written is raised, anything else logged."""
        while not stop.is_set():
            message = await unless_stopped(self.robot.unsolicited.get(), stop)
            if message is None:
                return
            if not isinstance(message, OutputMessage):
                continue
            with structlog.contextvars.bound_contextvars(wwks2_output=message.id):
                try:
                    await asyncio.shield(self.take(message))
                except StoreUnwritable:
                    raise
                except Exception as error:
                    log.exception("hand_out.failed", error=repr(error))

    async def take(self, message: OutputMessage) -> None:
        """Record one output the robot reported."""
        handed = await self.hand_out.record(message, actor=self.actor)
        log.info("hand_out.recorded", status=message.details.status.value, packs=len(handed))
        for pack in handed:
            (log.warning if pack.trouble else log.info)("hand_out.pack", detail=line(pack))
