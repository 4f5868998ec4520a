"""From the elements of a scan to the fields of a pack identifier, with their checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from fmd.codes.ai import AI_TABLE
from fmd.codes.checks import (
    gtin_check_digit,
    is_cset82,
    is_digits,
    is_ppn_format,
    is_valid_gtin,
    is_valid_ppn,
    is_valid_pzn,
    non_cset82,
    ppn_check_digits,
    pzn_in_product_code,
)
from fmd.codes.dates import parse_yymmdd, parse_yyyymmdd
from fmd.codes.keys import PRODUCT_CODE, ROLES, Role, label, slot
from fmd.codes.model import Element, PackIdentifier, Problem, ProblemCode, Scheme
from fmd.codes.problems import problem

MAX_TEXT_LENGTH = 20
"""Serial and batch: at most 20 characters (DR 2016/161 Art. 4; GS1 AIs 10 and 21)."""


@dataclass(slots=True)
class Fields:
    """The parts of a pack identifier found so far (None where absent)."""

    scheme: Scheme | None = None
    product_code: str | None = None
    serial: str | None = None
    batch: str | None = None
    expiry: date | None = None
    expiry_raw: str | None = None
    nhrn: str | None = None
    nhrn_ai: str | None = None

    def pack_identifier(self) -> PackIdentifier | None:
        """The UI when product code, serial, batch and expiry are all present."""
        if (
            self.scheme is None
            or self.product_code is None
            or self.serial is None
            or self.batch is None
            or self.expiry_raw is None
        ):
            return None
        return PackIdentifier(
            self.scheme,
            self.product_code,
            self.serial,
            self.batch,
            self.expiry,
            self.expiry_raw,
            self.nhrn,
            self.nhrn_ai,
        )


def read_fields(elements: Iterable[Element], this_year: int, problems: list[Problem]) -> Fields:
    """Pick the UI fields out of `elements` (the first of each wins) and check them.

    Problems found are appended to `problems`: conflicting repeats (a GTIN and a PPN among them:
    a pack has one product code), ignored AIs, invalid values.
    """
    reader = _Reader(this_year, problems)
    seen: dict[Role | str, Element] = {}
    for element in elements:
        key, value = element.key, element.value
        role = ROLES.get(key) or ROLES.get(key.upper())
        if role is None:
            problems.append(problem(ProblemCode.IGNORED_AI, key=label(key)[1]))
            continue
        where = slot(key)
        first = seen.get(where)
        if first is not None:
            if first.value != value:
                problems.append(_conflict(where, first, element))
            continue
        seen[where] = element
        if value:
            _TAKE[role](reader, key, value)
    return reader.fields


@dataclass(slots=True)
class _Reader:
    """Takes each element's data into `fields` and reports what is wrong with it."""

    this_year: int
    problems: list[Problem]
    fields: Fields = field(default_factory=Fields)

    def gtin(self, key: str, value: str) -> None:
        self.fields.product_code, self.fields.scheme = value, "GTIN"
        self.check_gtin(value)

    def ppn(self, key: str, value: str) -> None:
        self.fields.product_code, self.fields.scheme = value, "PPN"
        self.check_ppn(value)

    def serial(self, key: str, value: str) -> None:
        self.fields.serial = value
        self.check_text(key, value, MAX_TEXT_LENGTH)

    def batch(self, key: str, value: str) -> None:
        self.fields.batch = value
        self.check_text(key, value, MAX_TEXT_LENGTH)

    def expiry(self, key: str, value: str) -> None:
        printed = parse_yymmdd(value, self.this_year)
        self.fields.expiry, self.fields.expiry_raw = printed.value, value
        if printed.value is None:
            self.problems.append(problem(ProblemCode.INVALID_DATE, raw=value))
        elif printed.day_unspecified:
            self.problems.append(problem(ProblemCode.DAY_00, raw=value))

    def nhrn(self, key: str, value: str) -> None:
        if self.fields.nhrn is None:
            self.fields.nhrn, self.fields.nhrn_ai = value, key
        self.check_text(key, value, AI_TABLE[key].max_length)
        if key == "710" and not is_valid_pzn(value):
            self.problems.append(
                problem(ProblemCode.PZN_CHECK_DIGIT, pzn=value, where="NHRN (AI 710)")
            )

    def production_date(self, key: str, value: str) -> None:
        long_form = key.upper() == "16D"
        if long_form and parse_yyyymmdd(value) is not None:
            return
        if not long_form and parse_yymmdd(value, self.this_year).value is not None:
            return
        self.problems.append(
            problem(ProblemCode.INVALID_PRODUCTION_DATE, raw=value, key=label(key)[1])
        )

    def keep(self, key: str, value: str) -> None:
        """Known data outside the UI (AI 7003): kept in the elements only."""

    def check_gtin(self, code: str) -> None:
        if len(code) != 14 or not is_digits(code):
            self.problems.append(problem(ProblemCode.GTIN_FORMAT, code=code))
        elif not is_valid_gtin(code):
            expected = gtin_check_digit(code[:13])
            self.problems.append(
                problem(ProblemCode.GTIN_CHECK_DIGIT, code=code, expected=expected)
            )
        else:
            self.check_pzn_inside(code, "GTIN")

    def check_ppn(self, code: str) -> None:
        if not is_ppn_format(code):
            self.problems.append(problem(ProblemCode.PPN_FORMAT, code=code))
        elif not is_valid_ppn(code):
            expected = ppn_check_digits(code[:-2])
            self.problems.append(
                problem(ProblemCode.PPN_CHECK_DIGITS, code=code, expected=expected)
            )
        else:
            self.check_pzn_inside(code, "PPN")

    def check_pzn_inside(self, code: str, scheme: Scheme) -> None:
        pzn = pzn_in_product_code(code)
        if pzn is not None and not is_valid_pzn(pzn):
            self.problems.append(
                problem(ProblemCode.PZN_CHECK_DIGIT, pzn=pzn, where=f"{scheme} {code}")
            )

    def check_text(self, key: str, value: str, maximum: int) -> None:
        if len(value) > maximum:
            name, key_label = label(key)
            self.problems.append(
                problem(
                    ProblemCode.INVALID_LENGTH,
                    field=name,
                    key=key_label,
                    length=len(value),
                    maximum=maximum,
                )
            )
        if not is_cset82(value):
            name, key_label = label(key)
            chars = ", ".join(repr(c) for c in non_cset82(value))
            self.problems.append(
                problem(ProblemCode.INVALID_CHARACTERS, field=name, key=key_label, chars=chars)
            )


