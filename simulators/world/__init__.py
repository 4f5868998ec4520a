"""The simulated world around the daemon: a seeded delivery and the devices that carry it.

`simulated_world(spec)` starts what the spec asks for (the national system, a robot, a scanner)
and yields a `World`: the delivery's ground truth and the endpoints a plain daemon
configuration needs. The daemon never imports this package; the command line's simulation
entry points (`fmd-robot demo`, `fmd-robot run` on the default configuration) put the two
together.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simulators.delivery import Delivery, generate_delivery, master_data
from simulators.world.hub import endpoint_of, simulated_hub, write_master_data
from simulators.world.robot import simulated_robot
from simulators.world.scanner import Feed, simulated_scanner, write_scans
from simulators.world.spec import (
    HUB_KINDS,
    ROBOT_CAPACITY,
    ROBOT_KINDS,
    SCANNER_KINDS,
    HubEndpoint,
    HubFaults,
    HubKind,
    MockHubEndpoint,
    RestHubEndpoint,
    RobotEndpoint,
    RobotKind,
    ScannerEndpoint,
    ScannerKind,
    SerialRobotEndpoint,
    SimRobotEndpoint,
    SoapHubEndpoint,
    TcpRobotEndpoint,
    WorldError,
    WorldSpec,
    Wwks2RobotEndpoint,
)
from simulators.world.wwks2 import RobotFeed, simulated_wwks2_robot

__all__ = [
    "HUB_KINDS",
    "ROBOT_CAPACITY",
    "ROBOT_KINDS",
    "SCANNER_KINDS",
    "HubEndpoint",
    "HubFaults",
    "HubKind",
    "MockHubEndpoint",
    "RestHubEndpoint",
    "RobotEndpoint",
    "RobotKind",
    "ScannerEndpoint",
    "ScannerKind",
    "SerialRobotEndpoint",
    "SimRobotEndpoint",
    "SoapHubEndpoint",
    "TcpRobotEndpoint",
    "World",
    "WorldError",
    "WorldSpec",
    "Wwks2RobotEndpoint",
    "endpoint_of",
    "simulated_world",
    "write_master_data",
    "write_scans",
]


@dataclass
class World:
    """A running simulated world: the delivery (with its ground truth) and the endpoints of
    its devices (None where the spec asked for "none")."""

    delivery: Delivery
    hub: HubEndpoint | None
    robot: RobotEndpoint | None
    feed: Feed | None
    moves: Counter[int] = field(default_factory=Counter)
    robot_feed: RobotFeed | None = None  # a robot that scans the packs itself (WWKS2)

    @property
    def scanner(self) -> ScannerEndpoint | None:
        return self.feed.endpoint if self.feed is not None else None

    def begin(self, routed: Callable[[], int]) -> None:
        """The daemon listens: start delivering (`routed` counts the packs it has finished)."""
        if self.feed is not None:
            self.feed.begin(routed)
        if self.robot_feed is not None:
            self.robot_feed.begin(routed)

    @property
    def all_in(self) -> asyncio.Event:
        """Set once a live source has delivered the whole delivery (a file source ends by
        itself, and never sets it); a scanning robot's, once it has reported every pack."""
        if self.robot_feed is not None:
            return self.robot_feed.all_in
        return self.feed.all_in if self.feed is not None else asyncio.Event()


@asynccontextmanager
async def simulated_world(spec: WorldSpec) -> AsyncIterator[World]:
    """Generate the delivery and start the devices `spec` asks for; stop them on exit."""
    spec.folder.mkdir(parents=True, exist_ok=True)
    delivery = await asyncio.to_thread(
        generate_delivery,
        spec.packs,
        seed=spec.seed,
        suspect_rate=spec.suspect_rate,
        today=spec.today or datetime.now(UTC).date(),
    )
    moves: Counter[int] = Counter()
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(
            simulated_hub(
                spec.hub,
                master_data(delivery),
                spec.folder,
                location=spec.location,
                faults=spec.hub_faults,
            )
        )
        robot_feed: RobotFeed | None = None
        robot: RobotEndpoint | None
        if spec.robot == "wwks2":  # it scans the packs itself: no scanner of ours
            robot, robot_feed = await stack.enter_async_context(
                simulated_wwks2_robot(delivery.raws, move_time_s=spec.move_time_s)
            )
        else:
            robot = await stack.enter_async_context(
                simulated_robot(spec.robot, move_time_s=spec.move_time_s, moves=moves)
            )
        scanner = "none" if spec.robot == "wwks2" else spec.scanner
        feed = await stack.enter_async_context(
            simulated_scanner(scanner, delivery.raws, spec.folder)
        )
        yield World(delivery, hub, robot, feed, moves, robot_feed)
