"""Scanner set-up check: from a few test scans, tell whether the AIM identifier and GS arrive,
whether case or keyboard layout is altered, and what to change on the scanner.

Pure rules over scans already read; the command line does the reading and the asking.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fmd.codes import ParsedScan, ProblemCode, parse_scan
from fmd.codes.symbology import read_symbology
from scanners.base import Scan

GS = "\x1d"
SUBSTITUTE_CANDIDATES = "|~^@#$[]{}\\`"
"""Printable characters outside CSET 82 that scanners are commonly set to send for FNC1."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One aspect of the set-up: whether it is right and, when not, what to change."""

    topic: str  # aim-identifier | separator | case | layout | content
    ok: bool
    message: str
    advice: str | None = None


@dataclass(frozen=True, slots=True)
class CheckReport:
    scans: int
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return self.scans > 0 and all(f.ok for f in self.findings)


def check_scans(scans: Sequence[Scan], *, separators: str = GS) -> CheckReport:
    """Judge a scanner's set-up from test scans of genuine packs."""
    if not scans:
        return CheckReport(0, (Finding("content", False, "No scan arrived.", _NOTHING),))
    parsed = [parse_scan(s.raw, symbology=s.symbology_id, separators=separators) for s in scans]
    findings = [
        _aim_identifier(scans),
        _separator(scans, parsed, separators),
        _problem_finding(parsed, "case", _CASE_CODES, _CASE_OK, _CASE),
        _problem_finding(parsed, "layout", _LAYOUT_CODES, _LAYOUT_OK, _LAYOUT),
        _content(parsed),
    ]
    return CheckReport(len(scans), tuple(f for f in findings if f is not None))


_NOTHING = (
    "Check the cable and port, the baud rate and parity, and that the scanner is in "
    "serial/USB-COM mode (not keyboard)."
)
_AIM = (
    "Switch on the AIM symbology identifier prefix for all symbologies (Honeywell: 'AIM ID' "
    "prefix; Datalogic: code identifier = AIM standard; Zebra: 'Transmit Code ID' = AIM). "
    "Without it a GS1 code cannot be told from another DataMatrix."
)
_GS = (
    "Set the scanner to transmit FNC1 as GS (0x1D): use serial/USB-COM mode, or on a keyboard "
    "wedge switch on control-character output."
)
_CASE_CODES = (ProblemCode.CAPS_LOCK, ProblemCode.LOWERCASE_DATA)
_CASE_OK = "Letter case arrives unchanged."
_CASE = (
    "Switch Caps Lock off, or better put the scanner in serial/USB-COM mode, which is not "
    "affected by the keyboard state."
)
_LAYOUT_CODES = (ProblemCode.KEYBOARD_LAYOUT,)
_LAYOUT_OK = "No keyboard-layout change seen."
_LAYOUT = "Set the scanner's keyboard country to the host's layout, or use serial/USB-COM mode."


def _aim_identifier(scans: Sequence[Scan]) -> Finding:
    ids = Counter(s.symbology_id or _leading_identifier(s.raw) for s in scans)
    missing = ids.pop(None, 0)
    if not missing:
        shown = ", ".join(sorted(i for i in ids if i))
        return Finding("aim-identifier", True, f"The AIM identifier arrives ({shown}).")
    return Finding(
        "aim-identifier",
        False,
        f"{missing} of {len(scans)} scans arrived without an AIM identifier (such as ]d2).",
        _AIM,
    )


def _leading_identifier(raw: str) -> str | None:
    si = read_symbology(raw, None)
    return si.found if si.start else None


def _separator(
    scans: Sequence[Scan], parsed: Sequence[ParsedScan], separators: str
) -> Finding | None:
    substitute = _substitute_in_use(scans, _clean(parsed), separators)
    if substitute is not None:
        return Finding(
            "separator",
            False,
            f"The scanner sends {substitute!r} where the code has GS.",
            f"Best: transmit FNC1 as GS (0x1D). Otherwise declare {substitute!r} as the "
            f"scanner's GS substitute (gs_substitute for a keyboard scanner, or add it to "
            f"[site] separators).",
        )
    lost = sum(any(p.code == ProblemCode.MISSING_SEPARATOR for p in r.problems) for r in parsed)
    if lost:
        return Finding("separator", False, f"GS was lost in {lost} of {len(scans)} scans.", _GS)
    carried = sum(any(c in separators for c in s.raw) for s in scans)
    if carried:
        return Finding("separator", True, f"GS arrives ({carried} of {len(scans)} scans held one).")
    return Finding(
        "separator",
        True,
        "These codes need no separator, so GS could not be checked: scan a pack whose batch "
        "or serial is followed by another field.",
    )


def _substitute_in_use(scans: Sequence[Scan], clean_now: int, separators: str) -> str | None:
    """A non-CSET-82 character that, read as a separator too, makes more of the scans clean
    codes than the `clean_now` that are clean without it."""
    seen = Counter(c for s in scans for c in set(s.raw) if c in SUBSTITUTE_CANDIDATES)
    for candidate, _ in seen.most_common():
        if candidate in separators:
            continue
        with_it = separators + candidate
        reparsed = (parse_scan(s.raw, symbology=s.symbology_id, separators=with_it) for s in scans)
        if _clean(reparsed) > clean_now:
            return candidate
    return None


def _clean(parsed: Iterable[ParsedScan]) -> int:
    """How many scans are pack codes fit to send."""
    return sum(bool(r.ui) and r.submit for r in parsed)


def _problem_finding(
    parsed: Sequence[ParsedScan], topic: str, codes: tuple[ProblemCode, ...], fine: str, advice: str
) -> Finding:
    hits = [p for r in parsed for p in r.problems if p.code in codes]
    if not hits:
        return Finding(topic, True, fine)
    return Finding(topic, False, hits[0].message, advice)


def _content(parsed: Sequence[ParsedScan]) -> Finding | None:
    unreadable = [r for r in parsed if r.ui is None]
    if not unreadable:
        return Finding("content", True, f"All {len(parsed)} scans are pack identifiers.")
    first = next((p.message for p in unreadable[0].problems), "not a pack identifier")
    return Finding(
        "content",
        False,
        f"{len(unreadable)} of {len(parsed)} scans are not pack identifiers: {first}",
        "Scan the DataMatrix code of a genuine pack; if every scan fails, check baud rate, "
        "parity and suffix.",
    )
