"""ISO/IEC 15434 envelopes: format 06 (ASC data identifiers, IFA/securPharm) and format 05
(GS1 AIs), alone or mixed in one symbol."""

from __future__ import annotations

import re
from typing import NamedTuple

from fmd.codes.gs1 import GS, split_element_string
from fmd.codes.keys import ROLES
from fmd.codes.model import Element, Problem, ProblemCode
from fmd.codes.problems import problem

RS = "\x1e"
EOT = "\x04"
HEADER = "[)>" + RS
LAYOUT_HEADERS = ("ü=:", "Ü=:")
"""'[)>' as typed by a US-layout scanner into a German keyboard layout."""

_DATA_IDENTIFIER = re.compile(r"[0-9]{0,3}[A-Za-z]")


class Envelope(NamedTuple):
    """The elements of all segments in scan order; `gs1` is True when the first segment holds
    GS1 AIs (format 05); `trailing` is what follows the end of transmission; `damage` holds
    Caps Lock signs, `problems` what could not be read."""

    elements: list[Element]
    gs1: bool
    trailing: str
    damage: list[Problem]
    problems: list[Problem]


def split_envelope(text: str) -> Envelope:
    """Read `text` after its ``[)>`` + RS header: segments ``05``/``06`` + GS + fields, each
    ended by RS, the whole ended by EOT (a missing RS/EOT at the very end is accepted)."""
    elements: list[Element] = []
    problems: list[Problem] = []
    inverted: list[str] = []
    body, _, trailing = text.partition(EOT)
    segments = [s for s in body.split(RS) if s]
    for segment in segments:
        kind, separator, data = segment[:2], segment[2:3], segment[3:]
        if separator != GS or kind not in ("05", "06"):
            detail = f"ISO/IEC 15434 format {kind!r} is not a pack code format"
            problems.append(problem(ProblemCode.UNKNOWN_FORMAT, detail=detail))
            break
        if kind == "05":
            found, _, error = split_element_string(data)
        else:
            found, error = _split_asc(data, inverted)
        elements += found
        if error is not None:
            problems.append(error)
            break
    gs1 = bool(segments) and segments[0].startswith("05")
    damage = []
    if inverted:
        detail = "data identifiers " + ", ".join(inverted) + " should be upper case"
        damage.append(problem(ProblemCode.CAPS_LOCK, detail=detail))
    return Envelope(elements, gs1, trailing, damage, problems)


def _split_asc(data: str, inverted: list[str]) -> tuple[list[Element], Problem | None]:
    """Fields ``<data identifier><value>`` separated by GS; known identifiers that arrived in
    lower case (Caps Lock) are added to `inverted`."""
    elements: list[Element] = []
    for field in data.split(GS):
        if not field:
            continue
        match = _DATA_IDENTIFIER.match(field)
        if match is None:
            return elements, problem(ProblemCode.UNKNOWN_AI, text=field[:8])
        key = match.group()
        elements.append(Element(key, field[match.end() :]))
        if not key.isupper() and key.upper() in ROLES:
            inverted.append(key)
    return elements, None
