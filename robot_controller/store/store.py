"""The durable verification log: one short transaction per pipeline step, each with its audit event.

Synchronous by design (SQLite and psycopg are blocking); the pipeline calls it from one worker
thread so the event loop never waits on a disk.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import ClauseElement

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import HubResult, Reason
from fmd.policy import Action, Decision, Why
from robot_controller.robot.base import Job, JobCode, JobOutcome, JobResult
from robot_controller.store.audit import GENESIS, AuditEvent, ChainCheck, chain_hash, check_chain
from robot_controller.store.audit import canonical_json as _json
from robot_controller.store.db import create_engine_for, migrate
from robot_controller.store.schema import (
    AlertRow,
    AuditRow,
    DecisionRow,
    JobRow,
    OutboxRow,
    OutcomeRow,
    ScanRow,
    VerificationRow,
)
from robot_controller.store.statements import HotPath
from scanners.base import Scan

_scans = ScanRow.__table__  # type: ignore[attr-defined]
_decisions = DecisionRow.__table__  # type: ignore[attr-defined]
_verifications = VerificationRow.__table__  # type: ignore[attr-defined]
_outbox = OutboxRow.__table__  # type: ignore[attr-defined]
_jobs = JobRow.__table__  # type: ignore[attr-defined]
_outcomes = OutcomeRow.__table__  # type: ignore[attr-defined]
_alerts = AlertRow.__table__  # type: ignore[attr-defined]
_audit = AuditRow.__table__  # type: ignore[attr-defined]

ACTOR = "daemon"
_LOCK_CHAIN = sa.text("SELECT pg_advisory_xact_lock(7420161)")


def _last_hash() -> ClauseElement:
    return sa.select(_audit.c.hash).order_by(_audit.c.id.desc()).limit(1)


def _shelved() -> ClauseElement:
    return (
        sa.select(sa.literal(1))
        .where(
            _outcomes.c.product_code == sa.bindparam("product_code"),
            _outcomes.c.serial == sa.bindparam("serial"),
            _outcomes.c.route == "shelved",
        )
        .limit(1)
    )


def _settle_intent() -> ClauseElement:
    statement: ClauseElement = (
        _outbox.update()
        .where(_outbox.c.id == sa.bindparam("intent"))
        .values(
            status=sa.bindparam("to"),
            last_code=sa.bindparam("code"),
            attempts=_outbox.c.attempts + 1,
            updated_at=sa.bindparam("at"),
        )
        .returning(_outbox.c.token)
    )
    return statement


def _finish_job() -> ClauseElement:
    statement: ClauseElement = (
        _jobs.update()
        .where(_jobs.c.id == sa.bindparam("job"))
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


@dataclass(frozen=True, slots=True)
class Intent:
    """A state change for the hub, as kept in the outbox."""

    id: int
    token: int
    operation: str
    reason: Reason | None
    client_trx_id: str
    ui: PackIdentifier
    status: str
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A scan without a final outcome, with what a crash may have left half done."""

    token: int
    raw: str
    symbology: str | None
    source: str
    scanned_at: datetime
    decided: bool
    open_intent: Intent | None
    started_job: int | None


def encode_raw(raw: str) -> bytes:
    return raw.encode("utf-8", "surrogatepass")


