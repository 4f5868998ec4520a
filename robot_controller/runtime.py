"""Builds a running daemon (store, hub, robot, scanners, pipeline) from its configuration."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fmd.codes.escapes import unescape_controls
from fmd.hub import HubClient, MockHub
from fmd.hub.resilient import ResilientHub
from fmd.hub.rest import RestHubClient
from fmd.hub.soap import SoapHubClient
from robot_controller.config import (
    CameraScannerConfig,
    Config,
    ConfigError,
    KeyboardScannerConfig,
    ModbusRtuRobotConfig,
    ModbusTcpRobotConfig,
    RestHubConfig,
    RobotConfig,
    ScannerConfig,
    ScriptScannerConfig,
    SerialRobotConfig,
    SerialScannerConfig,
    SimRobotConfig,
    SoapHubConfig,
)
from robot_controller.pipeline import Pipeline
from robot_controller.robot.base import Robot, RobotError
from robot_controller.robot.modbus import ModbusRobot, ModbusTimeouts
from robot_controller.robot.serial import SerialRobot
from robot_controller.robot.sim import SimRobot
from robot_controller.store import Store
from scanners.base import Scanner, ScannerError
from scanners.camera import CameraScanner, Region
from scanners.decoders import make_decoder
from scanners.keyboard import KeyboardScanner
from scanners.script import ScriptedScanner
from scanners.serial import SerialScanner, SerialSettings
from simulators.delivery import Delivery, generate_delivery, seed_hub, supply_elsewhere


@dataclass
class Daemon:
    pipeline: Pipeline
    scanners: list[Scanner]
    store: Store

    async def aclose(self) -> None:
        await self.pipeline.aclose()
        await self.pipeline.robot.aclose()
        await close_hub(self.pipeline.hub)
        self.store.close()


async def build_daemon(config: Config) -> Daemon:
    """Open the store and wire the configured hub, robot and scanners into a pipeline."""
    delivery = generate_delivery(
        config.simulation.packs,
        seed=config.simulation.seed,
        suspect_rate=config.simulation.suspect_rate,
        today=datetime.now(UTC).date(),
    )
    scanners = await open_scanners(config, delivery)
    try:
        robot = await open_robot(config.robot)
    except BaseException:
        for scanner in scanners:
            await scanner.aclose()
        raise
    hub = await build_hub(config, delivery)
    store = await asyncio.to_thread(Store.open, config.store.url)
    pipeline = Pipeline(
        store=store,
        hub=hub,
        robot=robot,
        site=config.site.policy(),
        separators=config.site.separators,
        window=config.pipeline.window,
        replay_every_s=config.pipeline.replay_every_s,
    )
    return Daemon(pipeline, scanners, store)


async def open_scanners(config: Config, delivery: Delivery | None = None) -> list[Scanner]:
    """Every configured scanner, opened; if one cannot be, those already open are closed."""
    opened: list[Scanner] = []
    try:
        for number, settings in enumerate(config.scanners):
            try:
                opened.append(build_scanner(settings, delivery))
            except ScannerError as error:
                raise ConfigError(f"scanners.{number}: {error}") from None
    except BaseException:
        for scanner in opened:
            await scanner.aclose()
        raise
    return opened


def build_robot(config: RobotConfig) -> Robot:
    """The configured robot driver (not yet connected)."""
    match config:
        case ModbusTcpRobotConfig():
            return ModbusRobot.tcp(
                config.host, config.port, device_id=config.device_id, timeouts=_timeouts(config)
            )
        case ModbusRtuRobotConfig():
            return ModbusRobot.rtu(
                config.port,
                baudrate=config.baudrate,
                parity=config.parity,
                stopbits=int(config.stopbits),
                bytesize=config.bytesize,
                device_id=config.device_id,
                timeouts=_timeouts(config),
            )
        case SerialRobotConfig():
            return SerialRobot(
                config.port,
                baudrate=config.baudrate,
                parity=config.parity,
                stopbits=config.stopbits,
                bytesize=config.bytesize,
                ack_timeout_s=config.ack_timeout_s,
                done_timeout_s=config.done_timeout_s,
                heartbeat_s=config.heartbeat_s,
                stale_after_s=config.stale_after_s,
            )
        case SimRobotConfig():
            return SimRobot(capacity=config.capacity, move_time_s=config.move_time_ms / 1000)
    raise AssertionError(f"unknown robot configuration {config!r}")


async def open_robot(config: RobotConfig) -> Robot:
    """The configured robot, connected: `ConfigError` (one line) when it cannot be reached."""
    robot = build_robot(config)
    try:
        await robot.connect()
    except RobotError as error:
        await robot.aclose()
        raise ConfigError(f"robot: {error}") from None
    return robot


def _timeouts(config: ModbusTcpRobotConfig | ModbusRtuRobotConfig) -> ModbusTimeouts:
    return ModbusTimeouts(
        ack_timeout_s=config.ack_timeout_s,
        done_timeout_s=config.done_timeout_s,
        heartbeat_s=config.heartbeat_s,
        stale_after_s=config.stale_after_s,
    )


async def build_hub(config: Config, delivery: Delivery) -> HubClient:
    """The configured national system: a real dialect behind the resilience wrapper, or the
    mock one holding the simulated delivery's master data."""
    hub = config.hub
    if hub.kind == "soap" and hub.soap is not None and hub.url is not None:
        return ResilientHub(soap_client(hub.url, hub.soap, hub.timeout_s), timeout_s=hub.timeout_s)
    if hub.kind == "rest" and hub.rest is not None and hub.url is not None:
        return ResilientHub(rest_client(hub.url, hub.rest, hub.timeout_s), timeout_s=hub.timeout_s)
    mock = MockHub(
        seed=config.simulation.seed,
        timeout_rate=hub.timeout_rate,
        technical_error_rate=hub.technical_error_rate,
        lost_reply_rate=hub.lost_reply_rate,
    )
    seed_hub(mock, delivery)
    await supply_elsewhere(mock, delivery)
    mock.latency_s = hub.latency_ms / 1000
    return mock.client(config.site.location, config.site.user)


