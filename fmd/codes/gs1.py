"""Splitting a GS1 element string into its AIs and data (no meaning, no checks)."""

from __future__ import annotations

from typing import NamedTuple

from fmd.codes.ai import AI_LENGTH_BY_PREFIX, AI_TABLE, TWO_DIGIT_AIS, AISpec
from fmd.codes.keys import label
from fmd.codes.model import Element, Problem, ProblemCode
from fmd.codes.problems import problem

GS = "\x1d"


class Split(NamedTuple):
    """The elements found in scan order; `stop` is where reading ended (the end of the text when
    `error` is None)."""

    elements: list[Element]
    stop: int
    error: Problem | None


def split_element_string(text: str) -> Split:
    """Read `text` as GS1 element strings separated by GS (repeated GS allowed).

    A predefined-length AI takes exactly its length; any other AI takes the data up to the next
    GS or the end. Reading stops at the first unknown AI or a cut-short predefined field.
    """
    size = len(text)
    elements: list[Element] = []
    two_digit, find = TWO_DIGIT_AIS.get, text.find
    pos = 0
    while pos < size:
        prefix = text[pos : pos + 2]
        spec = two_digit(prefix)
        if spec is None:
            if prefix[0] == GS:
                pos += 1
                continue
            width = AI_LENGTH_BY_PREFIX.get(prefix, 0)
            spec = AI_TABLE.get(text[pos : pos + width]) if width else None
            if spec is None:
                return Split(
                    elements, pos, problem(ProblemCode.UNKNOWN_AI, text=text[pos : pos + 8])
                )
        data = pos + len(spec.ai)
        if spec.predefined:
            after = data + spec.max_length
            value = text[data:after]
            if len(value) < spec.max_length or GS in value:
                return Split(elements, pos, _truncated(spec, value))
        else:
            after = find(GS, data)
            if after < 0:
                after = size
            value = text[data:after]
        elements.append(Element(spec.ai, value))
        pos = after
    return Split(elements, size, None)


def _truncated(spec: AISpec, value: str) -> Problem:
    field, key = label(spec.ai)
    actual = len(value.partition(GS)[0])
    return problem(
        ProblemCode.TRUNCATED, field=field, key=key, expected=spec.max_length, actual=actual
    )
