"""Plain data types for scanned pack identifiers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Scheme = Literal["GTIN", "PPN"]
ScanFormat = Literal["gs1", "ifa", "gs1-digital-link", "unknown"]
Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class PackIdentifier:
    """The unique identifier (UI) of one pack, as printed on it (DR 2016/161 Art. 4).

    `expiry` is None only when the printed date is not a valid calendar date; `expiry_raw`
    always holds the six digits as printed, which is what the hub is sent.
    """

    scheme: Scheme
    product_code: str
    serial: str
    batch: str
    expiry: date | None
    expiry_raw: str
    nhrn: str | None = None
    nhrn_ai: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong or doubtful about a scan; `code` is stable, `message` is for people."""

    code: str
    severity: Severity
    message: str


@dataclass(frozen=True, slots=True)
class Element:
    """One data element as found in the scan: a GS1 AI or an ASC data identifier, and its data."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class ParsedScan:
    """What a scan turned out to be.

    `ui` is set when the scan carries a complete pack identifier. The partial fields
    (`product_code`, `serial`, …) are filled as far as the scan allowed, also without a UI.
    `submit` says whether the scan should be sent to the hub (the NMVO rule: send what was
    scanned, even if a field looks invalid, unless it clearly is not a faithful pack UI).
    """

    raw: str
    format: ScanFormat
    symbology: str | None
    ui: PackIdentifier | None
    submit: bool
    problems: tuple[Problem, ...] = ()
    elements: tuple[Element, ...] = ()
    scheme: Scheme | None = None
    product_code: str | None = None
    serial: str | None = None
    batch: str | None = None
    expiry: date | None = None
    expiry_raw: str | None = None
    nhrn: str | None = None
    nhrn_ai: str | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    def has(self, code: str) -> bool:
        """True when a problem with this code was found."""
        return any(p.code == code for p in self.problems)
