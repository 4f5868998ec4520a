"""The consoles of the command line, and its one way of failing."""

from __future__ import annotations

import typer
from rich.console import Console

err = Console(stderr=True)
out = Console()


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one error line on stderr and return the exit to raise."""
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)
