"""compliance: provable audit log (seq, before/after, checkpoints, prunes, append-only
triggers), the alert register's cases and transitions, who asked for each outbox intent and
where, outbox claims, and indexes for search and history

Existing audit events are renumbered 1, 2, 3… and re-hashed in the canonical form of
`robot_controller.store.audit` (no checkpoint can exist yet), then the triggers are installed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import robot_controller.store.schema
from robot_controller.store.append_only import drop_statements, install_statements
from robot_controller.store.audit import GENESIS, AuditEvent, chain_hash

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UTC = robot_controller.store.schema.UTCDateTime(timezone=True)
_CHUNK = 5000


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("before", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("after", sa.String(), nullable=True))
        batch_op.create_index("ix_audit_events_subject", ["subject"], unique=False)
        batch_op.create_index("ix_audit_events_at", ["at"], unique=False)
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("robot", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_prunes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("through_seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(), nullable=False),
        sa.Column("checkpoint", sa.Integer(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("why", sa.String(), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["checkpoint"], ["audit_checkpoints.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cause", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", _UTC, nullable=True))
        batch_op.add_column(sa.Column("product_code", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("serial", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("batch", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("location", sa.String(), nullable=True))
    op.create_table(
        "alert_transitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(), nullable=False),
        sa.Column("to_state", sa.String(), nullable=False),
        sa.Column("cause", sa.String(), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["alert"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alert_transitions", schema=None) as batch_op:
        batch_op.create_index("ix_alert_transitions_alert", ["alert"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("location", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("claimed_by", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("claimed_at", _UTC, nullable=True))
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index("ix_decisions_ui", ["product_code", "serial"], unique=False)
        batch_op.create_index("ix_decisions_batch", ["batch"], unique=False)
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index("ix_scans_recorded_at", ["recorded_at"], unique=False)
    _rehash()
    for statement in install_statements(op.get_bind().dialect.name):
        op.execute(statement)


def _rehash() -> None:
    """Renumber the existing events 1, 2, 3… in their order and hash them in the new form."""
    conn = op.get_bind()
    events = sa.table(
        "audit_events",
        *(sa.column(name) for name in ("id", "actor", "action", "subject", "why", "detail",
                                        "before", "after", "prev_hash", "hash")),
        sa.column("at", _UTC),
    )  # fmt: skip
    ids = [row[0] for row in conn.execute(sa.select(events.c.id).order_by(events.c.id))]
    seq, prev = 0, GENESIS
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = conn.execute(
            sa.select(events).where(events.c.id.in_(chunk)).order_by(events.c.id)
        ).all()
        for row in rows:
            seq += 1
            event = AuditEvent(row.at, row.actor, row.action, row.subject, row.why, row.detail)
            digest = chain_hash(seq, prev, event)
            conn.execute(
                events.update()
                .where(events.c.id == row.id)
                .values(id=seq, prev_hash=prev, hash=digest)
            )
            prev = digest


def downgrade() -> None:
    for statement in drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_recorded_at")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_decisions_batch")
        batch_op.drop_index("ix_decisions_ui")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for name in ("claimed_at", "claimed_by", "location", "note", "actor"):
            batch_op.drop_column(name)
    op.drop_table("alert_transitions")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        for name in ("location", "batch", "serial", "product_code", "updated_at", "cause"):
            batch_op.drop_column(name)
    op.drop_table("audit_prunes")
    op.drop_table("audit_checkpoints")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_at")
        batch_op.drop_index("ix_audit_events_subject")
        batch_op.drop_column("after")
        batch_op.drop_column("before")
