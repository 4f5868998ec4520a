"""Plain data types for scanned pack identifiers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

Scheme = Literal["GTIN", "PPN"]
ScanFormat = Literal["gs1", "ifa", "gs1-digital-link", "unknown"]
Severity = Literal["error", "warning"]


class ProblemCode(StrEnum):
    """The stable code of a scan problem, as shown, logged and stored (its value).

    A closed set: `fmd.codes.problems.CATALOGUE` holds each member's severity and message.
    """

    # The scan as a whole cannot be read.
    EMPTY = "empty"
    TOO_LONG = "too-long"
    UNKNOWN_FORMAT = "unknown-format"
    UNKNOWN_AI = "unknown-ai"
    TRUNCATED = "truncated"
    TRAILING_DATA = "trailing-data"
    CONFLICTING_VALUES = "conflicting-values"
    CONFLICTING_PRODUCT_CODES = "conflicting-product-codes"
    INTERNAL_ERROR = "internal-error"
    # The UI is incomplete.
    MISSING_PRODUCT_CODE = "missing-product-code"
    MISSING_SERIAL = "missing-serial"
    MISSING_BATCH = "missing-batch"
    MISSING_EXPIRY = "missing-expiry"
    NOT_SERIALISED = "not-serialised"
    NHRN_ONLY = "nhrn-only"
    # Damage from the scanner or its set-up (never repaired).
    MISSING_SEPARATOR = "missing-separator"
    CAPS_LOCK = "caps-lock"
    KEYBOARD_LAYOUT = "keyboard-layout"
    EAN_APPENDED = "ean-appended"
    SECOND_IDENTIFIER = "second-identifier"
    # Invalid content: still sent to the hub.
    GTIN_FORMAT = "gtin-format"
    GTIN_CHECK_DIGIT = "gtin-check-digit"
    PPN_FORMAT = "ppn-format"
    PPN_CHECK_DIGITS = "ppn-check-digits"
    PZN_CHECK_DIGIT = "pzn-check-digit"
    INVALID_DATE = "invalid-date"
    INVALID_LENGTH = "invalid-length"
    INVALID_CHARACTERS = "invalid-characters"
    # Doubtful but acceptable.
    DAY_00 = "day-00"
    INVALID_PRODUCTION_DATE = "invalid-production-date"
    IGNORED_AI = "ignored-ai"
    DIGITAL_LINK = "digital-link"
    LOWERCASE_DATA = "lowercase-data"
    # Framing around the scan, taken off (noted only).
    SURROUNDING_WHITESPACE = "surrounding-whitespace"


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

    code: ProblemCode
    severity: Severity
    message: str

    def as_json(self) -> dict[str, str]:
        """The problem as `parse --json` shows it and the store keeps it."""
        return {"code": self.code.value, "severity": self.severity, "message": self.message}


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
    The `problems` agree with it: on a scan that is sent none asks for a rescan and the invalid
    ones say the hub will be asked; on one that is not, those that stop it come first.
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

    def has(self, code: ProblemCode) -> bool:
        """True when a problem with this code was found."""
        return any(p.code == code for p in self.problems)
