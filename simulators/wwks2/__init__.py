"""A simulated WWKS2 storage robot (BD Rowa style): the TCP server the daemon's WWKS2 driver
connects to. `Wwks2RobotSim` (robot), `RobotSettings` and `Faults` (settings), `ScanPack` and
the scans file (`read_scans`, `parse_scans`)."""

from simulators.wwks2.outputs import Output
from simulators.wwks2.replies import CAPABILITIES
from simulators.wwks2.robot import Wwks2RobotSim
from simulators.wwks2.scans import ScansError, parse_scans, read_scans
from simulators.wwks2.settings import (
    Faults,
    InputOutcome,
    Malformed,
    RobotSettings,
    ScanPack,
    ShelfPack,
    Wire,
)

__all__ = [
    "CAPABILITIES",
    "Faults",
    "InputOutcome",
    "Malformed",
    "Output",
    "RobotSettings",
    "ScanPack",
    "ScansError",
    "ShelfPack",
    "Wire",
    "Wwks2RobotSim",
    "parse_scans",
    "read_scans",
]
