"""Syntax checks the hub applies to a request before it looks anything up (nmvs.md §2.4)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from fmd.codes.model import PackIdentifier
from fmd.hub import returncodes as rc

_FIELD = re.compile(r"[!\"%&'()*+,\-./:;<=>?_a-zA-Z0-9]{1,20}")
_TRX = re.compile(r"[A-Za-z0-9-]{1,32}")
_NHRN = re.compile(r"[A-Z0-9]{8,20}")
_GTIN = re.compile(r"[0-9]{14}")
_PPN = re.compile(r"[0-9A-Z]{10,20}[0-9]{2}")
_EXPIRY = re.compile(r"[0-9]{6}")


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why a request is refused as invalid: the return code and a message."""

    code: str
    message: str


def product_code_problem(scheme: str, product_code: str) -> Invalid | None:
    """Check a product code: a GTIN-14 with its check digit, or a PPN with its mod 97."""
    if scheme == "GTIN":
        if _GTIN.fullmatch(product_code) and _gtin_check_ok(product_code):
            return None
        return Invalid(rc.INVALID_PRODUCT_CODE, f"{product_code!r} is not a valid GTIN-14")
    if scheme == "PPN":
        if not _PPN.fullmatch(product_code):
            return Invalid(rc.INVALID_PRODUCT_CODE, f"{product_code!r} is not a valid PPN")
        if not _ppn_check_ok(product_code):
            return Invalid(rc.INVALID_PPN_CHECK, f"{product_code!r} has wrong check digits")
        return None
    return Invalid(rc.INVALID_PRODUCT_CODE, f"unknown product code scheme {scheme!r}")


def field_ok(value: str) -> bool:
    """True for a batch or serial: 1–20 characters of the GS1 subset."""
    return _FIELD.fullmatch(value) is not None


def trx_problem(trx: str) -> Invalid | None:
    """Check a client transaction id: 1–32 of [A-Za-z0-9-]."""
    if _TRX.fullmatch(trx):
        return None
    return Invalid(rc.SCHEMA_VIOLATION, f"transaction id {trx!r} is not 1–32 of [A-Za-z0-9-]")


def expiry_ok(raw: str) -> bool:
    """True for a YYMMDD date as printed; DD=00 is allowed."""
    if not _EXPIRY.fullmatch(raw):
        return False
    year, month, day = 2000 + int(raw[:2]), int(raw[2:4]), int(raw[4:])
    if not 1 <= month <= 12:
        return False
    return day <= calendar.monthrange(year, month)[1]


def expiry_matches(raw: str, expiry: date) -> bool:
    """Does the printed YYMMDD match the batch's expiry? DD=00 means any day of that month."""
    month = f"{expiry.year % 100:02d}{expiry.month:02d}"
    if raw[4:] == "00":
        return raw[:4] == month
    return raw == f"{month}{expiry.day:02d}"


def ui_problem(ui: PackIdentifier) -> Invalid | None:
    """The first syntax problem in a pack identifier, or None."""
    problem = product_code_problem(ui.scheme, ui.product_code)
    if problem is not None:
        return problem
    if not field_ok(ui.serial):
        return Invalid(rc.SCHEMA_VIOLATION, f"serial {ui.serial!r} is not 1–20 GS1 characters")
    if not field_ok(ui.batch):
        return Invalid(rc.SCHEMA_VIOLATION, f"batch {ui.batch!r} is not 1–20 GS1 characters")
    if not expiry_ok(ui.expiry_raw):
        return Invalid(rc.INVALID_EXPIRY, f"expiry {ui.expiry_raw!r} is not YYMMDD")
    if ui.nhrn is not None and not _NHRN.fullmatch(ui.nhrn):
        return Invalid(rc.INVALID_NHRN, f"NHRN {ui.nhrn!r} is not 8–20 of [A-Z0-9]")
    return None


def _gtin_check_ok(code: str) -> bool:
    body = code[:-1]
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == int(code[-1])


def _ppn_check_ok(code: str) -> bool:
    total = sum(ord(c) * weight for weight, c in enumerate(code[:-2], start=2))
    return total % 97 == int(code[-2:])
