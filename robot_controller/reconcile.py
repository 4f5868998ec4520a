"""Stock reconciliation, the pure part: the robot's stock (a WWKS2 StockInfoResponse) against
the packs the log has on its shelf.

A robot pack is known by its product code and serial, parsed from its ScanCode (the codec has
undone the `\\xHH` escaping already), else by its article id and SerialNumber (or ExternalId);
a log pack matches it by that, or by the robot's pack id (the log's location for it) where the
serials do not disagree. Three lists come out: packs in the robot the log never allowed, packs
the log shelved that the robot no longer holds, packs in both. A robot pack whose stock-in is
still under way (its UI held by a pack in flight) is in none of them: it is settling.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from fmd.codes import PackIdentifier, parse_scan
from robot_controller.store import ShelvedPack
from wwks2.messages import StockArticle

Key = tuple[str, str]
"""A pack's product code and serial."""


@dataclass(frozen=True, slots=True)
class RobotPack:
    """One pack the robot reports: its pack id, article, ScanCode (unescaped) and serial as the
    robot has them, and the UI its ScanCode parses to (None: no usable scan code)."""

    id: int
    article_id: str
    scan_code: str | None
    serial: str | None
    batch: str | None
    expiry: date | None
    ui: PackIdentifier | None

    @property
    def key(self) -> Key | None:
        """Product code and serial: the scan code's, else the article id and robot's serial."""
        if self.ui is not None:
            return self.ui.product_code, self.ui.serial
        return (self.article_id, self.serial) if self.serial else None


@dataclass(frozen=True, slots=True)
class Consistent:
    """A pack both the robot and the log have on the shelf."""

    robot: RobotPack
    log: ShelvedPack


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The comparison: `unknown` in the robot but never allowed by the log, `missing` shelved
    in the log but not in the robot, `consistent` in both, `settling` still being stocked in."""

    unknown: tuple[RobotPack, ...]
    missing: tuple[ShelvedPack, ...]
    consistent: tuple[Consistent, ...]
    settling: tuple[RobotPack, ...] = ()

    @property
    def agrees(self) -> bool:
        return not self.unknown and not self.missing

    @property
    def counts(self) -> dict[str, int]:
        return {
            "unknown": len(self.unknown),
            "missing": len(self.missing),
            "consistent": len(self.consistent),
            "settling": len(self.settling),
        }


def robot_packs(
    articles: Iterable[StockArticle], *, separators: str = "\x1d", today: date | None = None
) -> list[RobotPack]:
    """The robot's packs, each with the UI its ScanCode parses to."""
    packs = []
    for article in articles:
        for pack in article.packs:
            code = pack.scan_code or None
            parsed = None if code is None else parse_scan(code, separators=separators, today=today)
            packs.append(
                RobotPack(
                    id=pack.id,
                    article_id=article.id,
                    scan_code=code,
                    serial=pack.serial_number or pack.external_id or None,
                    batch=pack.batch_number,
                    expiry=pack.expiry_date,
                    ui=None if parsed is None else parsed.ui,
                )
            )
    return packs


def compare(
    robot: Sequence[RobotPack], log: Sequence[ShelvedPack], *, in_flight: Collection[Key] = ()
) -> Reconciliation:
    """The robot's stock against the log's shelved packs (`in_flight`: UIs of packs the
    pipeline holds now, whose stock-in is not recorded yet)."""
    by_key = {(pack.product_code, pack.serial): pack for pack in log}
    by_location = {pack.location: pack for pack in log if pack.location is not None}
    matched: set[int] = set()
    unknown: list[RobotPack] = []
    consistent: list[Consistent] = []
    settling: list[RobotPack] = []
    for pack in robot:
        found = _match(pack, by_key, by_location, matched)
        if found is not None:
            matched.add(found.token)
            consistent.append(Consistent(pack, found))
        elif pack.key is not None and pack.key in in_flight:
            settling.append(pack)
        else:
            unknown.append(pack)
    missing = tuple(pack for pack in log if pack.token not in matched)
    return Reconciliation(tuple(unknown), missing, tuple(consistent), tuple(settling))


def _match(
    pack: RobotPack,
    by_key: dict[Key, ShelvedPack],
    by_location: dict[int, ShelvedPack],
    matched: set[int],
) -> ShelvedPack | None:
    key = pack.key
    found = by_key.get(key) if key is not None else None
    if found is None:
        found = by_location.get(pack.id)
        serial = pack.ui.serial if pack.ui is not None else pack.serial
        if found is not None and serial is not None and serial != found.serial:
            found = None  # the pack id was given to another pack
    return None if found is None or found.token in matched else found
