"""The simulated WWKS2 storage robot of the world: it scans the delivery's packs itself, fed
through its input belts once the daemon listens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fmd.codes.symbology import read_symbology
from simulators.world.spec import ROBOT_CAPACITY, Wwks2RobotEndpoint
from simulators.wwks2 import InputOutcome, RobotSettings, ScanPack, Wwks2RobotSim


@dataclass
class RobotFeed:
    """The packs a scanning robot is to take in: `begin` puts them on its belts; `all_in` is
    set once the robot has reported every one (stored or given back)."""

    robot: Wwks2RobotSim
    raws: list[str]
    all_in: asyncio.Event = field(default_factory=asyncio.Event)

    def begin(self, routed: Callable[[], int]) -> None:
        """Feed the delivery (`routed` is not needed: the robot reports each pack itself)."""
        outcomes = [self.robot.feed(ScanPack(_without_aim(raw))) for raw in self.raws]
        if not outcomes:
            self.all_in.set()
            return
        done = asyncio.gather(*outcomes, return_exceptions=True)
        done.add_done_callback(self._reported)

    def _reported(self, done: asyncio.Future[list[InputOutcome | BaseException]]) -> None:
        self.all_in.set()


def _without_aim(raw: str) -> str:
    """The code as a robot's scanner hands it on: without the AIM symbology identifier."""
    return raw[read_symbology(raw, None).start :]


@asynccontextmanager
async def simulated_wwks2_robot(
    raws: list[str], *, move_time_s: float
) -> AsyncIterator[tuple[Wwks2RobotEndpoint, RobotFeed]]:
    """A WWKS2 robot on loopback TCP that will scan `raws` once the feed begins."""
    settings = RobotSettings(capacity=ROBOT_CAPACITY, move_time_s=move_time_s)
    async with Wwks2RobotSim(settings) as robot:
        yield Wwks2RobotEndpoint("127.0.0.1", robot.port), RobotFeed(robot, raws)
