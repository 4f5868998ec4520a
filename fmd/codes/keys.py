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


PRODUCT_CODE = "product code"
"""The slot of a GTIN and of a PPN alike: a pack has one product code, whatever its scheme."""

UI_SLOTS = frozenset({PRODUCT_CODE, Role.SERIAL, Role.BATCH, Role.EXPIRY})
"""The slots a complete pack identifier fills."""


def slot(key: str) -> Role | str:
    """What a repeat of `key` would clash with: its role (`PRODUCT_CODE` for a GTIN or a PPN),
    or the key itself for national numbers (a pack may carry several, each under its own AI) and
    for AIs outside the UI."""
    role = ROLES.get(key.upper())
    if role is None or role is Role.NHRN:
        return key.upper()
    return PRODUCT_CODE if role is Role.GTIN or role is Role.PPN else role


def label(key: str) -> tuple[str, str]:
    """A field name and key for messages: ``("Batch", "AI 10")``, ``("Serial number", "DI S")``."""
    role = ROLES.get(key.upper())
    field = role.value[0].upper() + role.value[1:] if role else "Data"
    return field, ("AI " if key.isdigit() else "DI ") + key
