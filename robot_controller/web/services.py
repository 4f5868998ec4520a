"""What the web app is given by the running daemon (or by a test): one object, no globals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fastapi import Request

from fmd.hub.resilient import HubHealth
from robot_controller.config import Config
from robot_controller.dispense import Handed, HandOut
from robot_controller.metrics import Metrics
from robot_controller.pipeline.hand_out import handed_out
from robot_controller.robot.base import Robot
from robot_controller.robot.wwks2 import Wwks2Robot
from robot_controller.store import Store
from robot_controller.texts import Catalogue, catalogue
from robot_controller.users import User
from robot_controller.web.audit_check import Verified
from robot_controller.web.feed import LiveFeed
from robot_controller.web.heartbeat import HeartbeatWatch
from robot_controller.web.sessions import LoginLimit, Sessions
from scanners.base import Scanner

SEEN_EVERY = timedelta(minutes=5)
"""How often a user's `last_used_at` is written while they keep using the API."""


@dataclass(frozen=True, slots=True)
class ScannerState:
    """One scanner as the bench shows it: its name and whether it is connected (None: the
    scanner cannot tell, e.g. a keyboard wedge or a file of scans)."""

    name: str
    connected: bool | None = None


@dataclass
class WebServices:
    """The daemon's parts the screens read and drive.

    `robot` is None when no daemon runs (the robot's page then says so); `hub_health` tells
    whether the national system answers; `paused` whether loading waits for the robot;
    `verified` the last `audit verify` run from the screens (None: none since the start);
    `heartbeat` when the robot's heartbeat counter last changed (on `monotonic`'s clock);
    `robot_turn` lets one command or acknowledgement at a time read, send and read again;
    `scanners` each scanner's state; `hand_out` records what a WWKS2 robot hands out (None:
    the robot cannot hand out, so the bench offers no hand-out); `metrics` what `/metrics`
    shows (the daemon steps its counters).
    """

    config: Config
    store: Store
    feed: LiveFeed
    sessions: Sessions
    logins: LoginLimit
    robot: Robot | None = None
    metrics: Metrics = field(default_factory=Metrics)
    hub_health: Callable[[], HubHealth] = lambda: HubHealth.ANSWERING
    paused: Callable[[], str | None] = lambda: None  # why loading waits for the robot
    scanners: Callable[[], tuple[ScannerState, ...]] = lambda: ()
    hand_out: HandOut | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    verified: Verified | None = None
    verifying: bool = False
    monotonic: Callable[[], float] = time.monotonic  # heartbeat ages (a test's manual clock)
    heartbeat: HeartbeatWatch = field(default_factory=HeartbeatWatch)
    robot_turn: asyncio.Lock = field(default_factory=asyncio.Lock)  # one command at a time
    handed: dict[str, object] = field(default_factory=dict)  # a session's last hand-out, shown once
    _seen: dict[int, datetime] = field(default_factory=dict)

    @property
    def texts(self) -> Catalogue:
        return catalogue(self.config.site.language)

    @property
    def robot_name(self) -> str:
        return self.config.robot.name if self.config.robot is not None else "robot"

    async def seen(self, user: User) -> None:
        """Note that `user` used their token now (written at most every `SEEN_EVERY`)."""
        now = self.now()
        last = self._seen.get(user.id) or user.last_used_at
        if last is None or now - last >= SEEN_EVERY:
            self._seen[user.id] = now
            await asyncio.to_thread(self.store.note_user_seen, user.id, at=now)


def web_services(
    config: Config,
    store: Store,
    *,
    robot: Robot | None = None,
    feed: LiveFeed | None = None,
    hub_health: Callable[[], HubHealth] | None = None,
    paused: Callable[[], str | None] | None = None,
    scanners: Callable[[], tuple[ScannerState, ...]] | None = None,
    hand_out: HandOut | None = None,
    metrics: Metrics | None = None,
    scanner_devices: Sequence[Scanner] = (),
    clock: Callable[[], float] = time.monotonic,
) -> WebServices:
    """The services for `config`'s `[web]`, over a store (and a running daemon's parts: its
    robot, feed, hub health, pause, scanners' states, the metrics it steps and the scanners
    whose reconnects they read).

    Without a `hand_out`, a WWKS2 `robot`'s hand-outs are recorded by one made here, which
    commits their decommissions to the outbox for the daemon's replay to send, and tells each
    pack that left to the feed and the metrics (a daemon's own tells its `on_routed`)."""
    web = config.web
    metrics = metrics or Metrics()
    robot_name = config.robot.name if config.robot else None
    metrics.watch(store, robot=robot_name, scanners=scanner_devices)
    services = WebServices(
        config=config,
        store=store,
        feed=feed or LiveFeed(catalogue(config.site.language)),
        sessions=Sessions(
            idle_s=web.session_idle_minutes * 60,
            max_s=web.session_hours * 3600,
            clock=clock,
            secure=web.tls,
        ),
        logins=LoginLimit(web.login_failures_per_minute, clock),
        robot=robot,
        monotonic=clock,
        heartbeat=HeartbeatWatch(clock),
        hand_out=hand_out,
        metrics=metrics,
    )
    if hand_out is None and isinstance(robot, Wwks2Robot):
        services.hand_out = HandOut(
            store, None, services.now, community=config.site.mode == "community",
            location=config.site.location, robot=services.robot_name, send=False,
            separators=config.site.separators, on_handed=lambda pack: _tell(services, pack),
        )  # fmt: skip
    if scanners is not None:
        services.scanners = scanners
    if hub_health is not None:
        services.hub_health = hub_health
    if paused is not None:
        services.paused = paused
    return services


def _tell(services: WebServices, handed: Handed) -> None:
    routed = handed_out(handed)
    services.feed.publish(routed)
    services.metrics.routed(routed)


def services_of(request: Request) -> WebServices:
    """The services of the app a request came to (`create_app` keeps them on its state)."""
    services: WebServices = request.app.state.services
    return services
