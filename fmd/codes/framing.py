"""Whitespace around a scan: the framing of a scanner or keyboard (an Enter or Tab suffix,
padding spaces), never pack data. No pack code holds whitespace (GS1 CSET 82, IFA), so it is
taken off the ends and noted; whitespace inside the code is left for the checks to report."""

from __future__ import annotations

from functools import lru_cache
from itertools import groupby
from typing import NamedTuple

from fmd.codes.model import Problem, ProblemCode
from fmd.codes.problems import problem

WHITESPACE = " \t\r\n"
"""What a scanner or keyboard frames a scan with."""

_NAMES = {" ": "space", "\t": "Tab", "\r": "CR", "\n": "LF"}


class Unframed(NamedTuple):
    """The scan without the whitespace around it; `note` says what was taken off (None: nothing)."""

    text: str
    note: Problem | None


def unframe(raw: str, separators: str) -> Unframed:
    """Take whitespace off both ends of `raw`, except characters used as `separators`."""
    chars = _framing(separators)
    text = raw.strip(chars)
    if len(text) == len(raw):
        return Unframed(raw, None)
    start = len(raw) - len(raw.lstrip(chars))
    return Unframed(text, _note(raw[:start], raw[start + len(text) :]))


@lru_cache(maxsize=64)
def _note(before: str, after: str) -> Problem:
    """The note for whitespace `before` and `after` the code (a scanner frames every scan alike,
    so the few there are recur)."""
    where = "; ".join(
        f"{_spell(part)} {side}" for part, side in ((before, "before"), (after, "after")) if part
    )
    return problem(ProblemCode.SURROUNDING_WHITESPACE, where=where)


def _spell(chars: str) -> str:
    """``'  \\r\\n'`` → ``2 spaces, CR, LF``."""
    runs = ((_NAMES[c], len(list(run))) for c, run in groupby(chars))
    return ", ".join(name if n == 1 else f"{n} {name}s" for name, n in runs)


@lru_cache(maxsize=16)
def _framing(separators: str) -> str:
    return "".join(c for c in WHITESPACE if c not in separators)
