"""Engines for the store's backends, and schema migrations with Alembic.

On SQLite every transaction that may write takes the write lock when it begins (BEGIN
IMMEDIATE), waiting up to `BUSY_TIMEOUT_S` for another process's transaction to end, so two
processes writing one file take turns instead of failing halfway; reads begin deferred (WAL
readers never wait). Migrations run one process at a time (a file lock on SQLite, an advisory
lock on PostgreSQL), so daemons started together on a fresh store all find it built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine

from robot_controller.store.errors import translated, unwritable
from robot_controller.store.locks import MIGRATION_SUFFIX, FileLock, sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 30.0
MIN_FREE_BYTES = 1 << 20  # a SQLite store is opened only with this much room on its disk
READ_ONLY = "fmd_read_only"  # execution option: this connection's transactions only read
_MIGRATION_LOCK = sa.text("SELECT pg_advisory_xact_lock(7420163)")


def driver_url(url: str) -> str:
    """The URL with the driver the store uses (psycopg 3 for `postgresql://`)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def create_engine_for(url: str) -> Engine:
    """An engine for a SQLite file (WAL, synchronous=FULL, BEGIN IMMEDIATE for writes) or a
    PostgreSQL server."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
        )
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(driver_url(url), pool_pre_ping=True)


def reader(engine: Engine) -> Engine:
    """The same engine (and pool) for transactions that only read."""
    return engine.execution_options(**{READ_ONLY: True})


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # the driver never begins: `_sqlite_begin` does
    cursor = dbapi_connection.cursor()
    main = next(row[2] for row in cursor.execute("PRAGMA database_list") if row[1] == "main")
    database = Path(main) if main else None  # None: in memory
    if database is not None:
        _check_room(database)
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _check_room(database: Path) -> None:
    """Refuse to open a store on a (nearly) full disk, with one line.

    The WAL index (`-shm`) is mapped into memory. SQLite extends it by writing one byte per
    4 KiB page; on a file system with smaller blocks the rest of each page stays a hole, and
    the first write through the mapping into a hole on a full disk is a SIGBUS that kills the
    process with nothing logged. Opened with room to spare, the index is built while writes
    still find blocks; once loading fills the disk, SQLite's own writes fail first, cleanly.
    """
    stat = os.statvfs(database.parent)
    free = stat.f_bavail * stat.f_frsize
    if free < MIN_FREE_BYTES:
        raise unwritable(
            str(database),
            "the disk is full",
            f"{free // 1024} KiB free, it needs {MIN_FREE_BYTES // 1024} KiB to open",
        )


def _sqlite_begin(conn: Connection) -> None:
    read_only = conn.get_execution_options().get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of the store (also used by `alembic` on the command line)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision, one process at a time."""
    path = sqlite_path(engine.url)
    lock = FileLock.take(path.with_name(path.name + MIGRATION_SUFFIX), wait=True) if path else None
    try:
        with translated(engine.url), engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(_MIGRATION_LOCK)  # held until this transaction ends
            command.upgrade(alembic_config(conn), "head")
    finally:
        if lock is not None:
            lock.release()
