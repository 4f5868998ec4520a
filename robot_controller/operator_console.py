"""The operator console of `fmd-robot run`: what runs, each pack as it is routed, and what to do.

Pure where it can be: `describe` (the configuration in plain words), `instruction` (what the
person at the bench does with a pack), `OperatorConsole` (the packs seen and their counts, as a
Rich renderable for a live view). Untrusted text (scans, messages) is never read as markup.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from fmd.hub.resilient import HubHealth
from fmd.policy import Why
from robot_controller.config import (
    CameraScannerConfig,
    Config,
    KeyboardScannerConfig,
    MockHubConfig,
    ModbusRtuRobotConfig,
    ModbusTcpRobotConfig,
    RestHubConfig,
    ScannerConfig,
    ScriptScannerConfig,
    SerialRobotConfig,
    SerialScannerConfig,
    SimRobotConfig,
    SoapHubConfig,
    Wwks2RobotConfig,
)
from robot_controller.pipeline import Routed
from robot_controller.states import Route

ROUTE_WORDS: Final = {
    Route.SHELVED: ("✔", "shelved", "green"),
    Route.REJECTED: ("✖", "reject tray", "red"),
    Route.QUARANTINED: ("⚠", "quarantine chute", "yellow"),
    Route.RETURNED: ("↩", "back to you", "cyan"),
}
"""Each route's icon, name and colour: the colour is never the only signal."""

WHY_WORDS: Final = {
    Why.VERIFIED: "verified",
    Why.DECOMMISSIONED: "verified and decommissioned",
    Why.NOT_SERIALISED: "no FMD code on the pack",
    Why.UNREADABLE: "not a pack code",
    Why.DAMAGED_SCAN: "the scan was damaged",
    Why.EXPIRED: "expired",
    Why.EXPIRY_INVALID: "the expiry date cannot be read",
    Why.DUPLICATE: "the same pack is already in stock or in hand",
    Why.CHANGE_PENDING: "a change of this pack still waits for the national system",
    Why.ALERT: "the national system raised an alert: possible falsification",
    Why.UNKNOWN_PRODUCT: "the national system does not know this product",
    Why.RECALLED: "its batch is recalled",
    Why.WITHDRAWN: "the product is withdrawn",
    Why.INACTIVE: "the national system holds it as no longer active",
    Why.REFUSED: "the national system refused it",
    Why.INVALID_REQUEST: "its code cannot be sent as it is",
    Why.HUB_UNAVAILABLE: "the national system did not answer",
    Why.HUB_LOGIN_FAILED: "the national system refused our login",
    Why.SHELVED_UNVERIFIED: "shelved, to be verified once the national system answers",
    Why.DECOMMISSION_FAILED: "its decommission did not go through",
    Why.INTERNAL_ERROR: "the daemon failed on this pack",
    Why.ROBOT_OUTCOME_UNKNOWN: "the robot's move was cut off",
    Why.ROBOT_NOT_READY: "the robot could not take it",
    Why.ROBOT_CONFLICT: "another controller drives the robot",
    Why.ROBOT_DISAGREES: "the robot's own reading disagrees with the code",
    Why.BAD_REQUEST: "the robot's request could not be used",
}
_RESCAN: Final = frozenset({Why.DAMAGED_SCAN, Why.UNREADABLE, Why.EXPIRY_INVALID})
_CODE: Final = re.compile(r"[A-Z0-9_]+")


def instruction(pack: Routed) -> str:
    """What the person at the bench does with this pack, in plain words."""
    why = WHY_WORDS.get(pack.decision.why, pack.decision.why.value)
    if pack.flagged:
        return f"check this pack: {why}; {pack.message}"
    if pack.route is Route.SHELVED:
        return "nothing to do" if pack.decision.why is not Why.SHELVED_UNVERIFIED else why
    if pack.route is Route.RETURNED:
        return f"{why}: keep it, scan it again when loading resumes"
    if pack.decision.why in _RESCAN:
        advice = f" ({pack.message})" if _words(pack.message) else ""
        return f"{why}{advice}: take it from the reject tray and scan it again"
    if pack.route is Route.REJECTED:
        return f"{why}: take it from the reject tray, it is not for the shelf"
    return f"{why}: leave it in the quarantine chute for the responsible person"


def _words(message: str) -> bool:
    """True for a message in words (the parser's advice), not a bare return code."""
    return bool(message) and _CODE.fullmatch(message) is None


def describe(config: Config) -> list[str]:
    """What `fmd-robot run` runs, one plain line per part."""
    site = config.site
    lines = [
        f"site       {site.location}, {site.mode} mode; hub away: {_offline(site.offline)}",
        f"hub        {_hub(config)}",
        f"robot      {_robot(config)}",
    ]
    lines += [f"scanner    {_scanner(scanner)}" for scanner in config.scanners] or [
        "scanner    none configured"
    ]
    lines.append(f"store      {_redacted(config.store.url)}")
    return lines


@dataclass(frozen=True, slots=True)
class Devices:
    """The state of the devices, as the daemon last saw them."""

    hub: HubHealth
    robot_paused: str | None
    scanners: tuple[str, ...]


