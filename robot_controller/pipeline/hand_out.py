"""The outputs a robot reports that the daemon did not ask for (WWKS2: an output started at
the robot's own terminal comes as an OutputMessage with Id "1"): each is recorded, and in
community mode decommissioned, as `fmd-robot dispense` does (`robot_controller.dispense`), and
told to `on_routed` as a pack routed `dispensed` (`handed_out`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import structlog
import structlog.contextvars

from robot_controller.dispense import Handed, HandOut, line
from robot_controller.pipeline.context import Context, Routed
from robot_controller.pipeline.until_stop import unless_stopped
from robot_controller.states import HandOutWhy, Route
from robot_controller.store import StoreUnwritable
from wwks2.messages import Message, OutputMessage

log = structlog.get_logger("fmd.pipeline")


@runtime_checkable
class ReportsOutputs(Protocol):
    """A robot that reports the outputs it was not asked for (the WWKS2 driver)."""

    unsolicited: asyncio.Queue[Message]


def handed_out(handed: Handed, name: str | None = None) -> Routed:
    """A pack that left by hand-out, as the bench and the counters are told of it (`name`:
    its product's; by default the hub's)."""
    dispensed, ui = handed.dispensed, handed.left.ui
    if dispensed.shelved or dispensed.already:
        why = HandOutWhy.HANDED_OUT
    else:
        why = HandOutWhy.NOT_SHELVED_HERE if ui is not None else HandOutWhy.UNIDENTIFIED
    told = handed.product_name if name is None else name
    return Routed(dispensed.token, Route.DISPENSED, why, ui, line(handed), handed.trouble, told)


class HandOutRunner:
    """Records each unsolicited output of the pipeline's robot, one after the other; every
    hand-out its `hand_out` records (the bench's too) is told to `on_routed`."""

    def __init__(
        self,
        context: Context,
        robot: ReportsOutputs,
        on_routed: Callable[[Routed], None] | None = None,
    ) -> None:
        self.robot = robot
        told = None
        if on_routed is not None:

            def told(pack: Handed) -> None:
                on_routed(handed_out(pack, context.product_name(pack.product_name, pack.left.ui)))

        self.hand_out = HandOut(
            context.store, context.hub, context.clock,
            community=context.site.mode == "community", location=context.location,
            robot=context.robot_name, run=context.call, lease=context.claim_lease,
            separators=context.separators, on_handed=told,
        )  # fmt: skip
        self.actor = f"robot {context.robot_name}'s terminal"
        self._under_way: asyncio.Future[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Take the robot's reports until `stop` (the one under way is finished, even when this
        is cancelled: `finish` waits for it); a store that cannot be written is raised,
        anything else logged."""
        while not stop.is_set():
            message = await unless_stopped(self.robot.unsolicited.get(), stop)
            if message is None:
                return
            if not isinstance(message, OutputMessage):
                continue
            with structlog.contextvars.bound_contextvars(wwks2_output=message.id):
                self._under_way = asyncio.ensure_future(self.take(message))
                try:
                    await asyncio.shield(self._under_way)
                except StoreUnwritable:
                    raise
                except Exception as error:
                    log.exception("hand_out.failed", error=repr(error))

    async def finish(self) -> None:
        """Wait for the output being recorded when the loading stopped (its decommission sent
        and settled, the bench told), before the store and the hub close."""
        under_way = self._under_way
        if under_way is None or under_way.done():
            return
        log.info("hand_out.finishing")
        try:
            await under_way
        except Exception as error:  # logged; the stop goes on
            log.exception("hand_out.failed", error=repr(error))

    async def take(self, message: OutputMessage) -> None:
        """Record one output the robot reported."""
        handed = await self.hand_out.record(message, actor=self.actor)
        log.info("hand_out.recorded", status=message.details.status.value, packs=len(handed))
        for pack in handed:
            (log.warning if pack.trouble else log.info)("hand_out.pack", detail=line(pack))
