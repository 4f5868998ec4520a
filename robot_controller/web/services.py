"""What the web app is given by the running daemon (or by a test): one object, no globals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fmd.hub.resilient import HubHealth
from robot_controller.config import Config
from robot_controller.metrics import Metrics
from robot_controller.robot.base import Robot
from robot_controller.store import Store
from robot_controller.texts import Catalogue, catalogue
from robot_controller.users import User
from robot_controller.web.feed import LiveFeed
from robot_controller.web.sessions import LoginLimit, Sessions
from scanners.base import Scanner

SEEN_EVERY = timedelta(minutes=5)
"""How often a user's `last_used_at` is written while they keep using the API."""


@dataclass
class WebServices:
    """The daemon's parts the screens read and drive.

    `robot` is None when no daemon runs (the robot's page then says so); `hub_health` tells
    whether the national system answers; `paused` whether loading waits for the robot;
    `metrics` what `/metrics` shows (the daemon steps its counters).
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
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
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
    metrics: Metrics | None = None,
    scanners: Sequence[Scanner] = (),
    clock: Callable[[], float] = time.monotonic,
) -> WebServices:
    """The services for `config`'s `[web]`, over a store (and a running daemon's parts: its
    robot, feed, hub health, pause, the metrics it steps and the scanners it reads)."""
    web = config.web
    metrics = metrics or Metrics()
    metrics.watch(store, robot=config.robot.name if config.robot else None, scanners=scanners)
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
        metrics=metrics,
    )
    if hub_health is not None:
        services.hub_health = hub_health
    if paused is not None:
        services.paused = paused
    return services
