"""What the simulated world is asked to start, and the endpoints it hands back.

Plain data only: the daemon's side turns the endpoints into its own `Config` sections.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, get_args

HubKind = Literal["mock", "soap", "rest", "none"]
RobotKind = Literal["sim", "modbus-tcp", "modbus-rtu", "serial", "wwks2", "none"]
ScannerKind = Literal["script", "serial", "camera", "none"]
HUB_KINDS: tuple[HubKind, ...] = get_args(HubKind)
ROBOT_KINDS: tuple[RobotKind, ...] = get_args(RobotKind)
SCANNER_KINDS: tuple[ScannerKind, ...] = get_args(ScannerKind)


class WorldError(Exception):
    """A simulated device could not be started; the message says which and why."""


ROBOT_CAPACITY = 1_000_000
"""The simulated robot's shelf places: more than any delivery it is given."""


@dataclass(frozen=True, slots=True)
class HubFaults:
    """The simulated national system's behaviour (for the SOAP/REST simulator)."""

    market: str = "strict"  # the profile of fmd.hub.markets it answers as
    seed: int = 1
    latency_s: float = 0.0
    timeout_rate: float = 0.0
    technical_error_rate: float = 0.0
    lost_reply_rate: float = 0.0


@dataclass(frozen=True, slots=True)
class WorldSpec:
    """A seeded delivery, and how each simulated device is reached ("none": not simulated)."""

    folder: Path
    location: str
    packs: int = 200
    seed: int = 1
    suspect_rate: float = 0.1
    hub: HubKind = "mock"
    robot: RobotKind = "sim"
    scanner: ScannerKind = "script"
    move_time_s: float = 0.0
    hub_faults: HubFaults = field(default_factory=HubFaults)
    today: date | None = None


@dataclass(frozen=True, slots=True)
class MockHubEndpoint:
    """The in-process mock national system: the master-data file it is to hold."""

    master_data: Path


@dataclass(frozen=True, slots=True)
class SoapHubEndpoint:
    """The SOAP simulator: its URL and CA, the client certificate, the login fields, and the
    file holding the password."""

    url: str
    ca: Path
    client_cert: Path
    client_key: Path
    client_login_id: str
    user_id: str
    password_file: Path


@dataclass(frozen=True, slots=True)
class RestHubEndpoint:
    """The REST simulator: its URL and CA, the equipment's client id, and the file holding
    its client secret."""

    url: str
    ca: Path
    client_id: str
    secret_file: Path


HubEndpoint = MockHubEndpoint | SoapHubEndpoint | RestHubEndpoint


@dataclass(frozen=True, slots=True)
class SimRobotEndpoint:
    """The daemon's own in-process robot model, with the simulated move time."""

    move_time_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TcpRobotEndpoint:
    """A simulated PLC on Modbus TCP."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class SerialRobotEndpoint:
    """A simulated robot on a serial port: a PLC on Modbus RTU, or the line protocol."""

    protocol: Literal["modbus-rtu", "serial"]
    port: str


@dataclass(frozen=True, slots=True)
class Wwks2RobotEndpoint:
    """A simulated WWKS2 storage robot on TCP: it scans the delivery's packs itself."""

    host: str
    port: int


RobotEndpoint = SimRobotEndpoint | TcpRobotEndpoint | SerialRobotEndpoint | Wwks2RobotEndpoint


@dataclass(frozen=True, slots=True)
class ScannerEndpoint:
    """Where the delivery's scans come from: a file of scans, a serial port, or a video."""

    kind: Literal["script", "serial", "camera"]
    path: str
    dedupe_window_s: float = 0.15  # camera: shorter than one pack's time in the frame