async def close_hub(hub: HubClient) -> None:
    """Close a hub client's connections (the in-process mock has none)."""
    close = getattr(hub, "aclose", None)
    if close is not None:
        await close()


def soap_client(url: str, soap: SoapHubConfig, timeout_s: float) -> SoapHubClient:
    """A SOAP client from its configuration (secrets read from the environment or files)."""
    return SoapHubClient(
        url,
        client_login_id=soap.client_login_id,
        user_id=soap.user_id,
        password=soap.password.read().get_secret_value(),
        cert=str(soap.cert) if soap.cert else None,
        key=str(soap.key) if soap.key else None,
        pkcs12=str(soap.pkcs12) if soap.pkcs12 else None,
        pkcs12_password=(
            soap.pkcs12_password.read().get_secret_value() if soap.pkcs12_password else None
        ),
        ca=str(soap.ca) if soap.ca else True,
        timeout=timeout_s,
    )


def rest_client(url: str, rest: RestHubConfig, timeout_s: float) -> RestHubClient:
    """A REST client from its configuration (the secret read from the environment or a file)."""
    return RestHubClient(
        url,
        client_id=rest.client_id,
        client_secret=rest.client_secret.read().get_secret_value(),
        verify=str(rest.ca) if rest.ca else True,
        data_entry_mode=rest.data_entry_mode,
        timeout=timeout_s,
    )


def build_scanner(config: ScannerConfig, delivery: Delivery | None = None) -> Scanner:
    """The configured scan source, opened: `ScannerError` (one line) when it cannot be used."""
    match config:
        case SerialScannerConfig():
            serial = SerialScanner(
                SerialSettings(
                    url=config.port,
                    baudrate=config.baudrate,
                    bytesize=config.bytesize,
                    parity=config.parity,
                    stopbits=config.stopbits,
                    suffix=config.suffix,
                    max_line=config.max_line,
                )
            )
            serial.open()
            return serial
        case KeyboardScannerConfig():
            keyboard = KeyboardScanner(
                device=config.device, gs_substitute=config.gs_substitute, grab=config.grab
            )
            keyboard.open()
            return keyboard
        case CameraScannerConfig():
            camera = CameraScanner(
                config.source,
                decoder=make_decoder(config.decoder),
                roi=Region(*config.roi) if config.roi else None,
                dedupe_window_s=config.dedupe_window_s,
                realtime=config.realtime,
            )
            camera.open()
            return camera
        case ScriptScannerConfig(path=None):
            if delivery is None:
                raise ConfigError("scanners.path: a script scanner here needs a file of scans")
            return ScriptedScanner(
                delivery.raws, source="script:delivery", interval_s=config.interval_ms / 1000
            )
        case ScriptScannerConfig(path=Path() as path):
            return ScriptedScanner(
                _read_script(path), source=f"script:{path}", interval_s=config.interval_ms / 1000
            )
    raise AssertionError(f"unknown scanner configuration {config!r}")


def _read_script(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"scanners.path: cannot read {path}: {error}") from None
    return [unescape_controls(line) for line in lines if line.strip()]
