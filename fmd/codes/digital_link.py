"""GS1 Digital Link URIs (uncompressed): ``https://host[/prefix]/01/<gtin>[/10/<lot>][/21/<serial>]
?17=<YYMMDD>&…``."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import unquote

from fmd.codes.ai import AI_TABLE
from fmd.codes.checks import is_digits
from fmd.codes.model import Element, Problem, ProblemCode
from fmd.codes.problems import problem

_SHORT_GTIN_LENGTHS = (8, 12, 13)


class DigitalLink(NamedTuple):
    """The AIs of the path, then of the query, in the order they appear."""

    elements: list[Element]
    error: Problem | None


def is_digital_link(text: str) -> bool:
    """True when `text` starts with ``http://`` or ``https://`` (any case)."""
    head = text[:8].lower()
    return head.startswith(("http://", "https://"))


def split_digital_link(text: str) -> DigitalLink:
    """Read the primary key 01 and its qualifiers from the path, and AIs from the query.

    A GTIN-8/12/13 is padded to 14 digits; other query parameters are not AIs and are skipped.
    """
    address = text.partition("://")[2].partition("#")[0]
    path, _, query = address.partition("?")
    parts = path.split("/")
    start = next((i for i in range(1, len(parts) - 1) if parts[i] == "01"), None)
    if start is None:
        detail = "a web address without a GS1 GTIN path (/01/…)"
        return DigitalLink([], problem(ProblemCode.UNKNOWN_FORMAT, detail=detail))
    elements: list[Element] = []
    for i in range(start, len(parts) - 1, 2):
        key, value = parts[i], unquote(parts[i + 1], errors="replace")
        if key not in AI_TABLE:
            return DigitalLink(elements, problem(ProblemCode.UNKNOWN_AI, text=key[:8]))
        if key == "01" and len(value) in _SHORT_GTIN_LENGTHS and is_digits(value):
            value = value.zfill(14)
        elements.append(Element(key, value))
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key in AI_TABLE:
            elements.append(Element(key, unquote(value, errors="replace")))
    return DigitalLink(elements, None)
