"""The screens beside a running daemon: its store, robot, hub health and routed packs.

The app's own modules (FastAPI's routes, Jinja, the reports) are imported only once the
screens are served: every `fmd-robot` command imports this module, and most never serve.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fmd.hub.resilient import HubHealth
from robot_controller.config import Config
from robot_controller.metrics import Metrics
from robot_controller.texts import catalogue
from robot_controller.web.feed import LiveFeed
from robot_controller.wiring import Daemon
from scanners.base import Scanner
from scanners.serial import SerialScanner

if TYPE_CHECKING:
    from robot_controller.web.server import WebServer
    from robot_controller.web.services import ScannerState, WebServices


def feed_for(config: Config) -> LiveFeed:
    """The live feed the daemon's routed packs go to (made before the daemon is built, whose
    `on_routed` publishes to it)."""
    return LiveFeed(catalogue(config.site.language))


def scanner_state(scanner: Scanner) -> ScannerState:
    """A scanner's name (its source) and, for a serial one, whether its port is open."""
    from robot_controller.web.services import ScannerState  # only when served

    name = str(getattr(scanner, "source", None) or type(scanner).__name__)
    if isinstance(scanner, SerialScanner):
        return ScannerState(name, scanner.port is not None)
    return ScannerState(name)


@asynccontextmanager
async def web_beside(
    config: Config, daemon: Daemon, feed: LiveFeed, metrics: Metrics | None = None
) -> AsyncIterator[tuple[WebServer, WebServices] | None]:
    """Serve `[web]` while the daemon runs (None when `[web] enabled = false`); `ConfigError`
    when its address or certificate cannot be used. `metrics`: the daemon's observer (made
    before it, like `feed`), shown at `/metrics`."""
    if not config.web.enabled:
        yield None
        return
    from robot_controller.web.app import create_app  # only when served (the module says why)
    from robot_controller.web.server import WebServer
    from robot_controller.web.services import web_services

    pipeline = daemon.pipeline
    services = web_services(
        config,
        daemon.store,
        robot=daemon.robot,
        feed=feed,
        hub_health=lambda: getattr(pipeline.hub, "health", HubHealth.ANSWERING),
        paused=lambda: pipeline.steps.turn.paused,
        scanners=lambda: tuple(scanner_state(s) for s in daemon.scanners),
        hand_out=pipeline.hand_out.hand_out if pipeline.hand_out is not None else None,
        metrics=metrics,
        scanner_devices=daemon.scanners,
    )
    server = WebServer(create_app(services), config.web)
    await server.start()
    try:
        yield server, services
    finally:
        await server.aclose()
