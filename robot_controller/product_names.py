"""The site's own product names (`[site] products`): what the bench shows where the national
system's answer names no product (a SOAP hub's never does), read from a file the pharmacy's
own system exports.

The file is UTF-8 text, one product a line: its product code and its name, separated by a
comma, a semicolon or a tab (the first that the first line holds is the file's). The product
code is a GTIN (8 to 14 digits, padded to the 14 a pack's code carries) or an IFA PPN (twelve
digits that are both are kept as both); a first line with no digit in its first column is a
header. Blank lines are skipped. A line that cannot be used is an error naming its number, and
so is a code named twice with two names.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Final

from fmd.codes.checks import is_valid_gtin, is_valid_ppn

NONE: Final[Mapping[str, str]] = MappingProxyType({})
"""No names of the site's own."""
MAX_NAME: Final = 200
"""The longest name kept (a longer one is an export's mistake, not a product's name)."""
_SEPARATORS: Final = ",;\t"
_LINE_END: Final = re.compile(r"\r\n|\r|\n")


class ProductNamesError(ValueError):
    """A product-names file that cannot be used; the message names the line."""


def product_codes(text: str) -> tuple[str, ...]:
    """The product codes a pack carrying `text` may have: a GTIN padded to 14 digits, a PPN, or
    both (twelve digits can be either); none when it is neither."""
    code = text.strip()
    codes = []
    if code.isdigit() and 8 <= len(code) <= 14 and is_valid_gtin(code.zfill(14)):
        codes.append(code.zfill(14))
    if is_valid_ppn(code):
        codes.append(code)
    return tuple(codes)


def read_product_names(text: str) -> Mapping[str, str]:
    """Each product code's name, from the text of a product-names file."""
    lines = _LINE_END.split(text.removeprefix("\ufeff"))
    first = next((line for line in lines if line.strip()), "")
    separator = next((c for c in first if c in _SEPARATORS), ",")
    names: dict[str, str] = {}
    seen_line = False
    reader = csv.reader(lines, delimiter=separator, strict=True)
    number = 0
    try:
        for row in reader:
            number += 1
            if reader.line_num != number:  # a quoted name ran on into the next lines
                raise ProductNamesError(f"line {number}: a quote is not closed on its line")
            if not any(cell.strip() for cell in row):
                continue
            header, seen_line = not seen_line, True
            _take(names, number, row, header=header)
    except csv.Error as error:  # a quote not closed, a field beyond the csv module's limit
        raise ProductNamesError(
            f"line {number + 1}: not readable as CSV ({error}; is a quote left open?)"
        ) from None
    return MappingProxyType(names)


def _take(names: dict[str, str], number: int, row: list[str], *, header: bool) -> None:
    if len(row) < 2:
        raise ProductNamesError(f"line {number}: give a product code and a name")
    codes, name = product_codes(row[0]), " ".join(row[1].split())
    if not codes:
        if header and not any(c.isdigit() for c in row[0]):
            return
        raise ProductNamesError(f"line {number}: {row[0].strip()!r} is not a GTIN or a PPN")
    if not name or not name.isprintable() or len(name) > MAX_NAME:
        raise ProductNamesError(
            f"line {number}: the name of {codes[0]} must be printable text of 1 to {MAX_NAME} "
            "characters"
        )
    for code in codes:
        if names.get(code, name) != name:
            raise ProductNamesError(f"line {number}: {code} is named {names[code]!r} already")
        names[code] = name


def load_product_names(path: Path) -> Mapping[str, str]:
    """The names in the file at `path` (`ProductNamesError` when it cannot be read or used)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProductNamesError("not UTF-8 text") from None
    except OSError as error:
        raise ProductNamesError(f"cannot read it: {error.strerror or error}") from None
    return read_product_names(text)


def write_product_names(names: Mapping[str, str], path: Path) -> Path:
    """A product-names file of `names` (a header line, then one product a line)."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["product_code", "name"])
        writer.writerows(sorted(names.items()))
    return path
