"""The catalogue of scan problems: stable codes, severities and operator messages."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fmd.codes.model import Problem, Severity


@dataclass(frozen=True, slots=True)
class ProblemKind:
    """What a problem code means: its severity, whether it stops the scan being sent to the hub,
    and the message template (``str.format`` fields filled by `problem`)."""

    severity: Severity
    blocks_submit: bool
    template: str


_RESCAN = "rescan the pack"
_SCANNER = "check the scanner set-up, then rescan"

CATALOGUE: dict[str, ProblemKind] = {
    # The scan as a whole cannot be read.
    "empty": ProblemKind("error", True, "Nothing was scanned: " + _RESCAN + "."),
    "too-long": ProblemKind(
        "error",
        True,
        "The scan is {length} characters long, far more than a pack code: the scanner sent "
        "several codes or garbage; " + _SCANNER + ".",
    ),
    "unknown-format": ProblemKind(
        "error",
        True,
        "This is not a pack identifier ({detail}): scan the DataMatrix code of the pack.",
    ),
    "unknown-ai": ProblemKind(
        "error",
        True,
        "Unknown GS1 AI or data identifier at {text!r}: the scan is damaged or not a pack "
        "code; " + _RESCAN + ".",
    ),
    "truncated": ProblemKind(
        "error",
        True,
        "{field} ({key}) should have {expected} digits but has {actual}: the scan is cut "
        "short; " + _RESCAN + ".",
    ),
    "trailing-data": ProblemKind(
        "error",
        True,
        "Unexpected data after the end of the code ({text!r}): " + _SCANNER + ".",
    ),
    "conflicting-values": ProblemKind(
        "error",
        True,
        "The code holds two different values for the {field} ({first} and {second}): "
        "it cannot be verified; set the pack aside for a supervisor.",
    ),
    "internal-error": ProblemKind(
        "error",
        True,
        "The scan could not be analysed because of a fault in this software ({detail}): "
        "set the pack aside and report the fault.",
    ),
    # The UI is incomplete.
    "missing-product-code": ProblemKind(
        "error", True, "The code has no product code (GTIN or PPN): " + _RESCAN + "."
    ),
    "missing-serial": ProblemKind("error", True, "The code has no serial number: " + _RESCAN + "."),
    "missing-batch": ProblemKind("error", True, "The code has no batch number: " + _RESCAN + "."),
    "missing-expiry": ProblemKind("error", True, "The code has no expiry date: " + _RESCAN + "."),
    "not-serialised": ProblemKind(
        "warning",
        True,
        "The code holds only the product code {code}, no serial number: the pack carries no "
        "FMD unique identifier.",
    ),
    # Damage from the scanner or its set-up (never repaired).
    "missing-separator": ProblemKind(
        "error",
        True,
        "{field} ({key}) has no GS separator after it and swallowed the data that follows "
        "({text!r}): set the scanner to send FNC1 as GS (0x1D), then rescan.",
    ),
    "caps-lock": ProblemKind(
        "error",
        True,
        "Letters arrived with their case swapped ({detail}): Caps Lock is on or the scanner is "
        "a keyboard wedge; switch Caps Lock off (better: use the scanner's serial/USB-COM "
        "mode), then rescan.",
    ),
    "keyboard-layout": ProblemKind(
        "error",
        True,
        "Characters were changed by a keyboard layout ({detail}): the scanner types for a US "
        "keyboard into another layout (Y/Z and symbols swapped); set the scanner's keyboard "
        "country or use its serial/USB-COM mode, then rescan.",
    ),
    "ean-appended": ProblemKind(
        "error",
        True,
        "An EAN-13 barcode ({ean}) was appended to the code: the scanner sends several codes "
        "at once; switch that mode off and rescan only the DataMatrix code.",
    ),
    # Invalid content: still sent to the hub, which answers with the proper code.
    "gtin-format": ProblemKind(
        "error", False, "The GTIN {code!r} is not 14 digits: the hub will be asked as scanned."
    ),
    "gtin-check-digit": ProblemKind(
        "error",
        False,
        "The GTIN {code} has a wrong check digit (expected {expected}): the hub will be asked "
        "as scanned.",
    ),
    "ppn-format": ProblemKind(
        "error",
        False,
        "The PPN {code!r} is not 4-22 letters or digits ending in two check digits: the hub "
        "will be asked as scanned.",
    ),
    "ppn-check-digits": ProblemKind(
        "error",
        False,
        "The PPN {code} has wrong check digits (expected {expected}): the hub will be asked "
        "as scanned.",
    ),
    "pzn-check-digit": ProblemKind(
        "error",
        False,
        "The PZN {pzn} in the {where} is not a valid PZN: the hub will be asked as scanned.",
    ),
    "invalid-date": ProblemKind(
        "error",
        False,
        "The expiry date {raw!r} is not a valid date (YYMMDD): the hub will be asked as scanned.",
    ),
    "invalid-length": ProblemKind(
        "error",
        False,
        "{field} ({key}) is {length} characters long; 1 to {maximum} are allowed: the hub will "
        "be asked as scanned.",
    ),
    "invalid-characters": ProblemKind(
        "error",
        False,
        "{field} ({key}) contains characters that a pack code may not hold ({chars}): the hub "
        "will be asked as scanned.",
    ),
    # Doubtful but acceptable.
    "day-00": ProblemKind(
        "warning",
        False,
        "The expiry date {raw} gives no day (00): the last day of the month is assumed.",
    ),
    "invalid-production-date": ProblemKind(
        "warning", False, "The production date {raw!r} ({key}) is not a valid date."
    ),
    "ignored-ai": ProblemKind(
        "warning", False, "{key} is not part of the pack identifier and was ignored."
    ),
    "digital-link": ProblemKind(
        "warning",
        False,
        "The code is a GS1 Digital Link (web address), not the GS1 element string EU packs "
        "carry: check that the pack is genuine.",
    ),
    "lowercase-data": ProblemKind(
        "warning",
        False,
        "Serial and batch are all lower case: if the pack shows capitals, Caps Lock is on.",
    ),
}


def problem(code: str, /, **details: object) -> Problem:
    """The `Problem` for a catalogue code, its message filled with `details`."""
    kind = CATALOGUE[code]
    return Problem(code, kind.severity, kind.template.format(**details))


def blocks_submit(problems: Iterable[Problem]) -> bool:
    """True when any of the problems means the scan must not be sent to the hub."""
    return any(CATALOGUE[p.code].blocks_submit for p in problems)
