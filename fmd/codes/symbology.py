"""AIM symbology identifiers (ISO/IEC 15424) at the start of a scan, and their damage."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from fmd.codes.model import Problem, ProblemCode
from fmd.codes.problems import problem

GS1_SYMBOLOGIES = frozenset({"]d2", "]d5", "]d8", "]Q3", "]C1", "]e0", "]J1"})
"""Symbologies whose data is a GS1 element string (FNC1 in first position; ECI/DMRE variants)."""

LINEAR_GTIN_SYMBOLOGIES = frozenset({"]E0", "]E3", "]E4", "]I0", "]I1"})
"""EAN/UPC and ITF: a plain GTIN, no serial number."""

# A letter AIM defines in the other case, as it arrives when Caps Lock is on.
_CASE_INVERTED = {"D": "d", "q": "Q", "c": "C", "j": "J"}
# ']' typed by a US-layout scanner into a German/Austrian/Swiss keyboard layout.
_LAYOUT_BRACKET = "+"


class Symbology(NamedTuple):
    """The identifier as it arrived (`found`), as it should read (`canonical`), where the data
    starts in the scan, and any damage the identifier shows."""

    found: str | None
    canonical: str | None
    start: int
    problems: tuple[Problem, ...]


def read_symbology(text: str, given: str | None) -> Symbology:
    """Take the AIM identifier off the start of `text`, else use `given` (from a decoder)."""
    found = _identify(text[:3], 3)
    if found is None and given is not None and len(given) == 3:
        found = _identify(given, 0)
    return Symbology(given, given, 0, ()) if found is None else found


@lru_cache(maxsize=512)
def _identify(head: str, start: int) -> Symbology | None:
    """`head` read as an identifier (None if it is not one), with the data starting at `start`."""
    if not _looks_like_identifier(head):
        return None
    if head[0] == "]" and head[1] not in _CASE_INVERTED:
        return Symbology(head, head, start, ())
    problems: list[Problem] = []
    if head[0] == _LAYOUT_BRACKET:
        detail = f"the symbology identifier {head!r} should start with ']'"
        problems.append(problem(ProblemCode.KEYBOARD_LAYOUT, detail=detail))
    letter = _CASE_INVERTED.get(head[1], head[1])
    canonical = "]" + letter + head[2]
    if letter != head[1]:
        detail = f"the symbology identifier {head!r} should read {canonical!r}"
        problems.append(problem(ProblemCode.CAPS_LOCK, detail=detail))
    return Symbology(head, canonical, start, tuple(problems))


def _looks_like_identifier(head: str) -> bool:
    return (
        len(head) == 3
        and head[0] in "]+"
        and head.isascii()
        and head[1].isalpha()
        and head[2].isalnum()
    )
