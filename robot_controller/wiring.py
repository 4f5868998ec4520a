"""The composition root: a daemon (store, hub, robot, scanners, pipeline) from its configuration.

Every device is reached as the configuration says; nothing here imports `simulators` (the
simulated world, `simulators.world`, starts its devices first and hands over a plain `Config`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import structlog
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from fmd.hub import HubAuthFailed, HubClient, HubUnavailable, MockHub
from fmd.hub.master_data import MasterData, MasterDataError, load_master_data
from fmd.hub.resilient import CircuitBreaker, ResilientHub
from fmd.hub.rest import RestHubClient
from fmd.hub.soap import SoapHubClient
from fmd.hub.soap_tls import trusting
from fmd.policy import Decision
from robot_controller import __version__
from robot_controller.attention import hub_health_warnings
from robot_controller.config import (
    CameraScannerConfig,
    Config,
    ConfigError,
    KeyboardScannerConfig,
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
    SoapHubConfig,
    Wwks2RobotConfig,
)
from robot_controller.pipeline import Pipeline, Routed, utc_now
from robot_controller.pipeline.stock_in import DEFAULT_TIMING, StockInTiming
from robot_controller.product_names import NONE, ProductNamesError, load_product_names
from robot_controller.proof.checkpointer import Checkpointer
from robot_controller.proof.configured import checkpointer, signing_key
from robot_controller.robot.base import Job, JobOutcome, Robot, RobotError
from robot_controller.robot.modbus import ModbusRobot, ModbusTimeouts
from robot_controller.robot.serial import SerialRobot
from robot_controller.robot.sim import SimRobot
from robot_controller.robot.wwks2 import LinkSettings, Wwks2Robot, Wwks2Settings
from robot_controller.store import DEFAULT_ROBOT, Store, StoreMissing, locks
from robot_controller.store.errors import store_name
from robot_controller.store.locks import StoreLock
from robot_controller.texts import Catalogue, catalogue
from scanners.base import Scanner, ScannerError
from scanners.camera import CameraScanner, Region
from scanners.decoders import make_decoder
from scanners.keyboard import KeyboardScanner
from scanners.script import ScriptedScanner, ScriptFile
from scanners.serial import SerialScanner, SerialSettings

log = structlog.get_logger("fmd.hub")

NO_ROBOT = (
    'robot: none configured (add a robot section to the config file; kind = "sim" is the '
    "in-process robot model for a trial)"
)


class DaemonObserver(Protocol):
    """Who hears of the daemon's work as it happens (the metrics): each call is on the hot path,
    so it only counts."""

    def routed(self, pack: Routed) -> None: ...

    def hub_call(self, operation: str, seconds: float, outcome: str) -> None: ...

    def robot_job(self, job: Job, outcome: JobOutcome | None, seconds: float) -> None: ...


@dataclass
class Daemon:
    """A wired daemon: the pipeline and the scanners that feed it, over one store.

    `aclose` closes what `build_daemon` opened, in reverse order, each even if another fails.
    """

    pipeline: Pipeline
    scanners: list[Scanner]
    store: Store
    opened: AsyncExitStack
    checkpoints: Checkpointer

    @property
    def robot(self) -> Robot:
        return self.pipeline.robot

    async def run(self, stop: asyncio.Event | None = None, *, drain_s: float | None = None) -> None:
        """Recover, then load packs until the scanners end or `stop` is set (and at the end of
        a finite input, replay the outbox for up to `drain_s`); meanwhile the chain's head is
        signed as `[audit]` says (and once more by `aclose`)."""
        signing = asyncio.create_task(self.checkpoints.run(self.pipeline.steps.context.call))
        try:
            await self.pipeline.run(self.scanners, stop=stop, drain_s=drain_s)
        finally:
            signing.cancel()
            await asyncio.gather(signing, return_exceptions=True)

    async def aclose(self) -> None:
        await self.opened.aclose()


async def build_daemon(
    config: Config,
    *,
    on_routed: Callable[[Routed], None] | None = None,
    observer: DaemonObserver | None = None,
) -> Daemon:
    """Open the configured hub, scanners, robot and store, and wire them into a pipeline
    (`observer`, when given, hears of each routed pack, hub call and robot job).

    Nothing is generated or simulated here: every device is reached as `config` says. On a
    `ConfigError` (one line naming the section), whatever was opened is closed again; the hub
    comes first (after the site's product names), so a bad names file, bad master data or
    credentials the hub refuses stop everything before a device is touched.
    """
    robot_scans = isinstance(config.robot, Wwks2RobotConfig)  # the robot reads each pack
    if not config.scanners and not robot_scans:
        raise ConfigError("scanners: none configured (the daemon needs at least one scanner)")
    names = await asyncio.to_thread(site_product_names, config)  # before any device
    opened = AsyncExitStack()
    try:
        hub = await build_hub(config)
        opened.push_async_callback(hub.aclose)
        if observer is not None:
            hub.on_call = observer.hub_call
        await check_login(hub)
        hub.on_login_refused = _log_refusal  # from now on, a refused login is an error line
        hub.on_health = hub_health_warnings(config.hub.breaker_cooldown_s)
        if config.robot is None:
            raise ConfigError(NO_ROBOT)
        # held before any device: a second daemon for the same store or robot touches none
        lock = await asyncio.to_thread(hold_store, config.store.url, robot=config.robot.name)
        opened.callback(lock.release)
        key = await asyncio.to_thread(signing_key, config)
        scanners = await open_scanners(config)
        for scanner in scanners:
            opened.push_async_callback(scanner.aclose)
        robot = await open_robot(config.robot, daemon=True)
        opened.push_async_callback(robot.aclose)
        store = await asyncio.to_thread(open_store, config.store.url, location=config.site.location)
        opened.callback(store.close)
        pipeline = Pipeline(
            store=store,
            hub=hub,
            robot=robot,
            site=config.site.policy(),
            separators=config.site.separators,
            window=config.pipeline.window,
            replay_every_s=config.pipeline.replay_every_s,
            decommission_ahead=config.pipeline.decommission_ahead,
            on_routed=_both(observer.routed, on_routed) if observer else on_routed,
            robot_name=config.robot.name,
            location=config.site.location,
            claim_lease=timedelta(seconds=config.store.claim_lease_s),
            reject_text=robot_words(catalogue(config.site.language)),
            stock_in=stock_in_timing(config.robot),
            absent_is_new_delivery=isinstance(config.robot, Wwks2RobotConfig)
            and config.robot.absent_is_new_delivery,
            product_names=names,
        )
        opened.push_async_callback(pipeline.aclose)
        if observer is not None:
            pipeline.steps.turn.on_job = observer.robot_job
        checkpoints = await asyncio.to_thread(checkpointer, config, store, key, utc_now)
        # a clean stop signs the head, before the pipeline's store thread stops
        opened.push_async_callback(_sign_at_stop, pipeline, checkpoints)
    except BaseException:
        await opened.aclose()
        raise
    return Daemon(pipeline, scanners, store, opened, checkpoints)


def _both(
    first: Callable[[Routed], None], then: Callable[[Routed], None] | None
) -> Callable[[Routed], None]:
    if then is None:
        return first

    def routed(pack: Routed) -> None:
        first(pack)
        then(pack)

    return routed


async def _sign_at_stop(pipeline: Pipeline, checkpoints: Checkpointer) -> None:
    """The last checkpoint, of what this run added (a failure is an error line: the daemon
    stops anyway)."""
    try:
        await pipeline.steps.context.call(checkpoints.if_new)
    except Exception as error:  # noqa: BLE001 - logged; the rest still closes
        structlog.get_logger("fmd.audit").error("audit.checkpoint_failed", error=repr(error))


def hold_store(url: str, *, robot: str = DEFAULT_ROBOT) -> StoreLock:
    """The writer's lock on the store at `url` for `robot`'s daemon, until it is released (one
    daemon per SQLite store, one per robot on PostgreSQL): `StoreBusy` (one line naming the
    holder) when another process has it; `ConfigError` (one line) when it cannot be taken."""
    with _cannot_open(url):
        return locks.hold_store(url, robot=robot)


def open_store(url: str, *, read_only: bool = False, location: str | None = None) -> Store:
    """The store at `url`, migrated (`read_only`: as it is, nothing created or changed), for
    a daemon or command at the premises `location` (the alert cases it opens name them);
    `ConfigError` (one line) when it cannot be opened or, read-only, is not there."""
    with _cannot_open(url):
        return Store.open(url, read_only=read_only, location=location)


@contextmanager
def _cannot_open(url: str) -> Iterator[None]:
    try:
        yield
    except StoreMissing as error:  # the URL points where there is no store, or no folder
        raise ConfigError(str(error)) from None
    except (SQLAlchemyError, OSError, ValueError) as error:
        cause = error.orig if isinstance(error, DBAPIError) else error  # the driver's own words
        text = str(cause).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        name = store_name(make_url(url))  # never the password
        raise ConfigError(f"store: cannot open {name}: {reason}") from None


async def open_scanners(config: Config) -> list[Scanner]:
    """Every configured scanner, opened; if one cannot be, those already open are closed."""
    opened: list[Scanner] = []
    try:
        for number, settings in enumerate(config.scanners):
            try:
                opened.append(build_scanner(settings))
            except ScannerError as error:
                raise ConfigError(f"scanners.{number}: {error}") from None
    except BaseException:
        for scanner in opened:
            await scanner.aclose()
        raise
    return opened


def build_robot(config: RobotConfig, *, daemon: bool = False) -> Robot:
    """The configured robot driver (not yet connected); `daemon`: for the daemon, which waits
    for a WWKS2 robot that is down at its start (it asks for packs itself once it is up)."""
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
        case Wwks2RobotConfig():
            return Wwks2Robot(wwks2_settings(config, wait_at_start=daemon))
    raise AssertionError(f"unknown robot configuration {config!r}")


def wwks2_settings(config: Wwks2RobotConfig, *, wait_at_start: bool = False) -> Wwks2Settings:
    """The WWKS2 driver's settings from its configuration."""
    link = LinkSettings(
        host=config.host,
        port=config.port,
        subscriber=config.subscriber,
        request_timeout_s=config.request_timeout_s,
        keepalive_every_s=config.keepalive_every_s,
        status_every_s=config.status_every_s,
        reconnect_max_s=config.reconnect_max_s,
        version=__version__,
    )
    return Wwks2Settings(
        link,
        answer_within_s=config.answer_within_s,
        stored_within_s=config.stored_within_s,
        output_within_s=config.output_within_s,
        quarantine_destination=config.quarantine_destination,
        wait_at_start=wait_at_start,
    )


def stock_in_timing(config: RobotConfig) -> StockInTiming:
    """How a robot that asks about each pack (WWKS2) is answered."""
    if not isinstance(config, Wwks2RobotConfig):
        return DEFAULT_TIMING
    return StockInTiming(
        answer_within_s=config.answer_within_s, stored_within_s=config.stored_within_s
    )


def robot_words(texts: Catalogue) -> Callable[[Decision], str]:
    """The line a robot shows for a pack it is told to reject, in the site's language."""
    return lambda decision: texts.robot_reject(decision.why)


async def open_robot(config: RobotConfig | None, *, daemon: bool = False) -> Robot:
    """The configured robot, connected: `ConfigError` (one line) when there is none or it
    cannot be reached (`daemon`: a WWKS2 robot that is down is waited for, `build_robot`)."""
    if config is None:
        raise ConfigError(NO_ROBOT)
    robot = build_robot(config, daemon=daemon)
    try:
        await robot.connect()
    except RobotError as error:
        await robot.aclose()
        raise ConfigError(f"robot: {error}") from None
    return robot


async def open_wwks2(config: Wwks2RobotConfig) -> Wwks2Robot:
    """The configured WWKS2 robot, connected (`ConfigError`, one line, when it cannot be
    reached): for the commands that use its own requests (hand-out, tasks)."""
    robot = Wwks2Robot(wwks2_settings(config))
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


async def build_hub(config: Config, *, clock: Callable[[], float] = time.monotonic) -> ResilientHub:
    """The configured national system behind the resilience wrapper (timeouts, safe retries,
    backoff, the breaker as `[hub]` sets it, on `clock`): the only place the wrapper is applied."""
    hub = config.hub
    match hub:
        case SoapHubConfig():
            client: HubClient = soap_client(hub)
        case RestHubConfig():
            client = rest_client(hub)
        case MockHubConfig():
            mock = await asyncio.to_thread(mock_hub, hub)
            client = mock.client(config.site.location, config.site.user)
    breaker = CircuitBreaker(
        failures=hub.breaker_failures, cooldown_s=hub.breaker_cooldown_s, clock=clock
    )
    return ResilientHub(client, timeout_s=hub.timeout_s, breaker=breaker)


def _log_refusal(error: HubAuthFailed) -> None:
    """A login refused while the daemon runs: one error line (the hub repeats it only when
    the refusal changes)."""
    log.error("hub.login_failed", code=error.code, error=str(error))


def login_refused(error: HubAuthFailed) -> ConfigError:
    """The one line for credentials the hub refused (`run`, `demo` and `verify` alike)."""
    return ConfigError(f"hub: {error}")


async def check_login(hub: ResilientHub) -> None:
    """Ask the hub to check our credentials: `ConfigError` when it refuses them; a hub that
    does not answer is a warning (the daemon starts, and the offline policy applies)."""
    try:
        await hub.ping()
    except HubAuthFailed as error:
        raise login_refused(error) from None
    except HubUnavailable as error:
        log.warning(
            "hub.unreachable_at_start",
            error=str(error) or type(error).__name__,
            detail="starting anyway: packs follow the site's offline policy until it answers",
        )


def mock_hub(config: MockHubConfig) -> MockHub:
    """An in-process mock national system holding the configured master data."""
    if config.master_data is None:
        raise ConfigError(
            'hub: kind = "mock" needs master_data = "FILE.json" (products, batches and packs); '
            'a real site sets kind = "soap" or "rest"'
        )
    mock = MockHub(seed=config.seed, market=config.market)
    try:
        load_master_data(mock, read_master_data(config.master_data))
    except MasterDataError as error:
        raise ConfigError(f"hub.master_data: {config.master_data}: {error}") from None
    mock.set_faults(
        latency_s=config.latency_ms / 1000,
        timeout_rate=config.timeout_rate,
        technical_error_rate=config.technical_error_rate,
        lost_reply_rate=config.lost_reply_rate,
    )
    return mock


def site_product_names(config: Config) -> Mapping[str, str]:
    """The site's own product names (`[site] products`; none when not set); `ConfigError`
    naming the file and its line when they cannot be used."""
    path = config.site.products
    if path is None:
        return NONE
    try:
        return load_product_names(path)
    except ProductNamesError as error:
        raise ConfigError(f"site.products: {path}: {error}") from None


def read_master_data(path: Path) -> MasterData:
    """A master-data file, checked (`MasterDataError` naming the file's problem)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MasterDataError(
            f"cannot read it: {getattr(error, 'strerror', None) or error}"
        ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise MasterDataError(f"not valid JSON: {error}") from None
    return MasterData.from_json(document)


def soap_client(soap: SoapHubConfig) -> SoapHubClient:
    """A SOAP client from its configuration (secrets read from the environment or files):
    `ConfigError` naming the key when a secret or a certificate file cannot be used."""
    password = _secret(soap.password, "hub.password")
    try:
        return SoapHubClient(
            soap.endpoints(),
            client_login_id=soap.client_login_id,
            user_id=soap.user_id,
            password=password,
            cert=str(soap.cert) if soap.cert else None,
            key=str(soap.key) if soap.key else None,
            pkcs12=str(soap.pkcs12) if soap.pkcs12 else None,
            pkcs12_password=(
                _secret(soap.pkcs12_password, "hub.pkcs12_password")
                if soap.pkcs12_password
                else None
            ),
            ca=str(soap.ca) if soap.ca else True,
            timeout=soap.timeout_s,
            user_software=("fmd-robot", "fmd-robot", __version__),
        )
    except ValueError as error:  # each starts with the argument at fault, named as the key
        problem = str(error)
        if problem.startswith("password:"):
            problem += f" (the value of {soap.password.where})"
        raise ConfigError(f"hub.{problem}") from None


def rest_client(rest: RestHubConfig) -> RestHubClient:
    """A REST client from its configuration (the secret read from the environment or a file):
    `ConfigError` naming the key when the secret or the CA file cannot be used."""
    secret = _secret(rest.client_secret, "hub.client_secret")
    try:
        trusted = trusting(str(rest.ca)) if rest.ca else True
    except ValueError as error:
        raise ConfigError(f"hub.{error}") from None
    return RestHubClient(
        rest.url,
        client_id=rest.client_id,
        client_secret=secret,
        verify=trusted,
        timeout=rest.timeout_s,
        api_url=rest.api_url,
        token_url=rest.token_url,
    )


def _secret(secret: Secret, key: str) -> str:
    """The secret's value; `ConfigError` naming the key and its source when it has none."""
    try:
        return secret.read().get_secret_value()
    except ConfigError as error:
        raise ConfigError(f"{key}: {error}") from None


def build_scanner(config: ScannerConfig) -> Scanner:
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
        case ScriptScannerConfig():
            return ScriptedScanner(
                ScriptFile(config.path),
                source=f"script:{config.path}",
                interval_s=config.interval_ms / 1000,
            )
    raise AssertionError(f"unknown scanner configuration {config!r}")