_TAKE: dict[Role, Callable[[_Reader, str, str], None]] = {
    Role.GTIN: _Reader.gtin,
    Role.PPN: _Reader.ppn,
    Role.SERIAL: _Reader.serial,
    Role.BATCH: _Reader.batch,
    Role.EXPIRY: _Reader.expiry,
    Role.NHRN: _Reader.nhrn,
    Role.PRODUCTION_DATE: _Reader.production_date,
    Role.PRODUCTION_DATE_LONG: _Reader.production_date,
    Role.KNOWN: _Reader.keep,
}
"""What to do with the data of each role."""


def _conflict(where: Role | str, first: Element, second: Element) -> Problem:
    if where == PRODUCT_CODE:
        return problem(
            ProblemCode.CONFLICTING_PRODUCT_CODES,
            first=_product_code(first),
            second=_product_code(second),
        )
    return problem(
        ProblemCode.CONFLICTING_VALUES,
        field=ROLES[first.key.upper()].value,
        first=f"{first.key}={first.value!r}",
        second=f"{second.key}={second.value!r}",
    )


def _product_code(element: Element) -> str:
    """``PPN 110375286414 (DI 9N)``: the scheme, the code and where it was found."""
    return f"{ROLES[element.key.upper()].value} {element.value} ({label(element.key)[1]})"


_PRODUCT_CODE_CHECKS = frozenset(
    {
        ProblemCode.GTIN_FORMAT,
        ProblemCode.GTIN_CHECK_DIGIT,
        ProblemCode.PPN_FORMAT,
        ProblemCode.PPN_CHECK_DIGITS,
    }
)


def missing_parts(fields: Fields, read_whole: bool, problems: list[Problem]) -> None:
    """Report the missing parts of the UI; a scan read to its end that holds only a product code
    is a pack without a serial number (`not-serialised`), not a damaged one, unless that code
    fails its own check (a misread, which that problem names); one that holds only a national
    number is no UI at all (`nhrn-only`)."""
    bare = (fields.serial, fields.batch, fields.expiry_raw) == (None, None, None)
    if read_whole and bare and fields.product_code is not None:
        if not any(p.code in _PRODUCT_CODE_CHECKS for p in problems):
            problems.append(problem(ProblemCode.NOT_SERIALISED, code=fields.product_code))
        return
    if read_whole and bare and fields.nhrn is not None and fields.nhrn_ai is not None:
        key = label(fields.nhrn_ai)[1]
        problems.append(problem(ProblemCode.NHRN_ONLY, nhrn=fields.nhrn, key=key))
        return
    if fields.product_code is None:
        problems.append(problem(ProblemCode.MISSING_PRODUCT_CODE))
    if fields.serial is None:
        problems.append(problem(ProblemCode.MISSING_SERIAL))
    if fields.batch is None:
        problems.append(problem(ProblemCode.MISSING_BATCH))
    if fields.expiry_raw is None:
        problems.append(problem(ProblemCode.MISSING_EXPIRY))