def decode_raw(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def ui_columns(ui: PackIdentifier) -> dict[str, Any]:
    return {
        "scheme": ui.scheme,
        "product_code": ui.product_code,
        "serial": ui.serial,
        "batch": ui.batch,
        "expiry_raw": ui.expiry_raw,
    }


class Store:
    """The verification log on SQLite (default) or PostgreSQL."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pg = engine.dialect.name == "postgresql"
        self._batch = threading.local()
        self._sql = HotPath(engine.dialect)
        self._last_hash: str | None = None  # the chain's head, as this process last wrote it

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (and create or upgrade, with Alembic) the store at a SQLAlchemy URL."""
        engine = create_engine_for(url)
        migrate(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run every store call made inside it, in this thread, in one transaction.

        Nested inside another batch, it simply joins that one.
        """
        if self._joined() is not None:
            yield
            return
        with self._tx() as conn:
            self._batch.conn = conn
            try:
                yield
            finally:
                self._batch.conn = None

    def _joined(self) -> Connection | None:
        """The connection of the batch running in this thread, if any."""
        conn: Connection | None = getattr(self._batch, "conn", None)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction (or the running batch's)."""
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        try:
            with self.engine.begin() as conn:
                yield conn
        except BaseException:
            self._last_hash = None  # rolled back: read the chain's head again next time
            raise

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reading (or the running batch's, to see its own writes)."""
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        with self.engine.connect() as conn:
            yield conn

    # -- writes: one transaction each (or part of a batch) -------------------------------

    def record_scan(self, scan: Scan, *, at: datetime) -> int:
        """Commit a raw scan; returns its token."""
        with self._tx() as conn:
            token: int = self._sql.insert(
                conn,
                _scans,
                {
                    "raw": encode_raw(scan.raw),
                    "symbology": scan.symbology_id,
                    "source": scan.source,
                    "scanned_at": scan.at,
                    "recorded_at": at,
                },
                returning="id",
            ).fetchone()[0]
            self._audit(conn, at, "scan.recorded", token, scan.source, {"len": len(scan.raw)})
        return int(token)

    def record_decision(
        self,
        token: int,
        stage: str,
        parsed: ParsedScan,
        decision: Decision,
        *,
        at: datetime,
        intent_trx: str | None = None,
    ) -> Intent | None:
        """Commit a decision; when it asks for a decommission, the outbox intent with it."""
        with self._tx() as conn:
            self._sql.insert(
                conn,
                _decisions,
                {
                    "token": token,
                    "stage": stage,
                    "format": parsed.format,
                    "scheme": parsed.scheme,
                    "product_code": parsed.product_code,
                    "serial": parsed.serial,
                    "batch": parsed.batch,
                    "expiry_raw": parsed.expiry_raw,
                    "problems": json.dumps(
                        [
                            {"code": p.code, "severity": p.severity, "message": p.message}
                            for p in parsed.problems
                        ]
                    ),
                    "action": decision.action.value,
                    "why": decision.why.value,
                    "message": decision.message,
                    "decommission_to": decision.decommission_to.value
                    if decision.decommission_to
                    else None,
                    "decided_at": at,
                },
            )
            self._audit(
                conn,
                at,
                f"decision.{stage}",
                token,
                decision.why.value,
                {"action": decision.action.value, "message": decision.message},
            )
            needs_intent = decision.decommission_to is not None or decision.verify_later
            if not needs_intent or parsed.ui is None or intent_trx is None:
                return None
            operation = "decommission" if decision.decommission_to is not None else "verify"
            return self._add_intent(
                conn, token, parsed.ui, operation, decision.decommission_to, intent_trx, at
            )

    def record_verification(
        self,
        token: int,
        operation: str,
        ui: PackIdentifier,
        trx: str,
        result: HubResult | None,
        *,
        error: str | None,
        latency_s: float,
        at: datetime,
        reason: Reason | None = None,
    ) -> None:
        """Commit one hub transaction (and an alert register entry for an alert)."""
        request = {**ui_columns(ui), "reason": reason, "trx": trx}
        row: dict[str, Any] = {
            "token": token,
            "operation": operation,
            "client_trx_id": trx,
            "request": _json(request),
            "error": error,
            "latency_s": latency_s,
            "at": at,
            "message": "",
        }
        if result is not None:
            row |= {
                "outcome": result.outcome,
                "return_code": result.return_code,
                "state": result.state.value,
                "reasons": ",".join(result.reasons),
                "hub_trx_id": result.hub_trx_id,
                "alert_id": result.alert_id,
                "message": result.message,
            }
        with self._tx() as conn:
            self._sql.insert(conn, _verifications, row)
            why = result.return_code if result is not None else (error or "no answer")
            self._audit(conn, at, f"hub.{operation}", token, why, {"trx": trx})
            if result is not None and result.alert:
                self._sql.insert(
                    conn,
                    _alerts,
                    {
                        "token": token,
                        "alert_id": result.alert_id,
                        "return_code": result.return_code,
                        "message": result.message,
                        "status": "open",
                        "raised_at": at,
                    },
                )
                self._audit(conn, at, "alert.raised", token, result.return_code, {})

    def settle_intent(self, intent_id: int, status: str, code: str | None, *, at: datetime) -> None:
        """Mark an outbox intent done, failed or flagged (or still pending after an attempt)."""
        with self._tx() as conn:
            token: int = self._sql.execute(
                conn, _settle_intent, intent=intent_id, to=status, code=code, at=at
            ).fetchone()[0]
            self._audit(conn, at, f"outbox.{status}", token, code or "", {"intent": intent_id})

    def queue_intent(
        self,
        token: int,
        ui: PackIdentifier,
        operation: str,
        reason: Reason | None,
        *,
        trx: str,
        at: datetime,
    ) -> Intent:
        """Commit a state change for the hub to the outbox (for instance an operator's undo)."""
        with self._tx() as conn:
            return self._add_intent(conn, token, ui, operation, reason, trx, at)

    def start_job(self, job: Job, *, at: datetime) -> int:
        """Commit a robot job as started, before the robot is asked to move the pack."""
        with self._tx() as conn:
            job_id: int = self._sql.insert(
                conn,
                _jobs,
                {
                    "token": job.token,
                    "code": int(job.code),
                    "reason": int(job.reason),
                    "status": "started",
                    "message": "",
                    "started_at": at,
                },
                returning="id",
            ).fetchone()[0]
            self._audit(conn, at, "robot.job", job.token, job.code.name, {"job": job_id})
        return int(job_id)

    def finish(
        self,
        token: int,
        *,
        route: str,
        why: str,
        message: str,
        ui: PackIdentifier | None,
        at: datetime,
        job_id: int | None = None,
        outcome: JobOutcome | None = None,
        flagged: bool = False,
    ) -> None:
        """Commit a pack's final route (and the job's outcome) in one transaction."""
        location = outcome.location if outcome is not None else None
        with self._tx() as conn:
            if job_id is not None:
                self._finish_job(conn, job_id, outcome, outcome.message if outcome else message, at)
            self._sql.insert(
                conn,
                _outcomes,
                {
                    "token": token,
                    "route": route,
                    "why": why,
                    "message": message,
                    "location": location,
                    "flagged": flagged,
                    "product_code": ui.product_code if ui else None,
                    "serial": ui.serial if ui else None,
                    "at": at,
                },
            )
            self._audit(conn, at, f"pack.{route}", token, why, {"location": location})

    def record_retrieval(
        self, token: int, job_id: int, outcome: JobOutcome | None, *, at: datetime
    ) -> str:
        """Commit the end of a retrieve-to-quarantine job; the pack's route from now on."""
        retrieved = outcome is not None and outcome.result == JobResult.RETRIEVED
        route = "quarantined" if retrieved else "shelved"
        message = (
            "retrieved to quarantine: its deferred check failed"
            if retrieved
            else "its deferred check failed but the robot did not retrieve it: "
            + (outcome.message if outcome is not None and outcome.message else "outcome unknown")
        )
        with self._tx() as conn:
            self._finish_job(conn, job_id, outcome, message, at)
            conn.execute(
                _outcomes.update()
                .where(_outcomes.c.token == token)
                .values(route=route, message=message, flagged=not retrieved, at=at)
            )
            self._audit(conn, at, f"pack.{'retrieved' if retrieved else 'retrieve_failed'}",
                        token, "deferred-check-failed", {"job": job_id})  # fmt: skip
        return route

    def _finish_job(
        self,
        conn: sa.Connection,
        job_id: int,
        outcome: JobOutcome | None,
        message: str,
        at: datetime,
    ) -> None:
        self._sql.execute(
            conn,
            _finish_job,
            job=job_id,
            to="done" if outcome is not None else "unknown",
            result=int(outcome.result) if outcome else None,
            location=outcome.location if outcome else None,
            fault=outcome.fault if outcome else None,
            message_=message,
            at=at,
        )

    # -- reads --------------------------------------------------------------------------

    def retrievals_due(self) -> tuple[list[int], list[int]]:
        """Shelved packs whose deferred check failed: those never sent to be retrieved, and
        those whose retrieve job started but never ended (a stop or crash mid-move), which
        only the operator can settle. Durable, so nothing depends on memory."""
        retrieve = int(JobCode.RETRIEVE_TO_QUARANTINE)
        failed_check = sa.exists().where(
            _outbox.c.token == _outcomes.c.token,
            _outbox.c.operation == "verify",
            _outbox.c.status == "flagged",
        )
        with self._read() as conn:
            rows = conn.execute(
                sa.select(_outcomes.c.token, sa.func.max(_jobs.c.status))
                .select_from(
                    _outcomes.outerjoin(
                        _jobs, (_jobs.c.token == _outcomes.c.token) & (_jobs.c.code == retrieve)
                    )
                )
                .where(_outcomes.c.route == "shelved", ~_outcomes.c.flagged, failed_check)
                .group_by(_outcomes.c.token)
                .order_by(_outcomes.c.token)
            ).all()
        due = [cast(int, token) for token, job in rows if job is None]
        stuck = [cast(int, token) for token, job in rows if job == "started"]
        return due, stuck

    def flag(self, token: int, message: str, *, at: datetime) -> None:
        """Mark a finished pack for the operator's attention."""
        with self._tx() as conn:
            conn.execute(
                _outcomes.update()
                .where(_outcomes.c.token == token)
                .values(flagged=True, message=message, at=at)
            )
            self._audit(conn, at, "pack.flagged", token, "operator-check", {"message": message})

    def shelved_location(self, token: int) -> int | None:
        """Where a pack on the shelf is (None when it is not on the shelf)."""
        with self._read() as conn:
            row = conn.execute(
                sa.select(_outcomes.c.location).where(
                    _outcomes.c.token == token, _outcomes.c.route == "shelved"
                )
            ).fetchone()
            return None if row is None or row[0] is None else int(row[0])

    def in_stock(self, ui: PackIdentifier) -> bool:
        """True when a pack with this product code and serial was shelved here before."""
        with self._read() as conn:
            cursor = self._sql.execute(
                conn, _shelved, product_code=ui.product_code, serial=ui.serial
            )
            return cursor.fetchone() is not None

    def change_pending(self, ui: PackIdentifier) -> bool:
        """True when a state change for this pack still waits in the outbox."""
        query = (
            sa.select(sa.literal(1))
            .where(
                _outbox.c.product_code == ui.product_code,
                _outbox.c.serial == ui.serial,
                _outbox.c.status == "pending",
                _outbox.c.operation != "verify",
            )
            .limit(1)
        )
        with self._read() as conn:
            return conn.execute(query).first() is not None

    def unfinished(self) -> list[Unfinished]:
        """Scans without a final outcome, oldest first, with their open intent and started job."""
        done = sa.select(_outcomes.c.token)
        with self._read() as conn:
            rows = conn.execute(
                sa.select(_scans).where(_scans.c.id.not_in(done)).order_by(_scans.c.id)
            ).all()
            result = []
            for row in rows:
                decided = conn.execute(
                    sa.select(sa.literal(1)).where(_decisions.c.token == row.id).limit(1)
                ).first()
                job = conn.execute(
                    sa.select(_jobs.c.id).where(
                        _jobs.c.token == row.id, _jobs.c.status == "started"
                    )
                ).scalar()
                intents = self._intents(conn, (_outbox.c.token == row.id,))
                open_intent = next((i for i in intents if i.status == "pending"), None)
                result.append(
                    Unfinished(
                        token=row.id,
                        raw=decode_raw(row.raw),
                        symbology=row.symbology,
                        source=row.source,
                        scanned_at=row.scanned_at,
                        decided=decided is not None,
                        open_intent=open_intent,
                        started_job=job,
                    )
                )
        return result

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """How many intents there are per (operation, status)."""
        query = sa.select(_outbox.c.operation, _outbox.c.status, sa.func.count()).group_by(
            _outbox.c.operation, _outbox.c.status
        )
        with self._read() as conn:
            return {(str(op), str(status)): cast(int, n) for op, status, n in conn.execute(query)}

    def last_decision(self, token: int) -> Decision | None:
        """The newest decision recorded for a pack."""
        query = (
            sa.select(_decisions)
            .where(_decisions.c.token == token)
            .order_by(_decisions.c.id.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Decision(
            action=Action(row.action),
            why=Why(row.why),
            message=row.message,
            decommission_to=Reason(row.decommission_to) if row.decommission_to else None,
        )

    def pending_intents(self, *, finished_packs_only: bool = False) -> list[Intent]:
        """Intents still waiting for the hub, oldest first; optionally only those of packs
        whose route is settled (the pipeline itself handles the packs still in flight)."""
        where: tuple[Any, ...] = (_outbox.c.status == "pending",)
        if finished_packs_only:
            where += (_outbox.c.token.in_(sa.select(_outcomes.c.token)),)
        with self._read() as conn:
            return list(self._intents(conn, where))

    def summary(self) -> dict[str, int]:
        """Counts for the end of a run: packs, routes, alerts, decommissions, unfinished scans."""
        with self._read() as conn:
            packs = conn.execute(sa.select(sa.func.count()).select_from(_scans)).scalar_one()
            routes: dict[str, int] = {
                str(route): cast(int, count)
                for route, count in conn.execute(
                    sa.select(_outcomes.c.route, sa.func.count()).group_by(_outcomes.c.route)
                )
            }
            alerts = conn.execute(sa.select(sa.func.count()).select_from(_alerts)).scalar_one()
            decommissioned = conn.execute(
                sa.select(sa.func.count())
                .select_from(_outbox)
                .where(_outbox.c.operation == "decommission", _outbox.c.status == "done")
            ).scalar_one()
            flagged = conn.execute(
                sa.select(sa.func.count()).select_from(_outcomes).where(_outcomes.c.flagged)
            ).scalar_one()
        finished = sum(routes.values())
        return {
            "packs": packs,
            "shelved": routes.get("shelved", 0),
            "rejected": routes.get("rejected", 0),
            "quarantined": routes.get("quarantined", 0),
            "alerts": alerts,
            "decommissioned": decommissioned,
            "flagged": flagged,
            "lost": packs - finished,
        }

    def outcomes(self) -> dict[int, tuple[str, str]]:
        """Every finished pack: token → (route, why)."""
        with self._read() as conn:
            rows = conn.execute(sa.select(_outcomes.c.token, _outcomes.c.route, _outcomes.c.why))
            return {cast(int, token): (str(route), str(why)) for token, route, why in rows}

    def raw_scans(self) -> Iterator[tuple[int, str]]:
        """Every scan: (token, raw) in token order."""
        with self._read() as conn:
            for token, raw in conn.execute(sa.select(_scans.c.id, _scans.c.raw).order_by("id")):
                yield cast(int, token), decode_raw(cast(bytes, raw))

    def check_audit_chain(self) -> ChainCheck:
        """Re-compute the audit hash chain over the whole log."""
        with self._read() as conn:
            rows = conn.execute(sa.select(_audit).order_by(_audit.c.id))
            return check_chain(
                (
                    r.id,
                    AuditEvent(r.at, r.actor, r.action, r.subject, r.why, r.detail),
                    r.prev_hash,
                    r.hash,
                )
                for r in rows
            )

    # -- inside a transaction -----------------------------------------------------------

    def _add_intent(
        self,
        conn: Connection,
        token: int,
        ui: PackIdentifier,
        operation: str,
        reason: Reason | None,
        trx: str,
        at: datetime,
    ) -> Intent:
        intent_id: int = self._sql.insert(
            conn,
            _outbox,
            {
                "token": token,
                "operation": operation,
                "reason": reason.value if reason else None,
                "client_trx_id": trx,
                **ui_columns(ui),
                "nhrn": ui.nhrn,
                "nhrn_ai": ui.nhrn_ai,
                "status": "pending",
                "attempts": 0,
                "created_at": at,
                "updated_at": at,
            },
            returning="id",
        ).fetchone()[0]
        self._audit(conn, at, "outbox.queued", token, operation, {"trx": trx, "reason": reason})
        return Intent(int(intent_id), token, operation, reason, trx, ui, "pending", 0, at)

    def _intents(self, conn: Connection, where: tuple[Any, ...]) -> Iterator[Intent]:
        for r in conn.execute(sa.select(_outbox).where(*where).order_by(_outbox.c.id)):
            ui = PackIdentifier(
                scheme=r.scheme,
                product_code=r.product_code,
                serial=r.serial,
                batch=r.batch,
                expiry=None,
                expiry_raw=r.expiry_raw,
                nhrn=r.nhrn,
                nhrn_ai=r.nhrn_ai,
            )
            reason = Reason(r.reason) if r.reason else None
            yield Intent(
                r.id,
                r.token,
                r.operation,
                reason,
                r.client_trx_id,
                ui,
                r.status,
                r.attempts,
                r.created_at,
            )

    def _audit(
        self,
        conn: Connection,
        at: datetime,
        action: str,
        token: int,
        why: str,
        detail: dict[str, Any],
    ) -> None:
        if self._pg:  # several writers share one chain: serialise appends
            conn.execute(_LOCK_CHAIN)
            prev = self._chain_head(conn)
        else:  # one writer; the unique prev_hash refuses a fork if another process appended
            prev = self._last_hash or self._chain_head(conn)
        at = at.astimezone(UTC)
        event = AuditEvent(at, ACTOR, action, f"pack:{token}", why, _json(detail))
        digest = chain_hash(prev, event)
        self._sql.insert(
            conn,
            _audit,
            {
                "at": at,
                "actor": event.actor,
                "action": action,
                "subject": event.subject,
                "why": why,
                "detail": event.detail,
                "prev_hash": prev,
                "hash": digest,
            },
        )
        self._last_hash = digest

    def _chain_head(self, conn: Connection) -> str:
        row = self._sql.execute(conn, _last_hash).fetchone()
        return str(row[0]) if row else GENESIS
