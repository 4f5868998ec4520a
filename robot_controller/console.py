"""The consoles of the command line, and its one way of failing.

Both consoles print text as it is written: they read no Rich markup and no emoji codes, so a
scan, a configuration value, a hub's message or an error can neither restyle the output nor
break it (`[/]`, `[bold red]`, `[hub.soap]` and `:pill:` are shown as they are). Styled words
are `(text, style)` pieces of a `line`, never markup in a string.
"""

from __future__ import annotations

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
