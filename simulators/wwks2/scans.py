"""The scans file (one pack per line) and what the robot reads off a pack's code.

A line is the raw code with `\\x1D`-style escapes for control characters (`wwks2.escaping`),
optionally a TAB and a JSON object of attributes: `return`, `batch`, `serial`, `expiry`
(YYYY-MM-DD), `article`, `delivery`, `component`, `stocked`, `read` (see `ScanPack`). Blank
lines and lines starting with `#` are skipped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fmd.codes.parse import parse_scan
from simulators.wwks2.settings import ScanPack
from wwks2.escaping import unescape
from wwks2.messages import ExpiryDateSource

_TYPES: dict[str, type | tuple[type, ...]] = {
    "return": bool,
    "batch": str,
    "serial": str,
    "expiry": str,
    "article": str,
    "delivery": str,
    "component": int,
    "stocked": bool,
    "read": bool,
}


class ScansError(ValueError):
    """A scans file that cannot be used; the message is one line naming the line number."""


def read_scans(path: Path) -> list[ScanPack]:
    """The packs of a scans file (`ScansError` for a file or line that cannot be used)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScansError(f"{path}: cannot be read ({error})") from None
    return parse_scans(text, name=str(path))


def parse_scans(text: str, *, name: str = "scans") -> list[ScanPack]:
    """The packs of a scans file's text: lines end at LF alone (`str.splitlines` would also
    cut at the GS, RS and FS a raw code carries)."""
    packs = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip(" \t\r") or line.lstrip(" \t").startswith("#"):
            continue
        try:
            packs.append(parse_line(line))
        except ValueError as error:
            raise ScansError(f"{name} line {number}: {error}") from None
    return packs


def parse_line(line: str) -> ScanPack:
    """One line's pack (ValueError saying what is wrong)."""
    code, tab, attributes = line.partition("\t")
    code = unescape(code.strip(" \r"))
    if not code:
        raise ValueError("no code before the attributes")
    extra: dict[str, Any] = {}
    if tab and attributes.strip():
        try:
            extra = json.loads(attributes)
        except json.JSONDecodeError as error:
            raise ValueError(f"the attributes are not JSON ({error.msg})") from None
        if not isinstance(extra, dict):
            raise ValueError("the attributes must be a JSON object")
    for key, value in extra.items():
        kind = _TYPES.get(key)
        if kind is None:
            raise ValueError(f"unknown attribute {key!r} (one of {', '.join(_TYPES)})")
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"attribute {key!r} has the wrong type")
    expiry = None
    if "expiry" in extra:
        try:
            expiry = date.fromisoformat(extra["expiry"])
        except ValueError:
            raise ValueError(f"expiry {extra['expiry']!r} is not YYYY-MM-DD") from None
    return ScanPack(
        code=code,
        batch=extra.get("batch"),
        serial=extra.get("serial"),
        expiry=expiry,
        article=extra.get("article"),
        delivery_number=extra.get("delivery"),
        is_return=extra.get("return", False),
        component=extra.get("component"),
        stocked=extra.get("stocked", False),
        read=extra.get("read", True),
    )


@dataclass(frozen=True, slots=True)
class Reading:
    """What the robot reports of a pack: the article part of its code and its own parse."""

    article: str | None
    batch: str | None
    serial: str | None
    expiry: date | None
    expiry_source: ExpiryDateSource | None


def reading_of(pack: ScanPack) -> Reading:
    """What the robot knows of `pack`: the script's values, else its parse of the code. (A pack
    with `read` False reports only the article part at first, the rest when asked again.)"""
    parsed = parse_scan(pack.code)
    expiry = pack.expiry or parsed.expiry
    source = None
    if expiry is not None:
        source = ExpiryDateSource.MANUAL_ENTRY if pack.expiry else ExpiryDateSource.BARCODE
    return Reading(
        article=pack.article or parsed.product_code,
        batch=pack.batch or parsed.batch,
        serial=pack.serial or parsed.serial,
        expiry=expiry,
        expiry_source=source,
    )
