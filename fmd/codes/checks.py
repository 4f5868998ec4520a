"""Check digits and character sets of pack identifier fields, as pure functions."""

from __future__ import annotations

import re

# GS1 CSET 82 (GS1 General Specifications fig. 7.11-1): !"%&'()*+,-./0-9:;<=>?A-Z_a-z
_CSET82 = re.compile(r'[!"%-?A-Z_a-z]*')
_PPN = re.compile(r"[0-9A-Z]{2,20}[0-9]{2}")


def is_digits(text: str) -> bool:
    """True when `text` is non-empty and only ASCII digits (``str.isdigit`` alone accepts '²')."""
    return text.isascii() and text.isdigit()


def is_cset82(text: str) -> bool:
    """True when every character of `text` is in GS1 CSET 82."""
    return _CSET82.fullmatch(text) is not None


def non_cset82(text: str) -> str:
    """The characters of `text` outside CSET 82, each once, in order of appearance."""
    return "".join(dict.fromkeys(c for c in text if not is_cset82(c)))


def gtin_check_digit(body: str) -> str:
    """The GS1 mod-10 check digit for the digits `body` (a GTIN or GLN without its last digit).

    Weights 3, 1, 3, … from the right (GS1 General Specifications §7.9.1).
    """
    if not is_digits(body):
        raise ValueError(f"not digits: {body!r}")
    return _mod10(body)


def _mod10(digits: str) -> str:
    data = digits.encode("ascii")
    triple = data[-1::-2]
    single = data[-2::-2]
    return str(-(3 * (sum(triple) - 48 * len(triple)) + sum(single) - 48 * len(single)) % 10)


def is_valid_gtin(code: str) -> bool:
    """True for a GTIN-8/12/13/14 with a correct check digit."""
    return (
        len(code) in (8, 12, 13, 14) and is_digits(code) and gtin_check_digit(code[:-1]) == code[-1]
    )


def ppn_check_digits(body: str) -> str:
    """The two PPN check digits for `body` (PRA code + product number, e.g. ``'11'`` + PZN8).

    Sum of ASCII code × weight, weights 2, 3, 4, … from the left, modulo 97 (IFA PPN spec).
    """
    return f"{sum(ord(c) * w for w, c in enumerate(body, 2)) % 97:02d}"


def is_ppn_format(code: str) -> bool:
    """True when `code` has the shape of a PPN: 4-22 characters of 0-9A-Z, the last two digits."""
    return _PPN.fullmatch(code) is not None


def is_valid_ppn(code: str) -> bool:
    """True for a well-formed PPN whose two check digits are right."""
    return is_ppn_format(code) and ppn_check_digits(code[:-2]) == code[-2:]


def pzn_check_digit(body: str) -> str | None:
    """The check digit of a PZN8 from its first seven digits (weights 1-7, mod 11).

    None when the remainder is 10: such numbers are never issued.
    """
    if len(body) != 7 or not is_digits(body):
        raise ValueError(f"not seven digits: {body!r}")
    remainder = sum(w * (ord(c) - 48) for w, c in enumerate(body, 1)) % 11
    return None if remainder == 10 else str(remainder)


def is_valid_pzn(pzn: str) -> bool:
    """True for an eight-digit PZN with a correct check digit."""
    return len(pzn) == 8 and is_digits(pzn) and pzn_check_digit(pzn[:7]) == pzn[7]


def pzn_in_product_code(code: str) -> str | None:
    """The PZN8 carried inside a German product code, or None when there is none.

    A German PPN is ``11`` + PZN8 + 2 check digits; a German NTIN is ``04150`` + PZN8 + check digit.
    """
    if len(code) == 12 and code.startswith("11"):
        return code[2:10]
    if len(code) == 14 and code.startswith("04150"):
        return code[5:13]
    return None
