"""Alembic environment: runs the store's migrations on the engine the store hands over."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import context

from robot_controller.store.schema import TABLES

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # the alembic command line: take the URL from the environment
    engine = sa.create_engine(os.environ.get("FMD_STORE_URL", "sqlite:///fmd-robot.db"))

with engine.begin() as connection:
    context.configure(
        connection=connection, target_metadata=TABLES, render_as_batch=True, compare_type=True
    )
    with context.begin_transaction():
        context.run_migrations()
