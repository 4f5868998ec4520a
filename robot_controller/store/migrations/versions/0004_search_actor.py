"""search by actor: an index on who each audit event names

`fmd-robot log search --actor NAME` finds the packs with an event by that person. Without an
index it read every audit event (1,000,000 of them: 3.5 s on PostgreSQL for a name with no
events); a person's events are few beside the daemon's, so the index finds them at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 17:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_actor", ["actor"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_actor")
