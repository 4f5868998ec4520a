"""The consoles of the command line, and its one way of failing.

Both consoles print text as it is written: they read no Rich markup and no emoji codes, so a
scan, a configuration value, a hub's message or an error can neither restyle the output nor
break it (`[/]`, `[bold red]`, `[hub.soap]` and `:pill:` are shown as they are). Styled words
are `(text, style)` pieces of a `line`, never markup in a string.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

err = Console(stderr=True, markup=False, emoji=False)
out = Console(markup=False, emoji=False)


def line(*pieces: str | tuple[str, str]) -> Text:
    """One line from plain pieces and `(text, style)` pieces; nothing in them is markup."""
    return Text.assemble(*pieces)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line on stderr and return the exit to raise."""
    err.print(line(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
    return typer.Exit(code)


_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def json_line(obj: Any) -> None:
    """Write one JSON object as one line on stdout: UTF-8 as it is, but the characters a
    reader may take for a line break (U+0085, U+2028, U+2029) escaped, so one object stays one
    line whichever way the lines are split."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False).translate(_LINE_BREAKS) + "\n")
