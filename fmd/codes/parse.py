"""`parse_scan`: from what a scanner sent to a checked pack identifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache

from fmd.codes.ai import AI_LENGTH_BY_PREFIX
from fmd.codes.checks import is_digits, is_valid_gtin
from fmd.codes.damage import (
    all_lower_case,
    appended_ean,
    ean_in_remainder,
    layout_signs,
    second_identifier,
    swallowed_field,
)
from fmd.codes.digital_link import is_digital_link, split_digital_link
from fmd.codes.envelope import HEADER, LAYOUT_HEADERS, RS, split_envelope
from fmd.codes.fields import Fields, missing_parts, read_fields
from fmd.codes.framing import unframe
from fmd.codes.gs1 import GS, split_element_string
from fmd.codes.keys import ROLES
from fmd.codes.model import Element, ParsedScan, Problem, ProblemCode, ScanFormat
from fmd.codes.problems import blocks_submit, problem, reported
from fmd.codes.symbology import GS1_SYMBOLOGIES, LINEAR_GTIN_SYMBOLOGIES, read_symbology

MAX_SCAN_LENGTH = 4096
"""Longer scans are refused unread: a pack code holds a few dozen characters."""

_PLAIN_GTIN_LENGTHS = (8, 12, 13, 14)
_SECOND_CODE_SEEN = (ProblemCode.EAN_APPENDED, ProblemCode.TRAILING_DATA)
"""Problems that already name what follows the code, so a symbology identifier in it is not
reported again."""


@dataclass(slots=True)
class _Scan:
    """What the routing found: the format, the elements, and the problems in two groups
    (damage first, so the first error tells the operator what to do)."""

    format: ScanFormat
    elements: list[Element]
    damage: list[Problem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    elements_scanned: bool = True


def parse_scan(
    raw: str,
    *,
    symbology: str | None = None,
    separators: str = GS,
    today: date | None = None,
) -> ParsedScan:
    """Parse one scan: a GS1 element string, an IFA format 06 code, a mixed ISO/IEC 15434
    envelope, a GS1 Digital Link or a plain GTIN, with or without an AIM symbology identifier.

    `symbology` is the identifier a decoder reported separately (one at the start of `raw` wins);
    every character of `separators` (and GS) separates fields; `today` anchors the century of
    two-digit years. Whitespace around the scan is framing: taken off and noted. Never raises:
    whatever is wrong is in the result's `problems`, whose messages agree with `submit`.
    """
    try:
        return _parse(raw, symbology, separators, today)
    except Exception as exc:  # noqa: BLE001 - a fault here must reject the pack, never stop the pipeline
        return _refused(
            raw, symbology, problem(ProblemCode.INTERNAL_ERROR, detail=type(exc).__name__)
        )


def _parse(raw: str, given: str | None, separators: str, today: date | None) -> ParsedScan:
    if len(raw) > MAX_SCAN_LENGTH:
        return _refused(raw, given, problem(ProblemCode.TOO_LONG, length=len(raw)))
    text, framing = unframe(raw, separators)
    noted = () if framing is None else (framing,)
    si = read_symbology(text, given)
    body = text[si.start :]
    if separators != GS:
        body = body.translate(_separator_table(separators))
    if not body.strip(GS):
        return _refused(raw, si.found, *si.problems, problem(ProblemCode.EMPTY), *noted)
    this_year = (today or datetime.now(UTC).date()).year
    scan = _route(body, si.canonical)
    if scan.format == "unknown":
        return _refused(raw, si.found, *si.problems, *scan.damage, *scan.problems, *noted)
    read_whole = not (scan.problems and blocks_submit(scan.problems))
    fields = read_fields(scan.elements, this_year, scan.problems)
    ui = fields.pack_identifier()
    if ui is None:
        missing_parts(fields, read_whole, scan.problems)
    _find_damage(scan, fields, ui is None, body, this_year)
    found = (*si.problems, *scan.damage, *scan.problems, *noted)
    submit = ui is not None and not (found and blocks_submit(found))
    return ParsedScan(
        raw=raw,
        format=scan.format,
        symbology=si.found,
        ui=ui if submit else None,
        submit=submit,
        problems=reported(found, submit) if found else (),
        elements=tuple(scan.elements) if scan.elements_scanned else (),
        scheme=fields.scheme,
        product_code=fields.product_code,
        serial=fields.serial,
        batch=fields.batch,
        expiry=fields.expiry,
        expiry_raw=fields.expiry_raw,
        nhrn=fields.nhrn,
        nhrn_ai=fields.nhrn_ai,
    )


def _route(body: str, symbology: str | None) -> _Scan:
    if body.startswith(HEADER):
        return _envelope(body[len(HEADER) :])
    if body.startswith(LAYOUT_HEADERS):
        scan = _envelope(body[3:].removeprefix(RS))
        detail = f"the envelope header '[)>' arrived as {body[:3]!r}"
        scan.damage.append(problem(ProblemCode.KEYBOARD_LAYOUT, detail=detail))
        return scan
    if is_digital_link(body):
        return _digital_link(body)
    if _is_plain_gtin(body, symbology):
        code = body.zfill(14)
        return _Scan("gs1", [Element("01", code)], elements_scanned=False)
    return _element_string(body, symbology)


def _is_plain_gtin(body: str, symbology: str | None) -> bool:
    """True when `body` is a bare GTIN-8/12/13/14 (digits only, no GS1 symbology): always after a
    linear barcode's identifier (``]E0``…), whatever its check digit; otherwise when its check
    digit is right or no pack AI starts it (a bad-check EAN-13 is no AI 400 with data, but
    ``01`` + 11 digits is a cut-off GTIN)."""
    if symbology in GS1_SYMBOLOGIES or len(body) not in _PLAIN_GTIN_LENGTHS or not is_digits(body):
        return False
    linear = symbology in LINEAR_GTIN_SYMBOLOGIES
    return linear or is_valid_gtin(body) or not _starts_with_pack_ai(body)


def _starts_with_pack_ai(body: str) -> bool:
    """True when `body` starts with a GS1 AI that carries part of a pack identifier."""
    width = AI_LENGTH_BY_PREFIX.get(body[:2])
    return width is not None and body[:width] in ROLES


def _element_string(body: str, symbology: str | None) -> _Scan:
    elements, stop, error = split_element_string(body)
    scan = _Scan("gs1", elements)
    if symbology in LINEAR_GTIN_SYMBOLOGIES and elements:
        detail = f"a GS1 element string arrived as {symbology!r}, which is a linear barcode"
        scan.damage.append(problem(ProblemCode.CAPS_LOCK, detail=detail))
    if error is None:
        return scan
    ean = ean_in_remainder(body[stop:])
    if ean is not None:
        scan.damage.append(problem(ProblemCode.EAN_APPENDED, ean=ean))
    elif not elements and symbology not in GS1_SYMBOLOGIES and not _starts_with_pack_ai(body):
        scan.format = "unknown"
        detail = "no GS1 application identifier at its start"
        scan.problems.append(problem(ProblemCode.UNKNOWN_FORMAT, detail=detail))
    else:
        scan.problems.append(error)
    return scan


def _envelope(body: str) -> _Scan:
    envelope = split_envelope(body)
    kind: ScanFormat = "gs1" if envelope.gs1 else "ifa"
    scan = _Scan(kind, envelope.elements, envelope.damage, envelope.problems)
    if not scan.elements and blocks_submit(scan.problems):
        scan.format = "unknown"
    if envelope.trailing.strip(GS):
        ean = ean_in_remainder(envelope.trailing)
        if ean is not None:
            scan.damage.append(problem(ProblemCode.EAN_APPENDED, ean=ean))
        else:
            scan.problems.append(problem(ProblemCode.TRAILING_DATA, text=envelope.trailing[:20]))
    return scan


def _digital_link(body: str) -> _Scan:
    link = split_digital_link(body)
    scan = _Scan("gs1-digital-link", link.elements, problems=[problem(ProblemCode.DIGITAL_LINK)])
    if link.error is not None:
        scan.problems.append(link.error)
        if not link.elements:
            scan.format = "unknown"
    return scan


def _find_damage(scan: _Scan, fields: Fields, incomplete: bool, body: str, this_year: int) -> None:
    damage = scan.damage
    if incomplete and scan.format in ("gs1", "ifa"):
        swallowed = swallowed_field(scan.elements, this_year)
        if swallowed is not None:
            damage.append(swallowed)
    if scan.format in ("gs1", "ifa") and scan.elements and scan.elements_scanned:
        ean = appended_ean(fields, scan.elements[-1])
        if ean is not None and not any(p.code == ProblemCode.EAN_APPENDED for p in damage):
            damage.append(problem(ProblemCode.EAN_APPENDED, ean=ean))
    if not any(p.code in _SECOND_CODE_SEEN for p in (*damage, *scan.problems)):
        second = second_identifier(body)
        if second is not None:
            damage.append(second)
    signs = layout_signs(body)
    if signs:
        detail = "characters " + ", ".join(repr(c) for c in signs) + " in the data"
        damage.append(problem(ProblemCode.KEYBOARD_LAYOUT, detail=detail))
    if all_lower_case(fields) and not any(p.code == ProblemCode.CAPS_LOCK for p in damage):
        scan.problems.append(problem(ProblemCode.LOWERCASE_DATA))


def _refused(raw: str, symbology: str | None, *problems: Problem) -> ParsedScan:
    return ParsedScan(raw, "unknown", symbology, None, False, reported(problems, False))


@lru_cache(maxsize=16)
def _separator_table(separators: str) -> dict[int, str]:
    return str.maketrans(dict.fromkeys(separators, GS))