class OperatorConsole:
    """The packs routed so far: the last `keep` packs that need someone (not shelved, or
    flagged) and the last `keep` of all, with their instruction, and the counts."""

    def __init__(self, *, keep: int = 8) -> None:
        self.recent: deque[tuple[datetime, Routed]] = deque(maxlen=keep)
        self.attention: deque[tuple[datetime, Routed]] = deque(maxlen=keep)
        self.counts: Counter[Route] = Counter()
        self.flagged = 0

    def routed(self, pack: Routed) -> None:
        """One more pack routed (the pipeline's `on_routed`)."""
        seen = (datetime.now(UTC), pack)
        self.recent.append(seen)
        if pack.flagged or pack.route is not Route.SHELVED:
            self.attention.append(seen)
        self.counts[pack.route] += 1
        self.flagged += pack.flagged

    def summary(self) -> str:
        """The counts in one line."""
        total = sum(self.counts.values())
        parts = [f"{self.counts[route]} {ROUTE_WORDS[route][1]}" for route in ROUTE_WORDS]
        flagged = f", {self.flagged} to check" if self.flagged else ""
        return f"{total} packs: {', '.join(parts)}{flagged}"

    def view(self, devices: Devices) -> RenderableType:
        """The live view: the devices, the packs that need someone, the last packs, the counts."""
        return Group(
            _devices(devices),
            _packs("needs you", self.attention),
            _packs("last packs", self.recent),
            Text(self.summary(), style="bold"),
        )


def _packs(title: str, packs: deque[tuple[datetime, Routed]]) -> Table:
    table = Table(title=title, title_justify="left", expand=True)
    for column in ("time", "outcome", "product", "batch", "serial", "expiry", "what to do"):
        table.add_column(column, overflow="fold", ratio=3 if column == "what to do" else None)
    for at, pack in packs:
        icon, name, colour = ROUTE_WORDS[pack.route]
        ui = pack.ui
        table.add_row(
            at.astimezone().strftime("%H:%M:%S"),
            Text(f"{icon} {name.upper()}", style=f"bold {colour}"),
            Text(ui.product_code if ui else "—"),
            Text(ui.batch if ui else "—"),
            Text(ui.serial if ui else "—"),
            Text(ui.expiry_raw if ui else "—"),
            Text(instruction(pack)),
        )
    return table


def _devices(devices: Devices) -> Text:
    hub_words = {
        HubHealth.ANSWERING: ("answering", "green"),
        HubHealth.UNANSWERED: ("NOT ANSWERING", "bold red"),
        HubHealth.BREAKER_OPEN: ("AWAY: calls paused", "bold red"),
        HubHealth.THROTTLED: ("asks us to slow down", "yellow"),
    }[devices.hub]
    line = Text("hub ")
    line.append(hub_words[0], style=hub_words[1])
    line.append("   robot ")
    if devices.robot_paused is None:
        line.append("ready", style="green")
    else:
        line.append(f"NOT READY: {devices.robot_paused}", style="bold red")
    line.append(f"   scanners {', '.join(devices.scanners) or 'none'}")
    return line


def _offline(policy: str) -> str:
    return "shelve, verify later" if policy == "shelve_then_verify" else "quarantine"


def _hub(config: Config) -> str:
    hub = config.hub
    if isinstance(hub, SoapHubConfig):
        where = f"national system {hub.system}" if hub.system else _redacted(hub.url or "")
        return f"Arvato SOAP v5, {where}, user {hub.user_id} (login {hub.client_login_id})"
    if isinstance(hub, RestHubConfig):
        return f"Solidsoft REST, {_redacted(hub.url)}, equipment {hub.client_id}"
    if isinstance(hub, MockHubConfig):
        data = f"master data {hub.master_data}" if hub.master_data else "simulated"
        return f"mock national system in this process ({data})"
    return str(hub.kind)


def _robot(config: Config) -> str:
    robot = config.robot
    if robot is None:
        return "none configured"
    match robot:
        case ModbusTcpRobotConfig():
            link = f"Modbus TCP {robot.host}:{robot.port}"
        case ModbusRtuRobotConfig() | SerialRobotConfig():
            kind = "Modbus RTU" if isinstance(robot, ModbusRtuRobotConfig) else "serial line"
            link = f"{kind} on {robot.port}"
        case Wwks2RobotConfig():
            link = f"WWKS2 {robot.host}:{robot.port} (it scans the packs itself)"
        case SimRobotConfig():
            link = "simulated in this process"
        case _:
            link = str(robot.kind)
    return f"{robot.name}, {link}"


def _scanner(scanner: ScannerConfig) -> str:
    match scanner:
        case SerialScannerConfig():
            return f"serial scanner on {scanner.port}"
        case KeyboardScannerConfig():
            return f"keyboard wedge on {scanner.device or 'standard input'}"
        case CameraScannerConfig():
            return f"camera {scanner.source}"
        case ScriptScannerConfig():
            return f"scans from the file {scanner.path}"
    return str(scanner.kind)


def _redacted(url: str) -> str:
    """A URL without a password it may carry (`postgresql://user:secret@host/db`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}@{host}"
