"""Market profiles: where the national systems answer the same request differently.

A test double must be at least as strict as the strictest national system, so `strict` is the
MockHub's default and the tolerant variants are named after the market that documents them.

Every profile keeps the cases no national system alerts on: a decommission of a pack inactive
because its product is withdrawn or its batch recalled or expired is refused without an alert
(LOT_08, LOT_01, PCK_02; PCK_22 when the pack was decommissioned too), as Estonia's REKS
documents (nmvs.md §2.6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class MarketProfile:
    """How one market's national system answers where the systems differ; `source` says who
    documents it, in one line.

    `resupply_alert_after`: a location supplying again a pack it supplied itself is refused
    (PCK_22 without alert) until this attempt, which alerts, as every later one does
    (1 = at once, like any other decommission of an inactive pack).
    """

    name: str
    resupply_alert_after: int
    source: str

    def __post_init__(self) -> None:
        if self.resupply_alert_after < 1:
            raise ValueError("resupply_alert_after must be at least 1")


# nmvs.md §0.4, §2.6 (the L5 alert codes: PCK_22 "pack already inactive")
STRICT = MarketProfile(
    "strict",
    resupply_alert_after=1,
    source="NMVS L5 codes: a decommission of a decommissioned pack alerts at once (PCK_22)",
)
# nmvs.md §0.4, §2.7 (FiMVO guideline, the 5122xxxx codes)
FI = MarketProfile(
    "fi",
    resupply_alert_after=3,
    source="FiMVS: the same location's re-supply of its pack is refused twice, the 3rd alerts",
)

MARKETS: Mapping[str, MarketProfile] = MappingProxyType({m.name: m for m in (STRICT, FI)})
"""The known profiles by name."""


def market_profile(name: str) -> MarketProfile:
    """The profile called `name` (ValueError naming the known ones otherwise)."""
    try:
        return MARKETS[name]
    except KeyError:
        raise ValueError(f"unknown market {name!r} (known: {', '.join(MARKETS)})") from None
