"""Builds a running daemon (store, hub, robot, scanners, pipeline) from its configuration."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fmd.codes.escapes import unescape_controls
from fmd.hub import HubClient, MockHub
from robot_controller.config import Config, ConfigError, ScannerConfig
from robot_controller.pipeline import Pipeline
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from scanners.base import Scanner
from scanners.script import ScriptedScanner
from simulators.delivery import Delivery, generate_delivery, seed_hub, supply_elsewhere


@dataclass
class Daemon:
    pipeline: Pipeline
    scanners: list[Scanner]
    store: Store

    async def aclose(self) -> None:
        await self.pipeline.aclose()
        await self.pipeline.robot.aclose()
        self.store.close()


async def build_daemon(config: Config) -> Daemon:
    """Open the store and wire the configured hub, robot and scanners into a pipeline."""
    delivery = generate_delivery(
        config.simulation.packs,
        seed=config.simulation.seed,
        suspect_rate=config.simulation.suspect_rate,
        today=datetime.now(UTC).date(),
    )
    hub = await build_hub(config, delivery)
    store = await asyncio.to_thread(Store.open, config.store.url)
    pipeline = Pipeline(
        store=store,
        hub=hub,
        robot=SimRobot(
            capacity=config.robot.capacity, move_time_s=config.robot.move_time_ms / 1000
        ),
        site=config.site.policy(),
        separators=config.site.separators,
        window=config.pipeline.window,
    )
    scanners = [build_scanner(s, delivery) for s in config.scanners]
    return Daemon(pipeline, scanners, store)


async def build_hub(config: Config, delivery: Delivery) -> HubClient:
    """The mock national system, holding the simulated delivery's master data."""
    hub = MockHub(
        seed=config.simulation.seed,
        timeout_rate=config.hub.timeout_rate,
        technical_error_rate=config.hub.technical_error_rate,
        lost_reply_rate=config.hub.lost_reply_rate,
    )
    seed_hub(hub, delivery)
    await supply_elsewhere(hub, delivery)
    hub.latency_s = config.hub.latency_ms / 1000
    return hub.client(config.site.location, config.site.user)


def build_scanner(config: ScannerConfig, delivery: Delivery) -> Scanner:
    """A scripted scanner: the lines of `path` (control characters spelled out), or the delivery."""
    raws = delivery.raws if config.path is None else _read_script(config.path)
    return ScriptedScanner(
        raws, source=f"script:{config.path or 'delivery'}", interval_s=config.interval_ms / 1000
    )


def _read_script(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"scanners.path: cannot read {path}: {error}") from None
    return [unescape_controls(line) for line in lines if line.strip()]
