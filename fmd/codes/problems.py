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
    the message template (``str.format`` fields filled by `problem`), and for a problem that
    lets a scan go, what happens to it when it is sent (`when_sent`, added by `reported`)."""

    code: ProblemCode
    severity: Severity
    blocks_submit: bool
    template: str
    when_sent: str = ""


_RESCAN = "rescan the pack"
_SCANNER = "check the scanner set-up, then rescan"
_SET_ASIDE = "it cannot be verified; set the pack aside for a supervisor"
_ASKED = "The hub will be asked as scanned."

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
        + _SET_ASIDE
        + ".",
    ),
    ProblemKind(
        ProblemCode.CONFLICTING_PRODUCT_CODES,
        "error",
        True,
        "The pack carries two product codes, {first} and {second}: " + _SET_ASIDE + ".",
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
    ProblemKind(
        ProblemCode.NHRN_ONLY,
        "error",
        True,
        "The code holds only the national number {nhrn} ({key}), no product code and no serial "
        "number: it is not an FMD unique identifier; scan the DataMatrix code of the pack, or "
        "set the pack aside if that was it.",
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
    ProblemKind(
        ProblemCode.SECOND_IDENTIFIER,
        "error",
        True,
        "A second symbology identifier ({si!r}) is inside the scan, at {text!r}: the scanner "
        "sent two codes as one, or its identifier twice; " + _SCANNER + ".",
    ),
    # Invalid content: still sent to the hub, which answers with the proper code.
    ProblemKind(
        ProblemCode.GTIN_FORMAT,
        "error",
        False,
        "The GTIN {code!r} is not 14 digits.",
        _ASKED,
    ),
    ProblemKind(
        ProblemCode.GTIN_CHECK_DIGIT,
        "error",
        False,
        "The GTIN {code} has a wrong check digit (expected {expected}).",
        _ASKED,
    ),
    ProblemKind(
        ProblemCode.PPN_FORMAT,
        "error",
        False,
        "The PPN {code!r} is not 4-22 letters or digits ending in two check digits.",
        _ASKED,
    ),
    ProblemKind(
        ProblemCode.PPN_CHECK_DIGITS,
        "error",
        False,
        "The PPN {code} has wrong check digits (expected {expected}).",
        _ASKED,
    ),
    ProblemKind(
        ProblemCode.PZN_CHECK_DIGIT,
        "error",
        False,
        "The PZN {pzn} in the {where} is not a valid PZN.",
        _ASKED,
    ),
    ProblemKind(
        ProblemCode.INVALID_DATE,
        "error",
        False,
        "The expiry date {raw!r} is not a valid date (YYMMDD).",
        _ASKED,
    ),
    ProblemKind(
        ProblemCode.INVALID_LENGTH,
        "error",
        False,
        "{field} ({key}) is {length} characters long; 1 to {maximum} are allowed.",
        _ASKED,
    ),
    ProblemKind(
        ProblemCode.INVALID_CHARACTERS,
        "error",
        False,
        "{field} ({key}) contains characters that a pack code may not hold ({chars}).",
        _ASKED,
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
    # Framing around the scan, taken off (noted only).
    ProblemKind(
        ProblemCode.SURROUNDING_WHITESPACE,
        "warning",
        False,
        "Whitespace around the code was taken off ({where}): it is the framing of the scanner "
        "or keyboard (an Enter or Tab suffix, padding), not pack data.",
    ),
)


def _catalogue(kinds: Sequence[ProblemKind]) -> Mapping[ProblemCode, ProblemKind]:
    """The kinds by code, checked to hold exactly one entry for every `ProblemCode`, and no kind
    that stops a scan saying what happens when it is sent."""
    counts = Counter(kind.code for kind in kinds)
    twice = sorted(code for code, n in counts.items() if n > 1)
    missing = sorted(set(ProblemCode) - counts.keys())
    if twice or missing:
        listed = f"listed twice: {', '.join(twice) or '-'}; missing: {', '.join(missing) or '-'}"
        raise RuntimeError(f"problem catalogue: {listed}")
    contradicted = sorted(kind.code for kind in kinds if kind.blocks_submit and kind.when_sent)
    if contradicted:
        listed = ", ".join(contradicted)
        raise RuntimeError(f"problem catalogue: stops the scan, yet says when it is sent: {listed}")
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


def reported(problems: Sequence[Problem], submit: bool) -> tuple[Problem, ...]:
    """The problems as a parsed scan reports them, agreeing with `submit`: on a scan that is
    sent, each says what happens to it (its kind's `when_sent`); on one that is not, those that
    stop it come first (in their order), so the first error says what to do."""
    if submit:
        return tuple(_as_sent(p) for p in problems)
    return tuple(sorted(problems, key=_lets_go))


def _as_sent(found: Problem) -> Problem:
    note = CATALOGUE[found.code].when_sent
    return Problem(found.code, found.severity, f"{found.message} {note}") if note else found


def _lets_go(found: Problem) -> bool:
    return not CATALOGUE[found.code].blocks_submit
