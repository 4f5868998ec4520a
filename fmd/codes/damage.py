"""Signs that the scanner or its set-up damaged a scan. Only reported, never repaired."""

from __future__ import annotations

import re
from collections.abc import Sequence

from fmd.codes.ai import AI_TABLE
from fmd.codes.checks import is_cset82, is_valid_gtin, is_valid_ppn
from fmd.codes.dates import parse_yymmdd, parse_yyyymmdd
from fmd.codes.fields import MAX_TEXT_LENGTH, Fields
from fmd.codes.gs1 import GS, split_element_string
from fmd.codes.keys import NHRN_AIS, ROLES, UI_SLOTS, Role, label, slot
from fmd.codes.model import Element, Problem, ProblemCode
from fmd.codes.problems import problem

MAX_ANALYSED = 128
"""Values longer than this are not searched for swallowed elements (bounds the work)."""

LAYOUT_SIGNS = frozenset("ßäöüÄÖÜ´§°")
"""Characters a US-layout scanner produces in a German keyboard layout (from - ' ; [ = # …)."""

_DATE_AIS = frozenset({"11", "12", "13", "15", "16", "17"})
_TEXT_AIS = frozenset({"10", "21", *NHRN_AIS})
_PACK_AIS = _DATE_AIS | _TEXT_AIS | {"01"}
_PACK_AI_STARTS = frozenset(ai[:2] for ai in _PACK_AIS)
_TEXT_ROLES = frozenset({Role.SERIAL, Role.BATCH, Role.NHRN})
_PACK_DATA_IDENTIFIER = re.compile(r"9N|1T|8P|16D|D|S")
_CHECKED_KEYS = frozenset({"01", *_DATE_AIS, "9N", "8P", "16D", "D"})
"""Fields whose plausibility is a check (check digits, a calendar date), not just a length."""
_AIM_IDENTIFIER = re.compile(r"\][A-Za-z][0-9A-Za-z]")


def swallowed_field(elements: Sequence[Element], this_year: int) -> Problem | None:
    """A variable-length field (GS1 AI or IFA data identifier) whose value continues with
    well-formed pack data that the scan otherwise lacks, and that shows a GS was lost (see
    `_lost_separator_shows`). Meant for scans whose UI is incomplete (in a complete one such a
    value is just a random serial)."""
    present = frozenset(slot(e.key) for e in elements)
    for element in elements:
        key = element.key
        if key.isdigit():
            spec = AI_TABLE.get(key)
            if spec is None or spec.predefined:
                continue
            longest, tail_keys = spec.max_length, _gs1_tail_keys
        else:
            longest, tail_keys = MAX_TEXT_LENGTH, _ifa_tail_keys
        value = element.value[:MAX_ANALYSED]
        for cut in range(1, min(len(value), longest + 1)):
            found = tail_keys(value[cut:], present, this_year)
            if found is not None and _lost_separator_shows(found, present):
                field, key_label = label(key)
                return problem(
                    ProblemCode.MISSING_SEPARATOR, field=field, key=key_label, text=value[cut:]
                )
    return None


def _lost_separator_shows(keys: Sequence[str], present: frozenset[Role | str]) -> bool:
    """True when swallowed fields are evidence of a lost GS: one of them passed a check (a GTIN
    check digit, a calendar date, PPN check digits), or they complete the pack identifier. A
    lone ``10…`` or ``21…`` inside a value (a national number, say) is chance."""
    if not _CHECKED_KEYS.isdisjoint(keys):
        return True
    return UI_SLOTS.issubset(present.union(slot(key) for key in keys))


def _gs1_tail_keys(tail: str, present: frozenset[Role | str], this_year: int) -> list[str] | None:
    """The AIs of `tail` when it is plausible GS1 pack data the scan lacks, else None."""
    if tail[:2] not in _PACK_AI_STARTS:
        return None
    elements, _, error = split_element_string(tail)
    slots = [slot(e.key) for e in elements]
    if error is not None or len(set(slots)) != len(slots) or not present.isdisjoint(slots):
        return None
    if not all(_plausible_gs1(e.key, e.value, this_year) for e in elements):
        return None
    return [e.key for e in elements]


