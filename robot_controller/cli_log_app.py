"""The `fmd-robot log` command group, shared by the modules that add to it (`cli_audit`'s
`log prune`, `cli_log`'s search and history)."""

from __future__ import annotations

import typer

log_app = typer.Typer(
    help="The verification log: search, history, retention.", no_args_is_help=True
)
