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
from robot_controller.texts import Catalogue, Step, catalogue

ROUTE_WORDS: Final = {
    Route.SHELVED: ("✔", "shelved", "green"),
    Route.REJECTED: ("✖", "reject tray", "red"),
    Route.QUARANTINED: ("⚠", "quarantine chute", "yellow"),
    Route.RETURNED: ("↩", "back to you", "cyan"),
    Route.DISPENSED: ("➜", "handed out", "blue"),
}
"""Each route's icon, name and colour: the colour is never the only signal."""

ENGLISH: Final = catalogue("en")
"""The bench's words where no language is chosen."""

WHY_WORDS: Final = {why: ENGLISH.why(why) for why in Why}
"""Each reason in plain English words (the logs' and reports' wording)."""
_RESCAN: Final = frozenset({Why.DAMAGED_SCAN, Why.UNREADABLE, Why.EXPIRY_INVALID})
_CODE: Final = re.compile(r"[A-Z0-9_]+")


def instruction(pack: Routed, texts: Catalogue = ENGLISH) -> str:
    """What the person at the bench does with this pack, in plain words of `texts`."""
    why = pack.why
    if pack.flagged:
        return texts.instruction(Step.CHECK, why, pack.message)
    if pack.route is Route.SHELVED:
        shelved = why is Why.SHELVED_UNVERIFIED
        return texts.why(why) if shelved else texts.instruction(Step.NOTHING, why)
    if pack.route is Route.RETURNED:
        return texts.instruction(Step.KEEP, why)
    if pack.route is Route.DISPENSED:
        return texts.instruction(Step.TAKE_OUTPUT, why)
    if why in _RESCAN:
        return texts.instruction(Step.RESCAN, why, pack.message if _words(pack.message) else "")
    if pack.route is Route.REJECTED:
        return texts.instruction(Step.REJECT_TRAY, why)
    return texts.instruction(Step.QUARANTINE, why)


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
    flagged) and the last `keep` of all, with their instruction in `texts`, and the counts."""

    def __init__(self, *, keep: int = 8, texts: Catalogue = ENGLISH) -> None:
        self.texts = texts
        self.recent: deque[tuple[datetime, Routed]] = deque(maxlen=keep)
        self.attention: deque[tuple[datetime, Routed]] = deque(maxlen=keep)
        self.counts: Counter[Route] = Counter()
        self.flagged = 0

    def routed(self, pack: Routed) -> None:
        """One more pack routed (the pipeline's `on_routed`)."""
        seen = (datetime.now(UTC), pack)
        self.recent.append(seen)
        if pack.flagged or pack.route not in (Route.SHELVED, Route.DISPENSED):
            self.attention.append(seen)
        self.counts[pack.route] += 1
        self.flagged += pack.flagged

    def summary(self) -> str:
        """The counts in one line."""
        total = sum(n for route, n in self.counts.items() if route is not Route.DISPENSED)
        parts = [f"{self.counts[route]} {ROUTE_WORDS[route][1]}" for route in ROUTE_WORDS]
        flagged = f", {self.flagged} to check" if self.flagged else ""
        return f"{total} packs: {', '.join(parts)}{flagged}"

    def view(self, devices: Devices) -> RenderableType:
        """The live view: the devices, the packs that need someone, the last packs, the counts."""
        return Group(
            _devices(devices),
            _packs("needs you", self.attention, self.texts),
            _packs("last packs", self.recent, self.texts),
            Text(self.summary(), style="bold"),
        )


def _packs(title: str, packs: deque[tuple[datetime, Routed]], texts: Catalogue) -> Table:
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
            Text(instruction(pack, texts)),
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
