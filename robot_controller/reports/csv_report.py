"""The CSV printouts, written row by row as the store streams them (memory does not grow with
the number of rows).

A report file is blocks of rows, each block a header row and its rows, one empty row between
blocks: the report's title block (`report`, `from`, `to`, `generated`, the audit chain's head
and last signed checkpoint), then for the summary
its figures (`section,name,value`), the open undo deadlines and one row per pack; for the alert
register one row per alert and transition; for a log search (the screens' download) its filters
and its packs. Text in a report that a spreadsheet would run as a
formula (`=`, `+`, `-`, `@` first) is written with a leading `'`. The audit export is one block,
the events exactly as stored (their hashes can be recomputed from it): no title, no quoting.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from robot_controller.reports.figures import figures
from robot_controller.store.checkpoints import CheckpointRow
from robot_controller.store.history import PackRow
from robot_controller.store.reports import Summary, UndoDeadline

PACK_COLUMNS = ("token", "recorded_at", "source", "product_code", "serial", "batch", "expiry",
                "route", "why", "flagged", "return_code")  # fmt: skip
UNDO_COLUMNS = ("token", "product_code", "serial", "reason", "decommissioned_at", "deadline",
                "route", "flagged")  # fmt: skip


def _exact(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return _exact(value)


@dataclass(frozen=True, slots=True)
class Heading:
    """The title block of a report file: which report, its period, when it was made, and the
    audit chain as it stood (its head, its last signed checkpoint) so that `fmd-robot audit
    verify` can later prove the log the report was made from."""

    kind: str
    since: datetime
    until: datetime
    generated: datetime
    head: tuple[int, str]  # seq and hash of the chain's last event
    checkpoint: CheckpointRow | None  # the last signed one

    def chain(self) -> tuple[str, str]:
        """The chain's head and last checkpoint, in words."""
        seq, digest = self.head
        checkpoint = self.checkpoint
        signed = (
            "none"
            if checkpoint is None
            else f"seq {checkpoint.seq} at {checkpoint.at.isoformat()}, key {checkpoint.key_id}"
        )
        return f"seq {seq}, hash {digest}", signed


def title_rows(heading: Heading) -> Iterator[tuple[str, str]]:
    """The title block's rows."""
    yield ("report", heading.kind)
    yield ("from", heading.since.isoformat())
    yield ("to (excluded)", heading.until.isoformat())
    yield ("generated", heading.generated.isoformat())
    head, signed = heading.chain()
    yield ("audit chain head", head)
    yield ("last signed checkpoint", signed)


def _title(writer: Any, heading: Heading) -> None:
    writer.writerows(title_rows(heading))


def search_rows(
    heading: Heading, filters: dict[str, str], packs: Iterable[PackRow]
) -> Iterator[Sequence[Any]]:
    """A log search as CSV rows (lazily, as `packs` streams): the title block, the filters
    it was made with (`filter,value`), then one row per pack, oldest first; text a
    spreadsheet would run is quoted as in every report."""
    yield from title_rows(heading)
    yield ()
    yield ("filter", "value")
    yield from ((name, _cell(value)) for name, value in filters.items())
    yield ()
    yield PACK_COLUMNS
    for pack in packs:
        shown = pack.as_json()
        yield [_cell(shown[column]) for column in PACK_COLUMNS]


def _block(
    writer: Any,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    separate: bool = True,
    cell: Callable[[Any], Any] = _cell,
) -> int:
    if separate:
        writer.writerow(())
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([cell(value) for value in row])
        count += 1
    return count


def write_summary(
    out: TextIO,
    heading: Heading,
    summary: Summary,
    undos: Iterable[UndoDeadline],
    packs: Iterable[PackRow],
) -> int:
    """The period summary with its undo deadlines and per-pack rows; returns the pack rows."""
    writer = csv.writer(out)
    _title(writer, heading)
    _block(writer, ("section", "name", "value"), figures(summary))
    _block(
        writer,
        UNDO_COLUMNS,
        ((u.token, u.product_code, u.serial, u.reason, u.decommissioned_at, u.deadline, u.route,
          u.flagged) for u in undos),
    )  # fmt: skip
    return _block(
        writer, PACK_COLUMNS, (tuple(p.as_json()[c] for c in PACK_COLUMNS) for p in packs)
    )


def write_register(
    out: TextIO, heading: Heading, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """The alert register: the title block, then one row per alert and transition."""
    writer = csv.writer(out)
    _title(writer, heading)
    return _block(writer, header, rows)


def write_exact(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """One block of rows exactly as stored (the audit export); returns how many."""
    return _block(csv.writer(out), header, rows, separate=False, cell=_exact)
