"""The consoles of the command line, and its one way of failing.

Both consoles print text as it is written: they read no Rich markup and no emoji codes, so a
scan, a configuration value, a hub's message or an error can neither restyle the output nor
break it (`[/]`, `[bold red]`, `[hub.soap]` and `:pill:` are shown as they are). Styled words
are `(text, style)` pieces of a `line`, never markup in a string. Nor can what they print
steer the terminal: control characters in it are spelled out (`_PlainConsole`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

import typer
from rich.console import Console
from rich.segment import Segment
from rich.text import Text

_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if c not in (9, 10)}


class _PlainConsole(Console):
    """A console whose text cannot steer the terminal: control characters in what it prints
    (an escape sequence in a hub's message, a scan, a name) are spelled `\\x1b`; only the
    console's own styling reaches the terminal as codes."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(segment.text.translate(_CONTROLS),
                                                    segment.style, segment.control)
            for segment in buffer
        )  # fmt: skip


err = _PlainConsole(stderr=True, markup=False, emoji=False)
out = _PlainConsole(markup=False, emoji=False)


def line(*pieces: str | tuple[str, str]) -> Text:
    """One line from plain pieces and `(text, style)` pieces; nothing in them is markup."""
    return Text.assemble(*pieces)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line on stderr and return the exit to raise."""
    err.print(line(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_lines(objects: Iterable[Any]) -> None:
    """Write each object as one JSON line (`json_line`)."""
    for obj in objects:
        json_line(obj)


def json_line(obj: Any) -> None:
    """Write one JSON object as one line on stdout: UTF-8 as it is, but the characters a
    reader may take for a line break (U+0085, U+2028, U+2029) escaped, so one object stays one
    line whichever way the lines are split."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False).translate(_LINE_BREAKS) + "\n")
