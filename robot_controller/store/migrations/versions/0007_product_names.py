"""product names: the national system's name of a pack's product, as its answer gave it

A REST hub (and the mock) answers a verify with the product's name; the bench shows it above
the product code, and a pack's history keeps it. Rows written before have none (NULL), as do
the answers of a SOAP hub, whose schema carries no name.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product_name", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("verifications", schema=None) as batch_op:
        batch_op.drop_column("product_name")
