"""Alembic environment: runs the store's migrations on the connection the store hands over."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from robot_controller.store.schema import TABLES

config = context.config


def run(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=TABLES, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()


handed_over = config.attributes.get("connection")
if handed_over is not None:  # `store.db.migrate`: inside its transaction, under its lock
    run(handed_over)
else:  # the alembic command line: take the URL from the environment
    engine = sa.create_engine(os.environ.get("FMD_STORE_URL", "sqlite:///fmd-robot.db"))
    with engine.begin() as connection:
        run(connection)
