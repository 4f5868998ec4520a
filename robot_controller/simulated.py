"""The command line's simulation entry point: a configuration's `[simulation]` started as a
simulated world (`simulators.world`), and the plain `Config` that reaches it.

`fmd-robot demo` and `fmd-robot run` on the default configuration both go world → `Config` →
`build_daemon`, so the demo exercises exactly the wiring a real site runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from robot_controller.config import (
    CameraScannerConfig,
    Config,
    HubConfig,
    MockHubConfig,
    ModbusRtuRobotConfig,
    ModbusTcpRobotConfig,
    RestHubConfig,
    RobotConfig,
    ScannerConfig,
    ScriptScannerConfig,
    Secret,
    SerialRobotConfig,
    SerialScannerConfig,
    SimRobotConfig,
    Simulation,
    SoapHubConfig,
    Wwks2RobotConfig,
)
from robot_controller.product_names import write_product_names
from simulators.delivery import master_data
from simulators.world import (
    ROBOT_CAPACITY,
    HubEndpoint,
    HubFaults,
    MockHubEndpoint,
    RestHubEndpoint,
    RobotEndpoint,
    ScannerEndpoint,
    SerialRobotEndpoint,
    SimRobotEndpoint,
    SoapHubEndpoint,
    TcpRobotEndpoint,
    World,
    WorldSpec,
    Wwks2RobotEndpoint,
    simulated_world,
)

RTU_BAUDRATE = 115_200  # over a pty pair, which takes no parity setting (EINVAL)


@asynccontextmanager
async def simulated(config: Config, folder: Path) -> AsyncIterator[tuple[Config, World]]:
    """Start the world `config.simulation` asks for (its files in `folder`) and yield the
    configuration that reaches it, with the world itself (ground truth, moves, feed)."""
    async with simulated_world(world_spec(config, folder)) as world:
        yield named(reaching(config, world), world, folder), world


def named(config: Config, world: World, folder: Path) -> Config:
    """`config` with the delivery's product names as the site's own (`[site] products`, a
    file in `folder`), as a pharmacy's own system would export them; one it names is kept."""
    if config.site.products is not None:
        return config
    products = master_data(world.delivery).products
    path = write_product_names({p.product_code: p.name for p in products}, folder / "products.csv")
    return config.model_copy(update={"site": config.site.model_copy(update={"products": path})})


def world_spec(config: Config, folder: Path) -> WorldSpec:
    """The world a configuration's `[simulation]` section asks for."""
    simulation = config.simulation
    if simulation is None:
        raise ValueError("this configuration has no [simulation] section")
    mock = config.hub if isinstance(config.hub, MockHubConfig) else MockHubConfig()
    return WorldSpec(
        folder=folder,
        location=config.site.location,
        packs=simulation.packs,
        seed=simulation.seed,
        suspect_rate=simulation.suspect_rate,
        hub=simulation.hub,
        robot=simulation.robot,
        scanner=simulation.scanner,
        move_time_s=simulation.move_time_ms / 1000,
        hub_faults=HubFaults(
            market=mock.market,
            seed=mock.seed,
            latency_s=mock.latency_ms / 1000,
            timeout_rate=mock.timeout_rate,
            technical_error_rate=mock.technical_error_rate,
            lost_reply_rate=mock.lost_reply_rate,
        ),
    )


def reaching(config: Config, world: World) -> Config:
    """`config` with each simulated device's section pointing at the world's endpoint."""
    update: dict[str, object] = {}
    if world.hub is not None:
        update["hub"] = hub_config(config.hub, world.hub)
    if world.robot is not None:
        update["robot"] = _robot(world.robot)
    if world.scanner is not None:
        update["scanners"] = [_scanner(world.scanner, config.simulation)]
    return config.model_copy(update=update)


def hub_config(configured: HubConfig, endpoint: HubEndpoint) -> HubConfig:
    """The `[hub]` section that reaches a simulated hub's `endpoint`, keeping the deadline and
    the breaker of `configured`."""
    match endpoint:
        case MockHubEndpoint():
            mock = configured if isinstance(configured, MockHubConfig) else MockHubConfig()
            return mock.model_copy(update={"master_data": endpoint.master_data})
        case SoapHubEndpoint():
            wire: SoapHubConfig | RestHubConfig = SoapHubConfig(
                kind="soap",
                url=endpoint.url,
                client_login_id=endpoint.client_login_id,
                user_id=endpoint.user_id,
                password=Secret(file=endpoint.password_file),
                cert=endpoint.client_cert,
                key=endpoint.client_key,
                ca=endpoint.ca,
            )
        case RestHubEndpoint():
            wire = RestHubConfig(
                kind="rest",
                url=endpoint.url,
                client_id=endpoint.client_id,
                client_secret=Secret(file=endpoint.secret_file),
                ca=endpoint.ca,
            )
    return wire.model_copy(update=_resilience(configured))


def _resilience(configured: HubConfig) -> dict[str, Any]:
    """The keys every hub kind shares (deadline, breaker): the simulated hub keeps them."""
    return {
        "timeout_s": configured.timeout_s,
        "breaker_failures": configured.breaker_failures,
        "breaker_cooldown_s": configured.breaker_cooldown_s,
    }


def _robot(endpoint: RobotEndpoint) -> RobotConfig:
    match endpoint:
        case SimRobotEndpoint():
            return SimRobotConfig(move_time_ms=endpoint.move_time_s * 1000, capacity=ROBOT_CAPACITY)
        case TcpRobotEndpoint():
            return ModbusTcpRobotConfig(kind="modbus-tcp", host=endpoint.host, port=endpoint.port)
        case SerialRobotEndpoint(protocol="modbus-rtu"):
            return ModbusRtuRobotConfig(
                kind="modbus-rtu", port=endpoint.port, baudrate=RTU_BAUDRATE, parity="N"
            )
        case SerialRobotEndpoint():
            return SerialRobotConfig(kind="serial", port=endpoint.port)
        case Wwks2RobotEndpoint():
            return Wwks2RobotConfig(kind="wwks2", host=endpoint.host, port=endpoint.port)


def _scanner(endpoint: ScannerEndpoint, simulation: Simulation | None) -> ScannerConfig:
    match endpoint.kind:
        case "script":
            interval_ms = simulation.scan_interval_ms if simulation is not None else 0
            return ScriptScannerConfig(
                kind="script", path=Path(endpoint.path), interval_ms=interval_ms
            )
        case "serial":
            return SerialScannerConfig(kind="serial", port=endpoint.path)
        case "camera":
            return CameraScannerConfig(
                kind="camera", source=endpoint.path, dedupe_window_s=endpoint.dedupe_window_s
            )
