"""`fmd-robot log search | pack | export`: finding packs in the log, one pack's history, and
the audit events as CSV. Each opens the store read-only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from fmd.policy import Why
from robot_controller.cli_common import ConfigOption, settings_of
from robot_controller.config import ConfigError
from robot_controller.console import fail, json_lines, out
from robot_controller.reports.files import NothingToReport
from robot_controller.reports.make import export_audit
from robot_controller.reports.period import BadPeriod, Period, period_of
from robot_controller.states import Route
from robot_controller.store import Store, StoreError
from robot_controller.store.history import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Happening,
    Kind,
    PackFilter,
    PackRow,
    pack_history,
    search,
    shown,
)
from robot_controller.wiring import open_store

T = TypeVar("T")

FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help="From this date (YYYY-MM-DD, its first instant) or date and time, UTC."
    ),
]
ToOption = Annotated[
    str | None,
    typer.Option("--to", help="To this date (included, whole day) or date and time (excluded)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")]


def period(since: str | None, until: str | None) -> Period:
    """The period the options name; a usage error (exit 2) when they cannot be read."""
    try:
        return period_of(since, until)
    except BadPeriod as error:
        raise fail(str(error)) from None


def reading(config: Path | None, read: Callable[[Store], T]) -> T:
    """What `read` finds in the configured store, opened read-only; a store that is not there
    is exit 2, one that fails while read exit 1."""
    settings = settings_of(config)
    try:
        store = open_store(settings.store.url, read_only=True)
    except (ConfigError, StoreError) as error:
        raise fail(str(error)) from None
    try:
        return read(store)
    except StoreError as error:
        raise fail(str(error), code=1) from None
    finally:
        store.close()


def log_search(
    serial: Annotated[str | None, typer.Option(help="The pack's serial number.")] = None,
    product: Annotated[str | None, typer.Option(help="The product code (GTIN, PPN…).")] = None,
    batch: Annotated[str | None, typer.Option(help="The batch (lot).")] = None,
    since: FromOption = None,
    until: ToOption = None,
    route: Annotated[Route | None, typer.Option(help="Where the pack ended up.")] = None,
    why: Annotated[Why | None, typer.Option(help="Why it went there (a reason code).")] = None,
    return_code: Annotated[
        str | None, typer.Option(help="A return code any of the pack's hub calls got.")
    ] = None,
    actor: Annotated[
        str | None, typer.Option(help="Someone (or `daemon`) with an event on the pack.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_LIMIT, help="At most this many packs, newest first.")
    ] = DEFAULT_LIMIT,
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Find packs in the log: one row per scanned pack (token), newest first, with its
    identifier, route and why, its last return code and whether it is flagged. Every filter
    given must match; --from/--to bound when the scan was recorded.

    Exit 0 when packs match, 1 when none do, 2 on usage errors.
    """
    span = period(since, until)
    wanted = PackFilter(
        product_code=product,
        serial=serial,
        batch=batch,
        since=span.since,
        until=span.until,
        route=route.value if route else None,
        why=why.value if why else None,
        return_code=return_code,
        actor=actor,
    )

    def find(store: Store) -> list[PackRow]:
        with store.reading() as conn:
            return search(conn, wanted, limit=limit)

    rows = reading(config, find)
    if not rows:
        raise fail("no pack in the log matches", code=1)
    if as_json:
        json_lines(row.as_json() for row in rows)
        return
    table = Table(title=f"{len(rows)} pack(s), newest first", title_justify="left")
    for column in ("token", "recorded (UTC)", "product code", "serial", "batch", "expiry",
                   "route (why)", "last code"):  # fmt: skip
        table.add_column(column, overflow="fold")
    for row in rows:
        shown = f"{row.route} ({row.why})" if row.route else "unfinished"
        table.add_row(*(Text(value) for value in (
            str(row.token), f"{row.recorded_at:%Y-%m-%d %H:%M:%S}", row.product_code or "—",
            row.serial or "—", row.batch or "—", row.expiry or "—",
            shown + (", flagged" if row.flagged else ""), row.return_code or "—")))  # fmt: skip
    out.print(table)
    if len(rows) == limit:
        out.print(Text(f"more may match: raise --limit (at most {MAX_LIMIT}) or narrow the search"))


def log_pack(
    product: Annotated[str, typer.Argument(help="The product code (GTIN, PPN…).")],
    serial: Annotated[str, typer.Argument(help="The serial number.")],
    as_json: JsonOption = False,
    config: ConfigOption = None,
) -> None:
    """Everything that happened to one pack, in time order, over every time it was scanned:
    scans, parse problems, decisions, hub calls (return codes, latencies), outbox intents and
    pack actions (who, why), robot jobs, routes and flags, alerts and their transitions, and
    the audit events.

    Exit 0 when the log knows the pack, 1 when it does not, 2 on usage errors.
    """

    def history(store: Store) -> list[Happening]:
        with store.reading() as conn:
            return pack_history(conn, product, serial)

    happenings = reading(config, history)
    if not happenings:
        raise fail(f"the log holds no pack {product} / {serial}", code=1)
    if as_json:
        json_lines(shown(h) for h in happenings)
        return
    tokens = sorted({h.token for h in happenings})
    table = Table(
        title=f"{product} / {serial}: token(s) {', '.join(map(str, tokens))}",
        title_justify="left",
    )
    for column in ("at (UTC)", "token", "kind", "what"):
        table.add_column(column, overflow="fold")
    for happening in happenings:
        what = happening.what
        if happening.kind is Kind.SCAN:
            what += ": " + shown(happening)["raw"]
        table.add_row(
            Text(f"{happening.at:%Y-%m-%d %H:%M:%S.%f}"[:-3]),
            Text(str(happening.token)),
            Text(happening.kind.value),
            Text(what),
        )
    out.print(table)


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """A report's failures as one line: nothing to report is exit 1, a file that cannot be
    written exit 2."""
    try:
        yield
    except NothingToReport as error:
        raise fail(str(error), code=1) from None
    except OSError as error:
        raise fail(f"cannot write {path}: {error.strerror or error}") from None


def log_export(
    out_file: Annotated[Path, typer.Option("--out", help="The CSV file to write.")],
    since: FromOption = None,
    until: ToOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the audit events (whole log without --from/--to) to a CSV file in chain order,
    streamed: memory does not grow with the number of events.

    Exit 0 when written, 1 when the period holds no event (no file is written), 2 on usage
    errors.
    """
    span = period(since, until)

    def export(store: Store) -> int:
        with writing(out_file):
            return export_audit(store, out_file, since=span.since, until=span.until)

    count = reading(config, export)
    out.print(Text(f"{count} audit event(s) written to {out_file}"))
