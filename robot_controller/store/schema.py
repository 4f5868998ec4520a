"""The tables of the verification log. Rows are appended; only the outbox and jobs change state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _at(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class ScanRow(SQLModel, table=True):
    """A raw scan, committed before anything acts on it. Its id is the pack's token."""

    __tablename__ = "scans"
    id: int | None = Field(default=None, primary_key=True)
    raw: bytes = Field(sa_type=sa.LargeBinary)  # UTF-8 with surrogatepass: any str survives
    symbology: str | None = None
    source: str
    scanned_at: datetime = _at()
    recorded_at: datetime = _at()


class DecisionRow(SQLModel, table=True):
    """What the scan parsed to and where the policy sent the pack."""

    __tablename__ = "decisions"
    id: int | None = Field(default=None, primary_key=True)
    token: int = Field(foreign_key="scans.id", index=True)
    stage: str  # "verify" (first decision) or "decommission" (settled after it)
    format: str
    scheme: str | None = None
    product_code: str | None = None
    serial: str | None = None
    batch: str | None = None
    expiry_raw: str | None = None
    problems: str  # JSON list of {code, severity, message}
    action: str
    why: str
    message: str
    decommission_to: str | None = None
    decided_at: datetime = _at()


class VerificationRow(SQLModel, table=True):
    """One hub transaction: the request, the answer (or the transport error) and its latency."""

    __tablename__ = "verifications"
    id: int | None = Field(default=None, primary_key=True)
    token: int = Field(foreign_key="scans.id", index=True)
    operation: str
    client_trx_id: str = Field(index=True)
    request: str  # JSON
    outcome: str | None = None  # None: no answer (error set)
    return_code: str | None = None
    state: str | None = None
    reasons: str | None = None
    hub_trx_id: str | None = None
    alert_id: str | None = None
    message: str = ""
    error: str | None = None
    latency_s: float
    at: datetime = _at()


class OutboxRow(SQLModel, table=True):
    """A state change for the hub, committed before it is sent and kept until it is settled."""

    __tablename__ = "outbox"
    id: int | None = Field(default=None, primary_key=True)
    token: int = Field(foreign_key="scans.id", index=True)
    operation: str  # decommission | undo | verify
    reason: str | None = None
    client_trx_id: str = Field(unique=True)
    scheme: str
    product_code: str
    serial: str
    batch: str
    expiry_raw: str
    nhrn: str | None = None
    nhrn_ai: str | None = None
    status: str = Field(index=True)  # pending | done | failed | flagged
    attempts: int = 0
    last_code: str | None = None
    created_at: datetime = _at()
    updated_at: datetime = _at()


class JobRow(SQLModel, table=True):
    """A robot job: committed as started before the robot is asked to move."""

    __tablename__ = "robot_jobs"
    id: int | None = Field(default=None, primary_key=True)
    token: int = Field(foreign_key="scans.id", index=True)
    code: int
    reason: int
    status: str  # started | done | unknown
    result: int | None = None
    location: int | None = None
    fault: int | None = None
    message: str = ""
    started_at: datetime = _at()
    done_at: datetime | None = _at(default=None)


class OutcomeRow(SQLModel, table=True):
    """The final route of a pack. A scan without one is unfinished (or lost)."""

    __tablename__ = "outcomes"
    __table_args__ = (sa.Index("ix_outcomes_ui", "product_code", "serial"),)
    token: int = Field(foreign_key="scans.id", primary_key=True)
    route: str  # shelved | rejected | quarantined
    why: str
    message: str
    location: int | None = None
    flagged: bool = False  # the operator must check this pack
    product_code: str | None = None
    serial: str | None = None
    at: datetime = _at()


class AlertRow(SQLModel, table=True):
    """The alert register: every L5 alert the hub raised for one of our packs."""

    __tablename__ = "alerts"
    id: int | None = Field(default=None, primary_key=True)
    token: int = Field(foreign_key="scans.id", index=True)
    alert_id: str | None = None
    return_code: str
    message: str
    status: str = "open"
    raised_at: datetime = _at()


class AuditRow(SQLModel, table=True):
    """An append-only, hash-chained audit event: who did what, when and why."""

    __tablename__ = "audit_events"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _at()
    actor: str
    action: str
    subject: str
    why: str
    detail: str  # JSON
    prev_hash: str = Field(unique=True)  # the chain cannot fork
    hash: str = Field(unique=True)


TABLES = SQLModel.metadata
