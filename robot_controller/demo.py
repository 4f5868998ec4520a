"""The demo: a generated delivery loaded through the daemon a real site runs, checked against
ground truth. World → `Config` → `build_daemon`: the same wiring as `fmd-robot run`."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from fmd.codes.symbology import read_symbology
from fmd.policy import SitePolicy, Why
from robot_controller.config import (
    Config,
    MockHubConfig,
    PipelineConfig,
    Simulation,
    Site,
    StoreConfig,
    WebConfig,
)
from robot_controller.metrics import Metrics
from robot_controller.pipeline import Routed, utc_now
from robot_controller.robot.sim import SimRobot
from robot_controller.simulated import simulated
from robot_controller.store import Store
from robot_controller.users import Role
from robot_controller.web.beside import feed_for, web_beside
from robot_controller.wiring import build_daemon
from simulators.delivery import Delivery
from simulators.world import HubKind, RobotKind, ScannerKind


@dataclass(frozen=True, slots=True)
class DemoOptions:
    packs: int = 200
    seed: int = 1
    suspect_rate: float = 0.1
    site: SitePolicy = field(default_factory=SitePolicy)
    location: str = "hospital-pharmacy-1"
    db: Path = Path("fmd-robot-demo.db")
    hub_latency_s: float = 0.0
    hub_error_rate: float = 0.0  # share of hub calls answered with a technical error
    move_time_s: float = 0.0
    window: int = 128
    hub: HubKind = "soap"
    scanner: ScannerKind = "script"
    robot: RobotKind = "modbus-tcp"
    web: WebConfig = field(default_factory=lambda: WebConfig(enabled=False))

    def config(self) -> Config:
        """The daemon's configuration, with the whole world simulated as these options say."""
        return Config(
            site=Site(
                location=self.location,
                mode=self.site.mode,
                offline=self.site.offline,
                non_serialised=self.site.non_serialised,
            ),
            store=StoreConfig(url=f"sqlite:///{self.db}"),
            hub=MockHubConfig(
                seed=self.seed,
                latency_ms=self.hub_latency_s * 1000,
                technical_error_rate=self.hub_error_rate,
            ),
            simulation=Simulation(
                packs=self.packs,
                seed=self.seed,
                suspect_rate=self.suspect_rate,
                hub=self.hub,
                robot=self.robot,
                scanner=self.scanner,
                move_time_ms=self.move_time_s * 1000,
            ),
            pipeline=PipelineConfig(window=self.window, replay_every_s=None),
            web=self.web,
        )


@dataclass(frozen=True, slots=True)
class DemoWeb:
    """What the demo does with its screens (`[web]` enabled in its options): `on_ready` is told
    their address and the token of the `demo` admin it adds; `linger` is awaited once the
    delivery is loaded, with the report, while the world and the screens still run."""

    on_ready: Callable[[str, str], None]
    linger: Callable[[DemoReport], Awaitable[None]]


class Judgement(StrEnum):
    """A pack's route against the delivery's ground truth (the README defines each)."""

    AS_EXPECTED = "as-expected"
    UNSAFE = "unsafe"  # a suspect pack shelved
    HELD_BACK = "held-back"  # kept off the shelf because the hub or the robot could not serve it
    MISROUTED = "misrouted"  # any other route than the expected one
    LOST = "lost"  # never routed, or never scanned


HELD_BACK_BY = frozenset(
    {Why.HUB_UNAVAILABLE, Why.HUB_LOGIN_FAILED, Why.ROBOT_NOT_READY, Why.ROBOT_CONFLICT}
)
"""The reasons that keep a pack off the shelf because a device outside the daemon failed: the
offline policy's quarantine, a robot that could not take the pack."""


def judge(expected: str, route: str, why: str) -> Judgement:
    """How a pack whose ground truth is `expected` fared, routed to `route` for `why`."""
    if route == "lost":
        return Judgement.LOST
    if route == expected:
        return Judgement.AS_EXPECTED
    if route == "shelved":  # the expected route of a genuine pack only
        return Judgement.UNSAFE
    if why in HELD_BACK_BY:
        return Judgement.HELD_BACK
    return Judgement.MISROUTED


@dataclass
class DemoReport:
    """The figures of one demo run; `unsafe`, `misrouted`, `lost` and `moved_twice` must be 0
    (`held_back` is what a failing hub or robot costs, safely)."""

    packs: int
    shelved: int
    rejected: int
    quarantined: int
    alerts: int
    decommissioned: int
    misrouted: int
    lost: int
    elapsed_s: float
    packs_per_s: float
    db: str
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)
    moved_twice: int = 0  # packs the robot's mechanics moved more than once
    unsafe: int = 0
    held_back: int = 0

    @property
    def ok(self) -> bool:
        """Every pack safe, routed as expected or held back, none lost or moved twice."""
        return self.unsafe == self.misrouted == self.lost == self.moved_twice == 0

    def as_json(self) -> dict[str, object]:
        return {
            "packs": self.packs,
            "shelved": self.shelved,
            "rejected": self.rejected,
            "quarantined": self.quarantined,
            "alerts": self.alerts,
            "decommissioned": self.decommissioned,
            "unsafe": self.unsafe,
            "misrouted": self.misrouted,
            "held_back": self.held_back,
            "lost": self.lost,
            "moved_twice": self.moved_twice,
            "elapsed_s": round(self.elapsed_s, 3),
            "packs_per_s": round(self.packs_per_s, 1),
            "db": self.db,
        }


