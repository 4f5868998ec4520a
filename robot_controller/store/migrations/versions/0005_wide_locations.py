"""wide locations: a robot's pack id is 64-bit

A WWKS2 robot names each stored pack by a 64-bit id (16 digits on a live robot, wwks2.md §5.4),
and that id is where the pack is (it is what an output of that pack names). The location of a
robot job and of an outcome were 32-bit integers, which PostgreSQL refuses such an id in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLES = ("robot_jobs", "outcomes")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "location", existing_type=sa.Integer(), type_=sa.BigInteger(), nullable=True
            )


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "location", existing_type=sa.BigInteger(), type_=sa.Integer(), nullable=True
            )
