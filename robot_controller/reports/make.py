"""Making one report file from the store: the query, the check that the period holds
something, the writer, and the file appearing whole (`files.replacing`)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from robot_controller.reports import csv_report, pdf_report
from robot_controller.reports.csv_report import Heading
from robot_controller.reports.files import NothingToReport, replacing
from robot_controller.store import Store
from robot_controller.store import reports as queries
from robot_controller.store.checkpoints import head, last_checkpoint
from robot_controller.store.history import PackFilter, stream_packs

_OPEN_START = datetime(1970, 1, 1, tzinfo=UTC)
_OPEN_END = datetime(9999, 1, 1, tzinfo=UTC)


class Format(StrEnum):
    """The file a report is written as."""

    CSV = "csv"
    PDF = "pdf"


class ReportKind(StrEnum):
    """Which report."""

    SUMMARY = "summary"  # the period's figures (and, in CSV, one row per pack)
    ALERTS = "alerts"  # the alert register: each alert with its transitions


def make_report(
    store: Store,
    kind: ReportKind,
    fmt: Format,
    path: Path,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
) -> None:
    """Write the report to `path`; `NothingToReport` (and no file) when the period is empty."""
    with store.reading() as conn:
        heading = Heading(kind.value, since, until, now, head(conn), last_checkpoint(conn))
        summary = queries.summary(conn, since=since, until=until, now=now)
        if summary.empty or (kind is ReportKind.ALERTS and not summary.alerts_by_code):
            what = "alert" if kind is ReportKind.ALERTS else "scan, hub call or alert"
            raise NothingToReport(f"no {what} recorded {_span(since, until)}: no report written")
        undos = queries.open_undos(conn, since=since, until=until, now=now)
        with replacing(path) as partial:
            if kind is ReportKind.SUMMARY and fmt is Format.CSV:
                packs = stream_packs(conn, PackFilter(since=since, until=until))
                with partial.open("w", newline="", encoding="utf-8") as out:
                    csv_report.write_summary(out, heading, summary, undos, packs)
            elif kind is ReportKind.SUMMARY:
                pdf_report.write_summary(partial, heading, summary, undos)
            elif fmt is Format.CSV:
                register = queries.alert_register(conn, since=since, until=until)
                columns = (*queries.ALERT_COLUMNS, *queries.TRANSITION_COLUMNS)
                with partial.open("w", newline="", encoding="utf-8") as out:
                    csv_report.write_register(out, heading, columns, register)
            else:
                register = queries.alert_register(conn, since=since, until=until)
                pdf_report.write_alerts(partial, heading, summary.days, register)


def export_audit(
    store: Store, path: Path, *, since: datetime | None, until: datetime | None
) -> int:
    """Write the audit events of the period (the whole log for open ends) to a CSV file;
    returns how many; `NothingToReport` (and no file) when there are none."""
    start, end = since or _OPEN_START, until or _OPEN_END
    with store.reading() as conn, replacing(path) as partial:
        rows = queries.audit_rows(conn, since=start, until=end)
        with partial.open("w", newline="", encoding="utf-8") as out:
            count = csv_report.write_exact(out, queries.AUDIT_COLUMNS, rows)
        if count == 0:
            raise NothingToReport(f"no audit event recorded {_span(since, until)}: no file written")
    return count


def _span(since: datetime | None, until: datetime | None) -> str:
    start = f"from {since.isoformat()}" if since else "from the start"
    return f"{start} to {f'{until.isoformat()} (excluded)' if until else 'now'}"
