"""Configuration: TOML files into Pydantic models, with `FMD_…` environment overrides.

A file is layered over the embedded defaults by section (`load_config`); every number is
finite; a problem is one line naming the key and the variable or file it came from.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from sqlalchemy.engine import make_url

from fmd.hub.markets import market_profile
from fmd.hub.soap_names import SYSTEM_PATTERN, SoapEndpoints
from fmd.policy import SitePolicy
from robot_controller.config_problems import ENV_PREFIX, blame, variable_of
from robot_controller.store.intents import CLAIM_LEASE
from robot_controller.store.locks import sqlite_path
from robot_controller.store.records import DEFAULT_ROBOT
from robot_controller.store.urls import url_problem
from robot_controller.texts import Language

_PACKAGED = Path(__file__).with_name("default.toml")
_REPOSITORY = Path(__file__).parents[1] / "config" / "default.toml"


class ConfigError(Exception):
    """A configuration file or override that cannot be used; the message names the key."""


class _Section(BaseModel):
    """Every section: no keys but its own, and no infinite or not-a-number values (a deadline
    of `inf` would be no deadline)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _https(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("the national system is reached over TLS: give https://HOST/…")
    return url


HttpsUrl = Annotated[str, AfterValidator(_https)]


class Site(_Section):
    location: str = Field(min_length=1)
    user: str = "loading-bench"
    mode: Literal["hospital", "community"] = "hospital"
    offline: Literal["quarantine", "shelve_then_verify"] = "quarantine"
    non_serialised: Literal["reject", "shelve"] = "reject"
    separators: str = Field(default="\x1d", min_length=1)
    language: Language = "en"
    products: Path | None = None  # product code → name, where the hub's answer names none

    def policy(self) -> SitePolicy:
        return SitePolicy(mode=self.mode, offline=self.offline, non_serialised=self.non_serialised)


class StoreConfig(_Section):
    url: str = "sqlite:///fmd-robot.db"
    # PostgreSQL shared by daemons: how long one's claim on an outbox intent holds unrenewed
    claim_lease_s: float = Field(default=CLAIM_LEASE.total_seconds(), ge=60)

    @field_validator("url")
    @classmethod
    def _a_store(cls, url: str) -> str:
        problem = url_problem(url)
        if problem is not None:
            raise ValueError(problem)
        return url


class Secret(_Section):
    """Where a secret comes from: an environment variable or a file, never the config file."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_written_here(cls, data: Any) -> Any:
        if isinstance(data, str):
            raise ValueError(
                'secrets are never written in the config file: use {env = "VARIABLE"} '
                'or {file = "/path/to/secret"}'
            )
        return data

    @model_validator(mode="after")
    def _one_source(self) -> Secret:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env (a variable name) or file (a path)")
        return self

    @property
    def where(self) -> str:
        """Where the secret is read from, in words."""
        return f"the environment variable {self.env}" if self.env else f"the file {self.file}"

    def read(self) -> SecretStr:
        """The secret's value (raises ConfigError naming the source when it is missing)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigError(f"the environment variable {self.env} is not set")
            return SecretStr(value)
        if self.file is None:
            raise ConfigError("a secret needs env (a variable name) or file (a path)")
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").strip())
        except OSError as error:
            raise ConfigError(f"cannot read secret file {self.file}: {error.strerror}") from None


class _HubBase(_Section):
    """What every hub kind shares: the resilience wrapper's deadline and breaker."""

    timeout_s: float = Field(default=10.0, gt=0)  # a verify's deadline, retries included
    breaker_failures: int = Field(default=5, ge=1)  # calls failing in a row that open the breaker
    breaker_cooldown_s: float = Field(default=30.0, gt=0)  # open breaker or refused login: pause


class MockHubConfig(_HubBase):
    """The in-process mock national system: master data from a file, and injected faults."""

    kind: Literal["mock"] = "mock"
    master_data: Path | None = None  # a JSON file of products, batches and packs
    market: str = "strict"  # a profile of fmd.hub.markets: which national system it answers as
    seed: int = 1  # of the injected faults
    latency_ms: float = Field(default=0, ge=0)
    timeout_rate: float = Field(default=0.0, ge=0, le=1)
    technical_error_rate: float = Field(default=0.0, ge=0, le=1)
    lost_reply_rate: float = Field(default=0.0, ge=0, le=1)

    @field_validator("market")
    @classmethod
    def _known_market(cls, name: str) -> str:
        return market_profile(name).name


class SoapHubConfig(_HubBase):
    """Arvato-style SOAP: login fields plus a client certificate (PEM pair or PKCS#12).

    Where: `system` names a national system on Arvato's hosts (`prod-pl`: each service on
    `ws-<service>-prod-pl.nmvs.eu` and its own port), or `url` is one base that every service
    is below (a gateway, or the simulator)."""

    kind: Literal["soap"]
    url: HttpsUrl | None = None
    system: str | None = Field(default=None, pattern=f"^{SYSTEM_PATTERN}$")
    client_login_id: str = Field(min_length=1, max_length=20)
    user_id: str = Field(min_length=4, max_length=20)
    password: Secret
    cert: Path | None = None
    key: Path | None = None
    pkcs12: Path | None = None
    pkcs12_password: Secret | None = None
    ca: Path | None = None  # the CA to trust for the hub (default: the system store)

    @model_validator(mode="after")
    def _one_certificate(self) -> SoapHubConfig:
        if (self.url is None) == (self.system is None):
            raise ValueError('give one of system = "prod-pl" (say) and url: where the hub is')
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        if (self.cert is None) == (self.pkcs12 is None):
            raise ValueError("give a client certificate: cert + key, or pkcs12")
        return self

    def endpoints(self) -> SoapEndpoints:
        """Where each service answers."""
        if self.system is not None:
            return SoapEndpoints.national(self.system)
        return SoapEndpoints.below(self.url or "")


class RestHubConfig(_HubBase):
    """Solidsoft-style REST: OAuth2 client credentials of the registered equipment."""

    kind: Literal["rest"]
    url: HttpsUrl
    api_url: HttpsUrl | None = None  # default: {url}/api
    token_url: HttpsUrl | None = None  # default: the identity below url
    client_id: str = Field(min_length=1)
    client_secret: Secret
    ca: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_data_entry_mode(cls, data: Any) -> Any:
        if isinstance(data, dict) and "data_entry_mode" in data:
            raise ValueError(
                "data_entry_mode is not a setting: scanned packs are sent as non-manual and "
                "packs keyed in by hand as manual; remove it"
            )
        return data


HubConfig = Annotated[MockHubConfig | SoapHubConfig | RestHubConfig, Field(discriminator="kind")]


class _Robot(_Section):
    """What every robot has: the name its daemon is known by in a shared store."""

    # one daemon per robot: its scans and jobs carry the name, its recovery takes only its own
    name: str = Field(default=DEFAULT_ROBOT, min_length=1, max_length=63)


class SimRobotConfig(_Robot):
    """The in-process robot model."""

    kind: Literal["sim"] = "sim"
    move_time_ms: float = Field(default=0, ge=0)
    capacity: int = Field(default=100_000, ge=1)


class _SerialPort(_Section):
    """A serial port (or a pyserial URL) and its line settings."""

    port: str = Field(min_length=1)  # /dev/ttyACM0, /dev/serial/by-id/…, socket://host:port
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: float = 1

    @field_validator("stopbits")
    @classmethod
    def _stop_bits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError("stop bits are 1, 1.5 or 2")
        return value


class _Handshake(_Robot):
    """The timing of a wired robot's handshake."""

    ack_timeout_s: float = Field(default=1.0, gt=0)  # the robot echoes the job's sequence number
    done_timeout_s: float = Field(default=30.0, gt=0)  # the pack is on the shelf or in a chute
    heartbeat_s: float = Field(default=0.5, gt=0)  # the host's heartbeat period
    stale_after_s: float = Field(default=2.0, gt=0)  # the robot's heartbeat unchanged: link lost


class ModbusTcpRobotConfig(_Handshake):
    """A robot PLC on Modbus TCP."""

    kind: Literal["modbus-tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=247)


class ModbusRtuRobotConfig(_SerialPort, _Handshake):
    """A robot PLC on Modbus RTU (RS-485)."""

    kind: Literal["modbus-rtu"]
    baudrate: int = Field(default=19200, gt=0)
    parity: Literal["N", "E", "O", "M", "S"] = "E"  # the Modbus serial-line default
    device_id: int = Field(default=1, ge=1, le=247)

    @field_validator("stopbits")
    @classmethod
    def _whole_stop_bits(cls, value: float) -> float:
        if value not in (1, 2):
            raise ValueError("Modbus RTU uses 1 or 2 stop bits")
        return value


class SerialRobotConfig(_SerialPort, _Handshake):
    """A robot on the line protocol of ARCHITECTURE.md (ASCII, checksummed)."""

    kind: Literal["serial"]
    baudrate: int = Field(default=115200, gt=0)


class Wwks2RobotConfig(_Robot):
    """A storage robot on WWKS2 (BD Rowa and others): it scans each pack itself and asks us;
    we are its TCP client."""

    kind: Literal["wwks2"]
    host: str = Field(min_length=1)
    port: int = Field(default=6050, ge=1, le=65535)
    subscriber: int = Field(default=100, ge=1, le=2**31 - 1)  # our WWKS2 subscriber id
    answer_within_s: float = Field(default=3.0, gt=0.5, le=60)  # the robot's answer deadline
    stored_within_s: float = Field(default=120.0, gt=0)  # its InputMessage after our answer
    output_within_s: float = Field(default=300.0, gt=0)  # its OutputMessage after queueing
    request_timeout_s: float = Field(default=5.0, gt=0)  # any response (Status, KeepAlive, …)
    keepalive_every_s: float = Field(default=10.0, gt=0)
    status_every_s: float = Field(default=30.0, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)  # at once after a drop, then backing off
    quarantine_destination: int = Field(default=2, ge=1)  # the output suspect packs go to
    dispense_destination: int = Field(default=1, ge=1)  # `fmd-robot dispense`'s default output
    # an InputRequest without IsNewDelivery: a delivery (the spec's default, False, is a return)
    absent_is_new_delivery: bool = True


RobotConfig = Annotated[
    SimRobotConfig
    | ModbusTcpRobotConfig
    | ModbusRtuRobotConfig
    | SerialRobotConfig
    | Wwks2RobotConfig,
    Field(discriminator="kind"),
]


class ScriptScannerConfig(_Section):
    """Replays a file of scans, one per line (control characters as in `fmd-robot parse`)."""

    kind: Literal["script"]
    path: Path
    interval_ms: float = Field(default=0, ge=0)


class SerialScannerConfig(_SerialPort):
    """A fixed or handheld scanner on a serial or USB-CDC port (or a pyserial URL)."""

    kind: Literal["serial"]
    baudrate: int = Field(default=9600, gt=0)
    suffix: Literal["CR", "LF", "CRLF"] = "CR"
    max_line: int = Field(default=4096, ge=64, le=1_000_000)


class KeyboardScannerConfig(_Section):
    """A keyboard-wedge scanner: a HID input device, or lines typed on stdin."""

    kind: Literal["keyboard"]
    device: Path | None = None  # /dev/input/by-id/…-event-kbd; none: standard input
    gs_substitute: str | None = Field(default=None, min_length=1, max_length=1)
    grab: bool = True  # keep the scanner's keystrokes away from the console


class CameraScannerConfig(_Section):
    """A camera over the conveyor (device index or RTSP/HTTP URL), or a video file."""

    kind: Literal["camera"]
    source: int | str
    decoder: Literal["zxing", "libdmtx"] = "zxing"
    roi: tuple[int, int, int, int] | None = None  # x, y, width, height in pixels
    dedupe_window_s: float = Field(default=2.0, ge=0)
    realtime: bool | None = None  # pace a video file like a camera; default: only live sources


ScannerConfig = Annotated[
    ScriptScannerConfig | SerialScannerConfig | KeyboardScannerConfig | CameraScannerConfig,
    Field(discriminator="kind"),
]


class Simulation(_Section):
    """The simulated world started around the daemon (`simulators.world`): a seeded delivery
    and the devices that carry it. A real site has no [simulation] section."""

    packs: int = Field(default=200, ge=0)
    seed: int = 1
    suspect_rate: float = Field(default=0.1, ge=0, le=1)
    # How the daemon reaches each simulated device; "none": use the configured real one.
    hub: Literal["mock", "soap", "rest", "none"] = "mock"
    robot: Literal["sim", "modbus-tcp", "modbus-rtu", "serial", "wwks2", "none"] = "sim"
    scanner: Literal["script", "serial", "camera", "none"] = "script"
    move_time_ms: float = Field(default=0, ge=0)  # the simulated robot's time per move
    scan_interval_ms: float = Field(default=0, ge=0)  # the script scanner's pause between scans


class PipelineConfig(_Section):
    window: int = Field(default=32, ge=1, le=10_000)
    replay_every_s: float | None = Field(default=30.0, gt=0)
    drain_timeout_s: float = Field(default=60.0, gt=0)  # `run --drain`: replay this long at most
    decommission_ahead: int = Field(default=4, ge=1, le=64)  # packs decommissioned before their job


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    file: Path | None = None  # default: stderr, or fmd-robot.log while the console shows its view


class WebConfig(_Section):
    """The screens and the HTTP API that `fmd-robot run` serves (`robot_controller.web`).

    TLS when both `certificate` and `private_key` are set (PEM files); the session cookie is
    then `Secure`. Without them it is plain HTTP, meant for 127.0.0.1 or a proxy on the box.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (said at start)
    certificate: Path | None = None  # PEM certificate chain
    private_key: Path | None = None  # its PEM private key (readable only by the service's user)
    session_idle_minutes: float = Field(default=60.0, gt=0)  # a session unused this long ends
    session_hours: float = Field(default=12.0, gt=0)  # … and any session after this long
    login_failures_per_minute: int = Field(default=5, ge=1)  # then that address waits

    @model_validator(mode="after")
    def _tls_pair(self) -> WebConfig:
        if (self.certificate is None) != (self.private_key is None):
            raise ValueError("certificate and private_key are set together (TLS), or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.certificate is not None


class AuditConfig(_Section):
    """The provable log: the key that signs its checkpoints, where their files go, how often
    one is made, and how long records are kept before `fmd-robot log prune` may delete them."""

    key: Path | None = None  # an Ed25519 private key (PEM); none: made beside the store
    checkpoints: Path | None = None  # one file per checkpoint; none: beside the store
    every_events: int = Field(default=1000, ge=1)  # a checkpoint after this many events …
    every_minutes: float = Field(default=10.0, gt=0)  # … or this long, whichever comes first
    keep_years: int = Field(default=5, ge=1)  # every record: this long after it was recorded …
    keep_after_expiry_years: int = Field(default=1, ge=0)  # … a pack's: and after its expiry

    def key_file(self, store_url: str) -> Path:
        """The signing key's file: the configured one, else beside the store (a SQLite
        file's `FILE.audit-key`; for PostgreSQL `fmd-robot-audit.key` in the working
        directory)."""
        return self.key or _beside_store(store_url, ".audit-key", "fmd-robot-audit.key")

    def checkpoint_folder(self, store_url: str) -> Path:
        """The folder of checkpoint files: the configured one, else beside the store (a SQLite
        file's `FILE.checkpoints`; for PostgreSQL `fmd-robot-checkpoints` in the working
        directory)."""
        return self.checkpoints or _beside_store(store_url, ".checkpoints", "fmd-robot-checkpoints")


def _beside_store(store_url: str, suffix: str, otherwise: str) -> Path:
    path = sqlite_path(make_url(store_url))
    return path.absolute().with_name(path.name + suffix) if path else Path(otherwise).absolute()


class Config(BaseSettings):
    """The whole configuration of one daemon."""

    model_config = SettingsConfigDict(env_prefix="FMD_", env_nested_delimiter="__", extra="forbid")

    site: Site
    store: StoreConfig = StoreConfig()
    hub: HubConfig = MockHubConfig()
    robot: RobotConfig | None = None  # none: the daemon refuses to start (no silent default)
    scanners: list[ScannerConfig] = Field(default_factory=list)
    simulation: Simulation | None = None
    pipeline: PipelineConfig = PipelineConfig()
    log: LogConfig = LogConfig()
    audit: AuditConfig = AuditConfig()
    web: WebConfig = WebConfig()

    @model_validator(mode="before")
    @classmethod
    def _no_dialect_subsections(cls, data: Any) -> Any:
        hub = data.get("hub") if isinstance(data, dict) else None
        for dialect in ("soap", "rest"):
            if isinstance(hub, dict) and isinstance(hub.get(dialect), dict):
                raise ValueError(
                    f"hub.{dialect}: the hub's keys now go directly in the hub section "
                    f'(kind = "{dialect}", url, …, without a sub-section of their own)'
                )
        return data

    @model_validator(mode="after")
    def _simulation_replaces_nothing_configured(self) -> Config:
        """A simulated device never silently stands in for one the file configures."""
        simulation = self.simulation
        if simulation is None:
            return self
        conflicts = []
        if simulation.hub != "none" and not isinstance(self.hub, MockHubConfig):
            conflicts.append(
                f'simulation.hub = "{simulation.hub}" would replace the {self.hub.kind} hub'
            )
        if simulation.robot != "none" and self.robot is not None:
            conflicts.append(
                f'simulation.robot = "{simulation.robot}" would replace the {self.robot.kind} robot'
            )
        if simulation.scanner != "none" and self.scanners:
            conflicts.append(
                f'simulation.scanner = "{simulation.scanner}" would replace the configured scanners'
            )
        if conflicts:
            raise ValueError(
                f'{conflicts[0]}: set it to "none" to use the configured device, or remove the '
                "simulation section on a real site"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings


def default_config_path() -> Path:
    """The embedded defaults: packaged with the wheel, or `config/default.toml` in a checkout."""
    return _PACKAGED if _PACKAGED.exists() else _REPOSITORY


NOT_INHERITED = ("simulation",)
"""Sections of the embedded defaults a configuration file never inherits: the simulated world
applies only when the file read asks for it (a site's file is never silently simulated)."""


def load_config(path: Path | None = None) -> Config:
    """The configuration of the TOML file at `path` layered over the embedded defaults (None:
    the embedded defaults alone), with the `FMD_…` variables on top.

    Layering is by section: a section the file has replaces the embedded one whole (keys it
    leaves out take their defaults); a section it lacks is the embedded one, except those in
    `NOT_INHERITED`. So a file with only `[robot]` or only `[hub]` is complete. A problem is
    one `ConfigError` line naming the key and the variable or the file its value came from.
    """
    embedded_path = default_config_path()
    embedded = _read_toml(embedded_path)
    read = path or embedded_path
    if path is None:
        data, origins = embedded, dict.fromkeys(embedded, embedded_path)
    else:
        own = _read_toml(path)
        inherited = {
            name: section
            for name, section in embedded.items()
            if name not in own and name not in NOT_INHERITED
        }
        data = {**inherited, **own}
        origins = {**dict.fromkeys(inherited, embedded_path), **dict.fromkeys(own, path)}
    _check_environment()
    try:
        config = Config(**data)
    except ValidationError as error:
        raise ConfigError(blame(error, Config, origins, read)) from None
    for name in Config.model_fields:
        section = getattr(config, name)
        folder = origins.get(name, read).absolute().parent
        for item in section if isinstance(section, list) else [section]:
            if isinstance(item, BaseModel):
                resolve_paths(item, folder)
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def _check_environment() -> None:
    """`ConfigError` naming the `FMD_…` variable that gives a section or a list as JSON that is
    not JSON (the settings would raise it without naming the variable)."""
    try:
        EnvSettingsSource(Config)()
    except SettingsError as error:  # a section or list given as JSON that is not JSON
        field = re.search(r'field "([^"]+)"', str(error))
        name = field.group(1) if field else ""
        variable = variable_of([name]) or f"{ENV_PREFIX}{name.upper()}"
        raise ConfigError(
            f"{variable}: not valid JSON (a section or a list is given as JSON, e.g. "
            f'{ENV_PREFIX}SCANNERS=\'[{{"kind": "keyboard"}}]\'; a single key as '
            f"{ENV_PREFIX}<SECTION>__<KEY>)"
        ) from None


def resolve_paths(section: BaseModel, base: Path) -> None:
    """Make every relative file path of a configuration relative to `base` (the config file's
    folder), so a daemon finds its files whatever its working directory (say, under systemd)."""
    for name in type(section).model_fields:
        value = getattr(section, name)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(section, name, base / value)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, BaseModel):
                resolve_paths(item, base)
