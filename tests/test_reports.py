"""A period's reports after a real pipeline run: the summary's figures, the CSV printouts
(summary with per-pack rows, alert register, audit export) and the PDFs."""

from __future__ import annotations

import csv
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from fmd.hub.rules import UNDO_WINDOW
from fmd.policy import Why
from robot_controller.alert_cases import AlertState
from robot_controller.pipeline import utc_now
from robot_controller.reports.csv_report import PACK_COLUMNS
from robot_controller.reports.files import NothingToReport
from robot_controller.reports.make import Format, ReportKind, export_audit, make_report
from robot_controller.robot.base import FaultCode, Job, JobCode, JobOutcome, JobReason, JobResult
from robot_controller.states import Route
from robot_controller.store import Store
from robot_controller.store import reports as queries
from scanners.base import Scan
from tests.support.loaded_log import CLERK, Loaded, load_delivery


@pytest.fixture
async def loaded(store: Store) -> Loaded:
    return await load_delivery(store)


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        query = sa.text(f"SELECT count(*) FROM {table}")  # noqa: S608 - the test's own names
        return int(conn.execute(query).scalar_one())


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def blocks(path: Path) -> list[list[list[str]]]:
    """A report CSV's blocks (rows between empty rows)."""
    found: list[list[list[str]]] = [[]]
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.reader(file):
            if row:
                found[-1].append(row)
            else:
                found.append([])
    return found


def summary_of(loaded: Loaded, *, later: timedelta = timedelta()) -> queries.Summary:
    with loaded.store.reading() as conn:
        return queries.summary(conn, since=loaded.started, until=loaded.ended,
                               now=loaded.ended + later)  # fmt: skip


async def test_the_summary_counts_what_the_log_holds(loaded: Loaded) -> None:
    summary = summary_of(loaded)
    outcomes = loaded.store.outcomes()
    assert summary.scanned == count(loaded.store, "scans") == len(loaded.tokens) + 1
    assert sum(n for whys in summary.routes.values() for n in whys.values()) == len(outcomes)
    for route in ("shelved", "rejected", "quarantined"):
        assert sum(summary.routes[route].values()) == sum(
            1 for r, _ in outcomes.values() if r == route
        )
    alerts = count(loaded.store, "alerts")
    assert sum(summary.alerts_by_code.values()) == alerts == sum(summary.alerts_by_cause.values())
    assert summary.hub.calls == count(loaded.store, "verifications") == summary.hub.answered
    assert summary.hub.availability == 1.0
    p50, p95, p99 = (summary.hub.latency_ms[p] for p in (50, 95, 99))
    assert None not in (p50, p95, p99)
    assert p50 is not None
    assert p95 is not None
    assert p99 is not None
    assert 0 <= p50 <= p95 <= p99
    assert summary.decommissioned == {"SUPPLIED": sum(summary.routes["shelved"].values())}
    assert summary.open_undos == summary.decommissioned["SUPPLIED"]
    assert sum(sum(day.routes.values()) for day in summary.days) == len(outcomes)
    assert sum(day.alerts for day in summary.days) == alerts
    assert summary.robot_faults == {}


async def test_an_undo_deadline_closes_240_hours_after_the_decommission(loaded: Loaded) -> None:
    assert summary_of(loaded, later=UNDO_WINDOW - timedelta(minutes=5)).open_undos > 0
    assert summary_of(loaded, later=UNDO_WINDOW + timedelta(minutes=5)).open_undos == 0


async def test_the_summary_csv_has_its_figures_undo_deadlines_and_one_row_per_pack(
    loaded: Loaded, tmp_path: Path
) -> None:
    path = tmp_path / "summary.csv"
    make_report(loaded.store, ReportKind.SUMMARY, Format.CSV, path, since=loaded.started,
                until=loaded.ended, now=loaded.ended)  # fmt: skip
    title, figures, undos, packs = blocks(path)
    assert title[0] == ["report", "summary"]
    heading = {row[0]: row[1] for row in title}
    assert heading["audit chain head"].startswith(f"seq {count(loaded.store, 'audit_events')}, ")
    assert "last signed checkpoint" in heading
    assert figures[0] == ["section", "name", "value"]
    assert ["packs", "scanned", str(len(loaded.tokens) + 1)] in figures
    assert [row[0] for row in figures[1:]].count("hub") == 6
    assert undos[0][:3] == ["token", "product_code", "serial"]
    assert len(undos) - 1 == summary_of(loaded).open_undos
    assert tuple(packs[0]) == PACK_COLUMNS
    assert [int(row[0]) for row in packs[1:]] == sorted(t for t, _ in loaded.store.raw_scans())


