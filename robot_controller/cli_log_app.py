"""The `fmd-robot log` command group."""

import typer

log_app = typer.Typer(
    help="The verification log: search, one pack's history, export, prune.", no_args_is_help=True
)