def _plausible_gs1(key: str, value: str, this_year: int) -> bool:
    if key == "01":
        return is_valid_gtin(value)
    if key in _DATE_AIS:
        return parse_yymmdd(value, this_year).value is not None
    return key in _TEXT_AIS and 0 < len(value) <= MAX_TEXT_LENGTH and is_cset82(value)


def _ifa_tail_keys(tail: str, present: frozenset[Role | str], this_year: int) -> list[str] | None:
    """The data identifier `tail` starts with when its field is plausible and the scan lacks it."""
    match = _PACK_DATA_IDENTIFIER.match(tail)
    if match is None or slot(match.group()) in present:
        return None
    key, value = match.group(), tail[match.end() :]
    return [key] if _plausible_ifa(key, value, this_year) else None


def _plausible_ifa(key: str, value: str, this_year: int) -> bool:
    if key == "D":
        return parse_yymmdd(value[:6], this_year).value is not None
    if key == "16D":
        return parse_yyyymmdd(value[:8]) is not None
    if key == "8P":
        return is_valid_gtin(value[:14])
    if key == "9N":
        return any(is_valid_ppn(value[:n]) for n in range(4, min(len(value), 22) + 1))
    return value[:1].isalnum()


def appended_ean(fields: Fields, last: Element) -> str | None:
    """The EAN-13 a multi-code scanner appended to the last element, if it shows: the element is
    itself an EAN-13 read as an AI outside the UI, or a text field (serial, batch, NHRN, other
    variable-length data) ends with the product's own GTIN, or with any valid EAN-13 after its
    identifier ``]E0``, or after a character that is no digit when the field is then too long (a
    too-long run of digits passes an EAN-13 check by chance one time in ten)."""
    whole = last.key + last.value
    if last.key not in ROLES and len(whole) == 13 and is_valid_gtin(whole):
        return whole
    if len(last.value) <= 13 or not _is_text_field(last.key):
        return None
    head, ean = last.value[:-13], last.value[-13:]
    own = fields.product_code
    if own is not None and len(own) == 14 and own[0] == "0" and ean == own[1:]:
        return ean
    if not is_valid_gtin(ean):
        return None
    if head.endswith("]E0"):  # with its own symbology identifier
        return ean
    return ean if len(last.value) > MAX_TEXT_LENGTH and not head[-1].isdigit() else None


def _is_text_field(key: str) -> bool:
    role = ROLES.get(key.upper())
    if role is not None:
        return role in _TEXT_ROLES
    spec = AI_TABLE.get(key)
    return spec is None or not spec.predefined


def ean_in_remainder(remainder: str) -> str | None:
    """The EAN-13 when the unreadable rest of a scan is just that (possibly with its own ]E0)."""
    rest = remainder.strip(GS).removeprefix("]E0")
    return rest if len(rest) == 13 and is_valid_gtin(rest) else None


def second_identifier(body: str) -> Problem | None:
    """An AIM symbology identifier (``]d2``, ``]E0``…) inside the data: ']' is in no pack code's
    character set, so it starts another code (or the scanner sent its identifier twice)."""
    if "]" not in body:
        return None
    match = _AIM_IDENTIFIER.search(body)
    if match is None:
        return None
    return problem(ProblemCode.SECOND_IDENTIFIER, si=match.group(), text=body[match.start() :][:20])


def layout_signs(text: str) -> str:
    """The characters of `text` that a keyboard-layout mismatch produces, each once."""
    if text.isascii():
        return ""
    return "".join(dict.fromkeys(c for c in text if c in LAYOUT_SIGNS))


def all_lower_case(fields: Fields) -> bool:
    """True when serial and batch have letters and all of them are lower case."""
    text = (fields.serial or "") + (fields.batch or "")
    return text.lower() == text and text.upper() != text
