"""The tables of the verification log. Rows are appended; only the outbox and jobs change state.

The one declared schema: the Alembic migrations build exactly this (a test compares them), and
the hot path's SQL is generated from these tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from robot_controller.store.records import DEFAULT_ROBOT


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
        if not isinstance(value, datetime):
            raise TypeError(f"the database returned {value!r} for a timestamp")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


TABLES = sa.MetaData()


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True)


def _token() -> sa.Column[int]:
    return sa.Column("token", sa.Integer, sa.ForeignKey("scans.id"), nullable=False, index=True)


def _text(name: str, *, nullable: bool = False, **kw: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String, nullable=nullable, **kw)


def _at(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, UTCDateTime, nullable=nullable)


scans = sa.Table(
    "scans",  # a raw scan, committed before anything acts on it; its id is the pack's token
    TABLES,
    _id(),
    sa.Column("raw", sa.LargeBinary, nullable=False),  # UTF-8, surrogatepass: any str survives
    _text("symbology", nullable=True),
    _text("source"),
    _at("scanned_at"),
    _at("recorded_at"),
    _text("robot", nullable=True),  # the robot whose daemon took it (None: before 0002)
    sa.Index("ix_scans_recorded_at", "recorded_at"),
)


def of_robot(robot: str) -> sa.ColumnElement[bool]:
    """Scans taken by `robot`'s daemon (those recorded before names: the default robot's)."""
    return sa.func.coalesce(scans.c.robot, DEFAULT_ROBOT) == robot


decisions = sa.Table(
    "decisions",  # what the scan parsed to and where the policy sent the pack
    TABLES,
    _id(),
    _token(),
    _text("stage"),  # a Stage
    _text("format"),
    _text("scheme", nullable=True),
    _text("product_code", nullable=True),
    _text("serial", nullable=True),
    _text("batch", nullable=True),
    _text("expiry_raw", nullable=True),
    _text("problems"),  # JSON list of {code, severity, message}
    _text("action"),
    _text("why"),
    _text("message"),
    _text("decommission_to", nullable=True),
    _at("decided_at"),
    sa.Index("ix_decisions_ui", "product_code", "serial"),
    sa.Index("ix_decisions_batch", "batch"),
)

verifications = sa.Table(
    "verifications",  # one hub call: the request, the answer (or transport error), its latency
    TABLES,
    _id(),
    _token(),
    _text("operation"),
    _text("client_trx_id", index=True),
    _text("request"),  # JSON
    _text("outcome", nullable=True),  # None: no answer (error set)
    _text("return_code", nullable=True),
    _text("state", nullable=True),
    _text("reasons", nullable=True),
    _text("hub_trx_id", nullable=True),
    _text("alert_id", nullable=True),
    _text("message"),
    _text("error", nullable=True),
    sa.Column("latency_s", sa.Float, nullable=False),
    _at("at"),
    _text("product_name", nullable=True),  # the hub's name of the product, when it gave one
)

outbox = sa.Table(
    "outbox",  # a state change for the hub, committed before it is sent, kept until settled
    TABLES,
    _id(),
    _token(),
    _text("operation"),  # a HubOperation: decommission | undo | verify
    _text("reason", nullable=True),
    _text("client_trx_id", unique=True),
    _text("scheme"),
    _text("product_code"),
    _text("serial"),
    _text("batch"),
    _text("expiry_raw"),
    _text("nhrn", nullable=True),
    _text("nhrn_ai", nullable=True),
    _text("status", index=True),  # an IntentStatus
    sa.Column("attempts", sa.Integer, nullable=False),
    _text("last_code", nullable=True),
    _at("created_at"),
    _at("updated_at"),
    _text("actor", nullable=True),  # who asked for it (None: the daemon, before 0003)
    _text("note", nullable=True),  # the person's reason for a pack action
    _text("location", nullable=True),  # the premises ([site] location) that queued it
    _text("claimed_by", nullable=True),  # the robot whose daemon is sending it now
    _at("claimed_at", nullable=True),
)

jobs = sa.Table(
    "robot_jobs",  # a robot job: committed as started before the robot is asked to move
    TABLES,
    _id(),
    _token(),
    sa.Column("code", sa.Integer, nullable=False),
    sa.Column("reason", sa.Integer, nullable=False),
    _text("status"),  # a JobStatus
    sa.Column("result", sa.Integer, nullable=True),
    sa.Column("location", sa.BigInteger, nullable=True),  # a WWKS2 pack id is 64-bit
    sa.Column("fault", sa.Integer, nullable=True),
    _text("message"),
    _at("started_at"),
    _at("done_at", nullable=True),
    _text("robot", nullable=True),  # the robot asked to move the pack (None: before 0002)
)

outcomes = sa.Table(
    "outcomes",  # the final route of a pack; a scan without one is unfinished (or lost)
    TABLES,
    sa.Column("token", sa.Integer, sa.ForeignKey("scans.id"), primary_key=True),
    _text("route"),  # a Route
    _text("why"),
    _text("message"),
    sa.Column("location", sa.BigInteger, nullable=True),
    sa.Column("flagged", sa.Boolean, nullable=False),  # the operator must check this pack
    _text("product_code", nullable=True),
    _text("serial", nullable=True),
    _at("at"),
    sa.Index("ix_outcomes_ui", "product_code", "serial"),
)

alerts = sa.Table(
    "alerts",  # the alert register: every L5 alert the hub raised for one of our packs
    TABLES,
    _id(),
    _token(),
    _text("alert_id", nullable=True),
    _text("return_code"),
    _text("message"),
    _text("status"),  # an AlertState
    _at("raised_at"),
    _text("cause", nullable=True),  # an AlertCause, once closed
    _at("updated_at", nullable=True),
    _text("product_code", nullable=True),
    _text("serial", nullable=True),
    _text("batch", nullable=True),
    _text("location", nullable=True),  # the premises ([site] location) the pack was at
)

alert_transitions = sa.Table(
    "alert_transitions",  # every change of an alert case's state: who, when, why
    TABLES,
    _id(),
    sa.Column("alert", sa.Integer, sa.ForeignKey("alerts.id"), nullable=False, index=True),
    _text("from_state"),
    _text("to_state"),
    _text("cause", nullable=True),
    _text("reason"),
    _text("actor"),
    _at("at"),
)

audit_events = sa.Table(
    "audit_events",  # append-only, hash-chained: who did what, when and why
    TABLES,
    _id(),
    _at("at"),
    _text("actor"),
    _text("action"),
    _text("subject"),
    _text("why"),
    _text("detail"),  # canonical JSON
    _text("prev_hash", unique=True),  # the chain cannot fork
    _text("hash", unique=True),
    _text("before", nullable=True),  # canonical JSON: the values a change replaced
    _text("after", nullable=True),  # canonical JSON: the values it set
    sa.Index("ix_audit_events_subject", "subject"),
    sa.Index("ix_audit_events_at", "at"),
    sa.Index("ix_audit_events_actor", "actor"),  # `log search --actor` (migration 0004)
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",  # signed heads of the chain (also written to a folder outside the store)
    TABLES,
    _id(),
    sa.Column("seq", sa.Integer, nullable=False),  # the last event it covers
    _text("head_hash"),
    _at("at"),
    _text("key_id"),
    _text("signature"),  # base64 Ed25519 over the checkpoint's text
    _text("robot", nullable=True),  # whose daemon signed it
)

audit_prunes = sa.Table(
    "audit_prunes",  # each prune: the chain now starts after `through_seq`, whose hash is kept
    TABLES,
    _id(),
    sa.Column("through_seq", sa.Integer, nullable=False),
    _text("head_hash"),
    sa.Column("checkpoint", sa.Integer, sa.ForeignKey("audit_checkpoints.id"), nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    _text("actor"),
    _text("why"),
    _at("at"),
)

web_users = sa.Table(
    "web_users",  # one per person who uses the screens or the API; the token only as its hash
    TABLES,
    _id(),
    _text("name", unique=True),
    _text("role"),  # operator | compliance | admin
    _text("token_hash", unique=True),  # SHA-256 hex of the token, never the token itself
    _text("token_prefix"),  # the token's first characters, to tell tokens apart in a list
    _at("created_at"),
    _at("revoked_at", nullable=True),
    _at("last_used_at", nullable=True),
)
