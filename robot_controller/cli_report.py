"""`fmd-robot report`: a period's summary or its alert register, as CSV or PDF. It opens the
store read-only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from robot_controller.cli_common import ConfigOption
from robot_controller.cli_log import period, reading, writing
from robot_controller.console import fail, out
from robot_controller.pipeline import utc_now
from robot_controller.reports.make import Format, ReportKind, make_report
from robot_controller.store import Store


def report(
    since: Annotated[
        str, typer.Option("--from", help="From this date (YYYY-MM-DD) or date and time, UTC.")
    ],
    until: Annotated[
        str,
        typer.Option(
            "--to", help="To this date (included, whole day) or date and time (excluded)."
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The file to write.")],
    fmt: Annotated[
        Format | None,
        typer.Option("--format", help="csv or pdf (default: from the file's suffix)."),
    ] = None,
    kind: Annotated[
        ReportKind,
        typer.Option(help="summary (figures, charts; per-pack rows in CSV) or alerts (register)."),
    ] = ReportKind.SUMMARY,
    config: ConfigOption = None,
) -> None:
    """Write a period's report: the summary (packs scanned, verified, decommissioned by reason,
    routes by reason, alerts by code and closing cause, hub availability and latency
    percentiles, robot faults, open undo deadlines; PDF with charts per day; CSV with one row
    per pack), or the alert register (each alert with its transitions).

    Exit 0 when written, 1 when the period holds nothing to report (no file is written), 2 on
    usage errors.
    """
    span = period(since, until)
    if fmt is None:
        try:
            fmt = Format(out_file.suffix.lower().lstrip("."))
        except ValueError:
            raise fail(f"--format csv or pdf: {out_file.name} says neither") from None
    start, end = span.since, span.until
    if start is None or end is None:  # both options are required
        raise fail("give --from and --to")

    def make(store: Store) -> None:
        with writing(out_file):
            make_report(store, kind, fmt, out_file, since=start, until=end, now=utc_now())

    reading(config, make)
    out.print(Text(f"{kind} report ({fmt}) written to {out_file}"))
