"""The per-step journal: each write of one pipeline step, returning the audit events it owes.

Every method runs inside the caller's transaction and appends nothing to the audit chain
itself: `Transactions.write` chains the returned events in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import HubResult, ManualEntry, Reason
from fmd.policy import Decision, Why
from robot_controller.robot.base import Job, JobOutcome, JobResult
from robot_controller.states import JobStatus, Route, Stage
from robot_controller.store.alert_register import case_row
from robot_controller.store.audit import AuditEvent, canonical_json, pack_event
from robot_controller.store.codec import (
    decision_columns,
    encode_raw,
    parsed_columns,
    result_columns,
    ui_columns,
)
from robot_controller.store.records import KEYED_IN, MANUAL_SOURCE
from robot_controller.store.schema import alerts, decisions, jobs, outcomes, scans, verifications
from robot_controller.store.statements import HotPath
from robot_controller.store.transactions import Written


def _finish_job() -> ClauseElement:
    statement: ClauseElement = (
        jobs.update()
        .where(jobs.c.id == sa.bindparam("job"))
        .values(
            status=sa.bindparam("to"),
            result=sa.bindparam("result"),
            location=sa.bindparam("location"),
            fault=sa.bindparam("fault"),
            message=sa.bindparam("message_"),
            done_at=sa.bindparam("at"),
        )
    )
    return statement


def _change_outcome(
    conn: Connection, token: int, values: dict[str, Any], at: datetime
) -> Callable[[AuditEvent], AuditEvent]:
    """Change a pack's outcome row; returns what gives its audit event the values it replaced
    (`before`; None for a pack with no outcome yet, which nothing changes) and set (`after`)."""
    columns = [outcomes.c[name] for name in values]
    held = sa.select(*columns).where(outcomes.c.token == token).with_for_update()
    was = conn.execute(held).first()
    conn.execute(outcomes.update().where(outcomes.c.token == token).values(**values, at=at))
    before = None if was is None else canonical_json(dict(zip(values, was, strict=True)))
    after = canonical_json(values)
    return lambda event: replace(event, before=before, after=after)


class Journal:
    """The writes of the pipeline's steps, on the hot path's statements; `location` is the
    premises ([site] location) of the daemon writing, which the alert cases it opens name."""

    def __init__(self, sql: HotPath, location: str | None = None) -> None:
        self._sql = sql
        self._location = location

    def record_scan(self, conn: Connection, raw: str, symbology: str | None, source: str,
                    scanned_at: datetime, at: datetime, robot: str) -> Written[int]:  # fmt: skip
        row = {
            "raw": encode_raw(raw),
            "symbology": symbology,
            "source": source,
            "scanned_at": scanned_at,
            "recorded_at": at,
            "robot": robot,
        }
        token = int(self._sql.insert(conn, scans, row, returning="id").fetchone()[0])
        return Written(token, (pack_event(at, "scan.recorded", token, source, len=len(raw)),))

    def record_keyed_in(
        self, conn: Connection, raw: str, entry: ManualEntry, message: str, at: datetime, robot: str
    ) -> Written[int]:
        """A pack keyed in by hand: its scan (source `manual`, `raw` what was keyed), returned
        at once."""
        return self.record_returned(conn, raw, MANUAL_SOURCE, KEYED_IN, entry.product_code,
                                    entry.serial, message, at, robot)  # fmt: skip

    def record_returned(self, conn: Connection, raw: str, source: str, why: str,
                        product_code: str | None, serial: str | None, message: str,
                        at: datetime, robot: str, *, route: Route = Route.RETURNED,
                        location: int | None = None,
                        flagged: bool = False) -> Written[int]:  # fmt: skip
        """A pack recorded from the operator's hand: its scan and, at once, its outcome
        `returned`: it stays in the operator's hand, so no robot job and no recovery ever
        takes it. (`route` dispensed: a pack the robot handed out that the log never had.)"""
        scan = self.record_scan(conn, raw, None, source, at, at, robot)
        token = scan.value
        row = {"token": token, "route": route.value, "why": why, "message": message,
               "location": location, "flagged": flagged, "product_code": product_code,
               "serial": serial, "at": at}  # fmt: skip
        self._sql.insert(conn, outcomes, row)
        returned = pack_event(at, f"pack.{route}", token, why, message=message)
        return Written(token, (*scan.events, returned))

    def record_dispensed(self, conn: Connection, token: int, message: str, at: datetime,
                         actor: str, robot_pack: int) -> Written[None]:  # fmt: skip
        """A shelved pack the robot handed out: its outcome's route becomes `dispensed`,
        audited in `actor`'s name with the values before and after."""
        changed = _change_outcome(
            conn, token, {"route": Route.DISPENSED.value, "message": message}, at
        )
        event = pack_event(at, f"pack.{Route.DISPENSED}", token, "hand-out", pack=robot_pack)
        return Written(None, (replace(changed(event), actor=actor),))

    def record_decision(
        self,
        conn: Connection,
        token: int,
        stage: Stage,
        parsed: ParsedScan,
        decision: Decision,
        at: datetime,
    ) -> Written[None]:
        """A decision (the intents it leads to are queued by the step that sends them)."""
        row = {"token": token, "stage": stage.value, **parsed_columns(parsed),
               **decision_columns(decision), "decided_at": at}  # fmt: skip
        self._sql.insert(conn, decisions, row)
        decided = pack_event(at, f"decision.{stage}", token, decision.why.value,
                             action=decision.action.value, message=decision.message)  # fmt: skip
        return Written(None, (decided,))

    def record_verification(
        self,
        conn: Connection,
        token: int,
        operation: str,
        ui: PackIdentifier | ManualEntry,
        trx: str,
        result: HubResult | None,
        *,
        error: str | None,
        latency_s: float,
        at: datetime,
        reason: Reason | None,
    ) -> Written[None]:
        """One hub call (and, for an alert, the case it opens in the alert register)."""
        request = {**ui_columns(ui), "reason": reason, "trx": trx}
        row: dict[str, Any] = {
            "token": token,
            "operation": operation,
            "client_trx_id": trx,
            "request": canonical_json(request),
            "error": error,
            "latency_s": latency_s,
            "at": at,
            "message": "",
        }
        if result is not None:
            row |= result_columns(result)
        self._sql.insert(conn, verifications, row)
        why = result.return_code if result is not None else (error or "no answer")
        called = pack_event(at, f"hub.{operation}", token, why, trx=trx)
        if result is None or not result.alert:
            return Written(None, (called,))
        row = case_row(token, ui, result, self._location, at)
        case = int(self._sql.insert(conn, alerts, row, returning="id").fetchone()[0])
        raised = pack_event(at, "alert.raised", token, result.return_code, alert=case,
                            alert_id=result.alert_id, location=self._location)  # fmt: skip
        return Written(None, (called, raised))

    def start_job(self, conn: Connection, job: Job, at: datetime, robot: str) -> Written[int]:
        row = {
            "robot": robot,
            "token": job.token,
            "code": int(job.code),
            "reason": int(job.reason),
            "status": JobStatus.STARTED.value,
            "message": "",
            "started_at": at,
        }
        job_id = int(self._sql.insert(conn, jobs, row, returning="id").fetchone()[0])
        return Written(job_id, (pack_event(at, "robot.job", job.token, job.code.name, job=job_id),))

    def finish(
        self,
        conn: Connection,
        token: int,
        *,
        route: Route,
        why: Why,
        message: str,
        ui: PackIdentifier | None,
        at: datetime,
        job_id: int | None,
        outcome: JobOutcome | None,
        flagged: bool,
    ) -> Written[None]:
        """A pack's final route (and its job's outcome)."""
        location = outcome.location if outcome is not None else None
        if job_id is not None:
            self._finish_job(conn, job_id, outcome, outcome.message if outcome else message, at)
        row = {
            "token": token,
            "route": route.value,
            "why": why,
            "message": message,
            "location": location,
            "flagged": flagged,
            "product_code": ui.product_code if ui else None,
            "serial": ui.serial if ui else None,
            "at": at,
        }
        self._sql.insert(conn, outcomes, row)
        return Written(None, (pack_event(at, f"pack.{route}", token, why, location=location),))

    def record_retrieval(
        self, conn: Connection, token: int, job_id: int, outcome: JobOutcome | None, at: datetime
    ) -> Written[Route]:
        """The end of a retrieve-to-quarantine job; the pack's route from now on."""
        retrieved = outcome is not None and outcome.result == JobResult.RETRIEVED
        route = Route.QUARANTINED if retrieved else Route.SHELVED
        message = (
            "retrieved to quarantine: its deferred check failed"
            if retrieved
            else "its deferred check failed but the robot did not retrieve it: "
            + (outcome.message if outcome is not None and outcome.message else "outcome unknown")
        )
        self._finish_job(conn, job_id, outcome, message, at)
        changed = _change_outcome(
            conn, token, {"route": route.value, "message": message, "flagged": not retrieved}, at
        )
        action = "pack.retrieved" if retrieved else "pack.retrieve_failed"
        event = changed(pack_event(at, action, token, "deferred-check-failed", job=job_id))
        return Written(route, (event,))

    def flag(self, conn: Connection, token: int, message: str, at: datetime) -> Written[None]:
        """Mark a finished pack for the operator's attention."""
        changed = _change_outcome(conn, token, {"flagged": True, "message": message}, at)
        event = changed(pack_event(at, "pack.flagged", token, "operator-check", message=message))
        return Written(None, (event,))

    def _finish_job(
        self, conn: Connection, job_id: int, outcome: JobOutcome | None, message: str, at: datetime
    ) -> None:
        self._sql.execute(
            conn,
            _finish_job,
            job=job_id,
            to=(JobStatus.DONE if outcome is not None else JobStatus.UNKNOWN).value,
            result=int(outcome.result) if outcome else None,
            location=outcome.location if outcome else None,
            fault=outcome.fault if outcome else None,
            message_=message,
            at=at,
        )
