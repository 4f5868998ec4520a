"""Engines for the store's backends, and schema migrations with Alembic.

On SQLite every transaction that may write takes the write lock when it begins (BEGIN
IMMEDIATE), waiting up to `BUSY_TIMEOUT_S` for another process's transaction to end, so two
processes writing one file take turns instead of failing halfway; reads begin deferred (WAL
readers never wait). Migrations run one process at a time (a file lock on SQLite, an advisory
lock on PostgreSQL), so daemons started together on a fresh store all find it built. A store
opened read-only is neither created nor migrated: a SQLite file is opened read-only, and a
missing file or schema is `StoreMissing`. A PostgreSQL server that does not answer fails
after `CONNECT_TIMEOUT_S` (unless the URL sets `connect_timeout`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, Engine, make_url

from robot_controller.store.errors import StoreMissing, translated, unwritable
from robot_controller.store.locks import MIGRATION_SUFFIX, FileLock, in_a_folder, sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10  # a PostgreSQL server that does not answer: give up after this long
MIN_FREE_BYTES = 1 << 20  # a SQLite store is opened only with this much room on its disk
READ_ONLY = "fmd_read_only"  # execution option: this connection's transactions only read
_MIGRATION_LOCK = sa.text("SELECT pg_advisory_xact_lock(7420163)")


def driver_url(url: str) -> str:
    """The URL with the driver the store uses (psycopg 3 for `postgresql://`)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def connect_args(url: URL) -> dict[str, Any]:
    """The driver's connection arguments for a PostgreSQL URL: a connect timeout, unless the
    URL sets its own."""
    return {} if "connect_timeout" in url.query else {"connect_timeout": CONNECT_TIMEOUT_S}


def create_engine_for(url: str, *, read_only: bool = False) -> Engine:
    """An engine for a SQLite file (WAL, synchronous=FULL, BEGIN IMMEDIATE for writes) or a
    PostgreSQL server; `read_only`: a SQLite file that exists, opened read-only."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if read_only:
            url = _read_only_sqlite(path)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
        )
        sa.event.listen(engine, "connect", _sqlite_read_only if read_only else _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(driver_url(url), pool_pre_ping=True, connect_args=connect_args(parsed))


def _read_only_sqlite(path: Path | None) -> str:
    """The URL that opens the SQLite file at `path` read-only (`StoreMissing` when it does not
    exist: nothing is created)."""
    if path is None:
        raise StoreMissing("store: a store in memory cannot be opened read-only")
    if not in_a_folder(path).is_file():
        raise StoreMissing(f"store: {path.absolute()} does not exist (nothing recorded there yet)")
    return f"sqlite:///{path.absolute().as_uri()}?mode=ro&uri=true"


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


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA query_only=ON")


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
    lock = (
        FileLock.take(in_a_folder(path).with_name(path.name + MIGRATION_SUFFIX), wait=True)
        if path
        else None
    )
    try:
        with translated(engine.url), engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(_MIGRATION_LOCK)  # held until this transaction ends
            command.upgrade(alembic_config(conn), "head")
    finally:
        if lock is not None:
            lock.release()


def check_schema(engine: Engine, name: str) -> None:
    """`StoreMissing` unless the store (`name`, as the operator knows it) holds the schema this
    version reads (its newest revision): a command that only reads never creates or upgrades
    it."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with reader(engine).connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        raise StoreMissing(
            f"store: {name} holds no fmd-robot store (no schema; the daemon creates it when it "
            "first starts)"
        )
    if current != head:
        raise StoreMissing(
            f"store: {name} has schema revision {current}, this fmd-robot reads {head}: start "
            "the daemon of this version once to upgrade it"
        )
