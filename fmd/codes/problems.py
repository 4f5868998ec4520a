"""The catalogue of scan problems: stable codes, severities and operator messages."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from fmd.codes.model import Problem, ProblemCode, Severity


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """What a problem code means: its severity, whether it stops the scan being sent to the hub,
    and the message template (``str.format`` fields filled by `problem`)."""

    code: ProblemCode
    severity: Severity
    blocks_submit: bool
    template: str


_RESCAN = "rescan the pack"
_SCANNER = "check the scanner set-up, then rescan"

_KINDS = (
    # The scan as a whole cannot be read.
    ProblemKind(ProblemCode.EMPTY, "error", True, "Nothing was scanned: " + _RESCAN + "."),
    ProblemKind(
        ProblemCode.TOO_LONG,
        "error",
        True,
        "The scan is {length} characters long, far more than a pack code: the scanner sent "
        "several codes or garbage; " + _SCANNER + ".",
    ),
    ProblemKind(
        ProblemCode.UNKNOWN_FORMAT,
        "error",
        True,
        "This is not a pack identifier ({detail}): scan the DataMatrix code of the pack.",
    ),
    ProblemKind(
        ProblemCode.UNKNOWN_AI,
        "error",
        True,
        "Unknown GS1 AI or data identifier at {text!r}: the scan is damaged or not a pack "
        "code; " + _RESCAN + ".",
    ),
    ProblemKind(
        ProblemCode.TRUNCATED,
        "error",
        True,
        "{field} ({key}) should have {expected} digits but has {actual}: the scan is cut "
        "short; " + _RESCAN + ".",
    ),
    ProblemKind(
        ProblemCode.TRAILING_DATA,
        "error",
        True,
        "Unexpected data after the end of the code ({text!r}): " + _SCANNER + ".",
    ),
    ProblemKind(
        ProblemCode.CONFLICTING_VALUES,
        "error",
        True,
        "The code holds two different values for the {field} ({first} and {second}): "
        "it cannot be verified; set the pack aside for a supervisor.",
    ),
    ProblemKind(
        ProblemCode.INTERNAL_ERROR,
        "error",
        True,
        "The scan could not be analysed because of a fault in this software ({detail}): "
        "set the pack aside and report the fault.",
    ),
    # The UI is incomplete.
    ProblemKind(
        ProblemCode.MISSING_PRODUCT_CODE,
        "error",
        True,
        "The code has no product code (GTIN or PPN): " + _RESCAN + ".",
    ),
    ProblemKind(
        ProblemCode.MISSING_SERIAL, "error", True, "The code has no serial number: " + _RESCAN + "."
    ),
    ProblemKind(
        ProblemCode.MISSING_BATCH, "error", True, "The code has no batch number: " + _RESCAN + "."
    ),
    ProblemKind(
        ProblemCode.MISSING_EXPIRY, "error", True, "The code has no expiry date: " + _RESCAN + "."
    ),
    ProblemKind(
        ProblemCode.NOT_SERIALISED,
        "warning",
        True,
        "The code holds only the product code {code}, no serial number: the pack carries no "
        "FMD unique identifier.",
    ),
    # Damage from the scanner or its set-up (never repaired).
    ProblemKind(
        ProblemCode.MISSING_SEPARATOR,
        "error",
        True,
        "{field} ({key}) has no GS separator after it and swallowed the data that follows "
        "({text!r}): set the scanner to send FNC1 as GS (0x1D), then rescan.",
    ),
    ProblemKind(
        ProblemCode.CAPS_LOCK,
        "error",
        True,
        "Letters arrived with their case swapped ({detail}): Caps Lock is on or the scanner is "
        "a keyboard wedge; switch Caps Lock off (better: use the scanner's serial/USB-COM "
        "mode), then rescan.",
    ),
    ProblemKind(
        ProblemCode.KEYBOARD_LAYOUT,
        "error",
        True,
        "Characters were changed by a keyboard layout ({detail}): the scanner types for a US "
        "keyboard into another layout (Y/Z and symbols swapped); set the scanner's keyboard "
        "country or use its serial/USB-COM mode, then rescan.",
    ),
    ProblemKind(
        ProblemCode.EAN_APPENDED,
        "error",
        True,
        "An EAN-13 barcode ({ean}) was appended to the code: the scanner sends several codes "
        "at once; switch that mode off and rescan only the DataMatrix code.",
    ),
    # Invalid content: still sent to the hub, which answers with the proper code.
    ProblemKind(
        ProblemCode.GTIN_FORMAT,
        "error",
        False,
        "The GTIN {code!r} is not 14 digits: the hub will be asked as scanned.",
    ),
    ProblemKind(
        ProblemCode.GTIN_CHECK_DIGIT,
        "error",
        False,
        "The GTIN {code} has a wrong check digit (expected {expected}): the hub will be asked "
        "as scanned.",
    ),
    ProblemKind(
        ProblemCode.PPN_FORMAT,
        "error",
        False,
        "The PPN {code!r} is not 4-22 letters or digits ending in two check digits: the hub "
        "will be asked as scanned.",
    ),
    ProblemKind(
        ProblemCode.PPN_CHECK_DIGITS,
        "error",
        False,
        "The PPN {code} has wrong check digits (expected {expected}): the hub will be asked "
        "as scanned.",
    ),
    ProblemKind(
        ProblemCode.PZN_CHECK_DIGIT,
        "error",
        False,
        "The PZN {pzn} in the {where} is not a valid PZN: the hub will be asked as scanned.",
    ),
    ProblemKind(
        ProblemCode.INVALID_DATE,
        "error",
        False,
        "The expiry date {raw!r} is not a valid date (YYMMDD): the hub will be asked as scanned.",
    ),
    ProblemKind(
        ProblemCode.INVALID_LENGTH,
        "error",
        False,
        "{field} ({key}) is {length} characters long; 1 to {maximum} are allowed: the hub will "
        "be asked as scanned.",
    ),
    ProblemKind(
        ProblemCode.INVALID_CHARACTERS,
        "error",
        False,
        "{field} ({key}) contains characters that a pack code may not hold ({chars}): the hub "
        "will be asked as scanned.",
    ),
    # Doubtful but acceptable.
    ProblemKind(
        ProblemCode.DAY_00,
        "warning",
        False,
        "The expiry date {raw} gives no day (00): the last day of the month is assumed.",
    ),
    ProblemKind(
        ProblemCode.INVALID_PRODUCTION_DATE,
        "warning",
        False,
        "The production date {raw!r} ({key}) is not a valid date.",
    ),
    ProblemKind(
        ProblemCode.IGNORED_AI,
        "warning",
        False,
        "{key} is not part of the pack identifier and was ignored.",
    ),
    ProblemKind(
        ProblemCode.DIGITAL_LINK,
        "warning",
        False,
        "The code is a GS1 Digital Link (web address), not the GS1 element string EU packs "
        "carry: check that the pack is genuine.",
    ),
    ProblemKind(
        ProblemCode.LOWERCASE_DATA,
        "warning",
        False,
        "Serial and batch are all lower case: if the pack shows capitals, Caps Lock is on.",
    ),
)


def _catalogue(kinds: Sequence[ProblemKind]) -> Mapping[ProblemCode, ProblemKind]:
    """The kinds by code, checked to hold exactly one entry for every `ProblemCode`."""
    counts = Counter(kind.code for kind in kinds)
    twice = sorted(code for code, n in counts.items() if n > 1)
    missing = sorted(set(ProblemCode) - counts.keys())
    if twice or missing:
        listed = f"listed twice: {', '.join(twice) or '-'}; missing: {', '.join(missing) or '-'}"
        raise RuntimeError(f"problem catalogue: {listed}")
    return MappingProxyType({kind.code: kind for kind in kinds})


CATALOGUE: Final = _catalogue(_KINDS)
"""Every problem code's kind (read-only; checked at import to cover `ProblemCode` once each)."""


def problem(code: ProblemCode, /, **details: object) -> Problem:
    """The `Problem` for a catalogue code, its message filled with `details`."""
    kind = CATALOGUE[code]
    return Problem(code, kind.severity, kind.template.format(**details))


def blocks_submit(problems: Iterable[Problem]) -> bool:
    """True when any of the problems means the scan must not be sent to the hub."""
    return any(CATALOGUE[p.code].blocks_submit for p in problems)
