"""What each GS1 AI and IFA data identifier means for a pack identifier."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The part of the pack identifier an element carries (a StrEnum: hashes at C speed)."""

    GTIN = "GTIN"
    PPN = "PPN"
    SERIAL = "serial number"
    BATCH = "batch"
    EXPIRY = "expiry date"
    NHRN = "national number (NHRN)"
    PRODUCTION_DATE = "production date"
    PRODUCTION_DATE_LONG = "production date (YYYYMMDD)"
    KNOWN = "other pack data"


NHRN_AIS = ("710", "711", "712", "713", "714", "715", "716", "717")

ROLES: dict[str, Role] = {
    "01": Role.GTIN,
    "21": Role.SERIAL,
    "10": Role.BATCH,
    "17": Role.EXPIRY,
    "11": Role.PRODUCTION_DATE,
    "7003": Role.KNOWN,
    **dict.fromkeys(NHRN_AIS, Role.NHRN),
    "9N": Role.PPN,
    "8P": Role.GTIN,
    "S": Role.SERIAL,
    "1T": Role.BATCH,
    "D": Role.EXPIRY,
    "16D": Role.PRODUCTION_DATE_LONG,
}
"""Roles by AI (digits) or ASC data identifier (digits + one capital letter)."""


def slot(key: str) -> Role | str:
    """What a repeat of `key` would clash with: its role, or the key itself for national numbers
    (a pack may carry several, each under its own AI) and for AIs outside the UI."""
    role = ROLES.get(key.upper())
    return key.upper() if role is None or role is Role.NHRN else role


def label(key: str) -> tuple[str, str]:
    """A field name and key for messages: ``("Batch", "AI 10")``, ``("Serial number", "DI S")``."""
    role = ROLES.get(key.upper())
    field = role.value[0].upper() + role.value[1:] if role else "Data"
    return field, ("AI " if key.isdigit() else "DI ") + key
