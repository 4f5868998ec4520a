"""The `fmd-robot log` command group, shared by the modules that add to it (`cli_audit`'s
`log prune`, `cli_log`'s search, history and export)."""

from __future__ import annotations

import typer

log_app = typer.Typer(
    help="The verification log: search, one pack's history, export, prune.", no_args_is_help=True
)
