"""robot names: which robot's daemon took each scan and ran each job

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("robot", sa.String(), nullable=True))
    with op.batch_alter_table("robot_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("robot", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("robot_jobs", schema=None) as batch_op:
        batch_op.drop_column("robot")
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_column("robot")