async def run_demo(
    options: DemoOptions,
    on_routed: Callable[[Routed], None] | None = None,
    on_loading: Callable[[], None] | None = None,
    web: DemoWeb | None = None,
) -> DemoReport:
    """Start the simulated world, load every pack through the daemon, compare with ground truth."""
    routed = 0

    def count(pack: Routed) -> None:
        nonlocal routed
        routed += 1
        if on_routed is not None:
            on_routed(pack)

    with tempfile.TemporaryDirectory(prefix="fmd-robot-world-") as folder:
        report, moves = await _load(options, Path(folder), count, lambda: routed, on_loading, web)
    report.moved_twice = sum(n > 1 for n in moves.values())
    return report


async def _load(
    options: DemoOptions,
    folder: Path,
    on_routed: Callable[[Routed], None],
    routed: Callable[[], int],
    on_loading: Callable[[], None] | None,
    web: DemoWeb | None,
) -> tuple[DemoReport, Counter[int]]:
    """Load the delivery of a world started in `folder`: the report, and the moves per pack."""
    async with simulated(options.config(), folder) as (config, world):
        feed = feed_for(config)

        def publish(pack: Routed) -> None:
            on_routed(pack)
            feed.publish(pack)

        metrics = Metrics()
        daemon = await build_daemon(config, on_routed=publish, observer=metrics)
        try:
            async with web_beside(config, daemon, feed, metrics) as served:
                if served is not None and web is not None:
                    _, token = await asyncio.to_thread(
                        daemon.store.add_user, "demo", Role.ADMIN, actor="demo", at=utc_now()
                    )
                    web.on_ready(served[0].url, token)
                world.begin(routed)
                if on_loading is not None:  # the simulated world is ready; loading starts now
                    on_loading()
                started = time.perf_counter()
                await daemon.run(stop=world.all_in)
                elapsed = time.perf_counter() - started
                report = await asyncio.to_thread(
                    _report, daemon.store, world.delivery, options.db, elapsed
                )
                if served is not None and web is not None:
                    await web.linger(report)
        finally:
            await daemon.aclose()
        robot = daemon.robot
    return report, robot.moves if isinstance(robot, SimRobot) else world.moves


def _report(store: Store, delivery: Delivery, db: Path, elapsed: float) -> DemoReport:
    summary = store.summary()
    outcomes = store.outcomes()
    by_kind: dict[str, Counter[str]] = {}
    judged: Counter[Judgement] = Counter()
    unscanned = 0
    scans = _scans_by_content(store.raw_scans())
    for pack in delivery.packs:  # a live source may miss one or read one twice
        tokens = scans.get(content(pack.raw))
        if not tokens:
            (route, why), unscanned = ("lost", ""), unscanned + 1
        else:
            route, why = outcomes.get(tokens.popleft(), ("lost", ""))
        by_kind.setdefault(pack.kind.value, Counter())[route] += 1
        judged[judge(pack.expected_route, route, why)] += 1
    return DemoReport(
        packs=len(delivery.packs),
        shelved=summary["shelved"],
        rejected=summary["rejected"],
        quarantined=summary["quarantined"],
        alerts=summary["alerts"],
        decommissioned=summary["decommissioned"],
        misrouted=judged[Judgement.MISROUTED],
        lost=summary["lost"] + unscanned,
        elapsed_s=elapsed,
        packs_per_s=summary["packs"] / elapsed if elapsed > 0 else 0.0,
        db=str(db),
        by_kind=by_kind,
        unsafe=judged[Judgement.UNSAFE],
        held_back=judged[Judgement.HELD_BACK],
    )


def _scans_by_content(scans: Iterable[tuple[int, str]]) -> dict[str, deque[int]]:
    """The tokens of the scans of each code, in scan order: a delivery's twin packs (one code
    on two packs) are matched to their scans in turn, whatever came between them (a robot's
    input belts take packs side by side)."""
    by_content: dict[str, deque[int]] = defaultdict(deque)
    for token, raw in scans:
        by_content[content(raw)].append(token)
    return by_content


def content(raw: str) -> str:
    """A scan without its AIM identifier: a camera reports that apart, a serial scanner in it."""
    return raw[read_symbology(raw, None).start :]
