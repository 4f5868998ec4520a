"""What every part of the pipeline shares: the store, the hub, the robot, the site, the clock."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fmd.codes import ParsedScan
from fmd.codes.model import PackIdentifier
from fmd.hub.resilient import SafeHub
from fmd.policy import Decision, SitePolicy, Why
from robot_controller.robot.base import Robot
from robot_controller.states import HandOutWhy, Route
from robot_controller.store import Intent, Store
from robot_controller.store.intents import CLAIM_LEASE

StoreCall = Callable[..., Awaitable[Any]]
"""Runs a store call on the store's own thread and awaits its commit."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_trx() -> str:
    """A client transaction id: 32 characters of [0-9a-f], within the NMVS limit."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Context:
    """The pipeline's collaborators, bound once."""

    store: Store
    hub: SafeHub
    robot: Robot
    site: SitePolicy
    separators: str
    clock: Callable[[], datetime]
    call: StoreCall
    robot_name: str = "robot"  # recorded on its scans and jobs; recovery takes only its own
    location: str | None = None  # the premises ([site] location), kept on its decommissions
    claim_lease: timedelta = CLAIM_LEASE  # another daemon's outbox claims
    product_names: Mapping[str, str] = field(default_factory=dict)  # [site] products

    def product_name(self, hub_name: str, ui: PackIdentifier | None) -> str:
        """A pack's product name: the hub's, else the site's own, else none ("")."""
        if hub_name or ui is None:
            return hub_name
        return self.product_names.get(ui.product_code, "")


@dataclass(frozen=True, slots=True)
class Routed:
    """A pack the daemon has finished with (loaded, or handed out): where it went and why, for
    whoever shows it. `product_name`: the product's name, the national system's or else the
    site's own ("": neither has one)."""

    token: int
    route: Route
    why: Why | HandOutWhy
    ui: PackIdentifier | None
    message: str = ""
    flagged: bool = False
    product_name: str = ""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A pack ready for the robot: its token, its scan as parsed, and its decision.

    `intent`: a decommission committed but not settled (a crash left it), sent at the robot's
    turn after asking the hub first. `sent`: a decommission went out and did not fail, so the
    hub holds the pack as decommissioned (or may): a pack that then misses the shelf is flagged.
    `refused`: why the robot could not take packs when the decommission was due (none was sent).
    `product_name`: the national system's name of the product, from its verify answer.
    """

    token: int
    parsed: ParsedScan
    decision: Decision
    intent: Intent | None = None
    sent: bool = False
    refused: str | None = None  # the robot could not take packs when its decommission was due
    product_name: str = ""