async def test_the_alert_register_csv_has_each_alert_with_its_transitions(
    loaded: Loaded, tmp_path: Path
) -> None:
    path = tmp_path / "alerts.csv"
    make_report(loaded.store, ReportKind.ALERTS, Format.CSV, path, since=loaded.started,
                until=loaded.ended, now=loaded.ended)  # fmt: skip
    _title, register = blocks(path)
    header = register[0]
    assert header == [*queries.ALERT_COLUMNS, *queries.TRANSITION_COLUMNS]
    rows = [dict(zip(header, row, strict=True)) for row in register[1:]]
    assert len(rows) == count(loaded.store, "alerts")  # one transition only: one row each
    moved = [row for row in rows if row["actor"]]
    assert [(r["from_state"], r["to_state"], r["actor"]) for r in moved] == [
        ("open", "investigating", CLERK)
    ]
    assert all(row["product_code"] and row["serial"] for row in rows)


@pytest.mark.parametrize("kind", list(ReportKind))
async def test_a_pdf_report_is_a_pdf_with_pages(
    loaded: Loaded, tmp_path: Path, kind: ReportKind
) -> None:
    path = tmp_path / f"{kind}.pdf"
    make_report(loaded.store, kind, Format.PDF, path, since=loaded.started, until=loaded.ended,
                now=loaded.ended)  # fmt: skip
    data = path.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type /Page\b(?!s)", data)) >= 1
    assert not [name for name in names(tmp_path) if name.endswith(".partial")]


async def test_an_alert_pdf_prints_a_transition_of_very_long_text(
    loaded: Loaded, tmp_path: Path
) -> None:
    (case,) = (c for c in loaded.store.alert_cases() if c.state is AlertState.INVESTIGATING)
    loaded.store.move_alert(case.id, AlertState.CLOSED, cause="scanner-or-process-error",
                            reason="A" * 10_000, actor="B" * 10_000, at=loaded.ended)  # fmt: skip
    path = tmp_path / "alerts.pdf"
    make_report(loaded.store, ReportKind.ALERTS, Format.PDF, path, since=loaded.started,
                until=loaded.ended + timedelta(seconds=1), now=loaded.ended)  # fmt: skip
    assert path.read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(("kind", "fmt"), [(k, f) for k in ReportKind for f in Format])
async def test_a_period_with_nothing_in_it_writes_no_file(
    loaded: Loaded, tmp_path: Path, kind: ReportKind, fmt: Format
) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    path = folder / f"empty.{fmt}"
    before = loaded.started - timedelta(days=2)
    with pytest.raises(NothingToReport, match="no report written"):
        make_report(loaded.store, kind, fmt, path, since=before,
                    until=before + timedelta(days=1), now=loaded.ended)  # fmt: skip
    assert names(folder) == []


async def test_the_audit_export_holds_every_event_of_the_period_in_chain_order(
    loaded: Loaded, tmp_path: Path
) -> None:
    path = tmp_path / "audit.csv"
    written = export_audit(loaded.store, path, since=None, until=None)
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert written == len(rows) == count(loaded.store, "audit_events")
    assert [int(r["seq"]) for r in rows] == list(range(1, len(rows) + 1))
    assert all(r["hash"] and r["prev_hash"] for r in rows)
    with pytest.raises(NothingToReport):
        export_audit(loaded.store, tmp_path / "none.csv", since=loaded.ended, until=None)
    assert not (tmp_path / "none.csv").exists()


def test_the_summary_counts_robot_faults_by_name(store: Store) -> None:
    at = utc_now()
    for fault in (FaultCode.GRIPPER, FaultCode.GRIPPER, FaultCode.CONVEYOR_JAM, None):
        token = store.record_scan(Scan("x", None, "test", at), at=at)
        job = store.start_job(Job(JobCode.DIVERT_TO_REJECT, token, JobReason.UNREADABLE), at=at)
        outcome = JobOutcome(JobResult.FAILED if fault else JobResult.REJECTED, fault=fault)
        store.finish(token, route=Route.REJECTED, why=Why.UNREADABLE, message="", ui=None, at=at,
                     job_id=job, outcome=outcome, flagged=fault is not None)  # fmt: skip
    with store.reading() as conn:
        summary = queries.summary(conn, since=at, until=at + timedelta(seconds=1), now=at)
    assert summary.robot_faults == {"100 GRIPPER": 2, "200 CONVEYOR_JAM": 1}
    assert summary.routes == {"rejected": {"unreadable": 4}}
    assert summary.hub.calls == 0
    assert summary.hub.availability is None
    assert summary.hub.latency_ms == {50: None, 95: None, 99: None}


def test_a_report_quotes_formula_text_and_the_audit_export_keeps_it_exact(
    store: Store, tmp_path: Path
) -> None:
    at = utc_now()
    store.record_scan(Scan("x", None, "=HYPERLINK(1)", at), at=at)
    report, export = tmp_path / "report.csv", tmp_path / "audit.csv"
    make_report(store, ReportKind.SUMMARY, Format.CSV, report, since=at,
                until=at + timedelta(seconds=1), now=at)  # fmt: skip
    export_audit(store, export, since=None, until=None)
    packs = blocks(report)[-1]
    assert dict(zip(packs[0], packs[1], strict=True))["source"] == "'=HYPERLINK(1)"
    with export.open(newline="", encoding="utf-8") as file:
        (event,) = csv.DictReader(file)
    assert event["why"] == "=HYPERLINK(1)"
