"""Who may write a store: one daemon per SQLite file, one daemon per robot on PostgreSQL.

On SQLite the lock is an advisory `flock` on a file beside the database (`fmd.db.lock`) that
holds, as text, the pid, the command and the start time of its holder. On PostgreSQL it is a
session advisory lock keyed on the robot's name, held by a connection of its own whose
application name carries the pid and the command. Either is released when its holder closes
it or dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, make_url

from robot_controller.store.errors import StoreBusy, StoreMissing, store_name

LOCK_SUFFIX = ".lock"
MIGRATION_SUFFIX = ".migration.lock"
_ROBOTS = 7420162  # the advisory-lock namespace of robot names (two-key form)
_TRY_ROBOT = sa.text("SELECT pg_try_advisory_lock(:space, :key)")
_ROBOT_HOLDER = sa.text(
    "SELECT a.application_name, a.backend_start FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
    "AND l.classid = CAST(:space AS oid) AND l.objid = CAST(:key AS oid) "
    "AND l.pid <> pg_backend_pid()"
)


@dataclass(frozen=True, slots=True)
class Holder:
    """The process that holds a store."""

    pid: int | None
    command: str
    since: str

    def __str__(self) -> str:
        pid = "unknown" if self.pid is None else self.pid
        return f"pid {pid} ({self.command}) since {self.since}"

    def as_text(self) -> str:
        return f"pid={self.pid}\ncommand={self.command}\nsince={self.since}\n"

    @classmethod
    def parse(cls, text: str) -> Holder:
        """A holder from its lock file's text (whatever of it is there)."""
        fields = dict(line.partition("=")[::2] for line in text.splitlines())
        pid = fields.get("pid", "")
        return cls(
            int(pid) if pid.isdigit() else None,
            fields.get("command") or "unknown command",
            fields.get("since") or "an unknown time",
        )


def this_process() -> Holder:
    """This process as a holder: its pid, its command line and the time now."""
    command = " ".join(["fmd-robot", *sys.argv[1:]]) if sys.argv[1:] else "fmd-robot"
    return Holder(os.getpid(), command, datetime.now(UTC).isoformat(timespec="seconds"))


class StoreLock(Protocol):
    def release(self) -> None:
        """Let another process take the store."""


class FileLock:
    """An exclusive `flock` on a file, released when closed (or when the process dies)."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def take(cls, path: Path, *, wait: bool) -> FileLock:
        """The lock on `path` (created if missing); `BlockingIOError` when another holds it
        and `wait` is false."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd)

    def write(self, text: str) -> None:
        """Replace the file's text (who holds it)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _NoLock:
    """An in-memory SQLite store belongs to its process alone."""

    def release(self) -> None:
        return None


class RobotLock:
    """A PostgreSQL session advisory lock on one robot's name, on a connection of its own."""

    def __init__(self, engine: sa.Engine, conn: Connection) -> None:
        self._engine = engine
        self._conn: Connection | None = conn

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()  # the session ends: its advisory locks go with it
            self._engine.dispose()
            self._conn = None


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL (None: not SQLite, or in memory)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    database = str(url.database)
    if database.startswith("file:"):  # a SQLite URI filename
        database = database.removeprefix("file:").partition("?")[0]
    return Path(database)


def in_a_folder(path: Path) -> Path:
    """`path`, when its folder exists (SQLite creates a file, never a folder); `StoreMissing`
    naming the folder otherwise."""
    if not path.absolute().parent.is_dir():
        raise StoreMissing(f"store: {path}: there is no folder {path.absolute().parent}")
    return path


def hold_store(url: str, *, robot: str, holder: Holder | None = None) -> StoreLock:
    """The lock a writer of the store at `url` holds for its lifetime: the whole file on
    SQLite, robot `robot`'s share on PostgreSQL. `StoreBusy` (one line naming the holder) when
    another process has it; never waits."""
    parsed = make_url(url)
    holder = holder or this_process()
    if parsed.get_backend_name() == "postgresql":
        return _hold_robot(url, parsed, robot, holder)
    path = sqlite_path(parsed)
    if path is None:
        return _NoLock()
    lock_path = in_a_folder(path).with_name(path.name + LOCK_SUFFIX)
    try:
        lock = FileLock.take(lock_path, wait=False)
    except BlockingIOError:
        try:
            other = Holder.parse(lock_path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            other = Holder(None, "unknown command", "an unknown time")
        raise StoreBusy(f"store: {path} is in use by {other}", pid=other.pid) from None
    lock.write(holder.as_text())
    return lock


def _hold_robot(url: str, parsed: URL, robot: str, holder: Holder) -> RobotLock:
    from robot_controller.store.db import connect_args, driver_url  # db imports this module

    application = f"fmd-robot {holder.pid} {holder.command}"[:63]
    engine = sa.create_engine(
        driver_url(url),
        poolclass=sa.pool.NullPool,
        connect_args={**connect_args(parsed), "application_name": application},
    )
    key = {"space": _ROBOTS, "key": robot_key(robot)}
    conn = engine.connect()
    try:
        taken = bool(conn.execute(_TRY_ROBOT, key).scalar())
        other = None if taken else conn.execute(_ROBOT_HOLDER, key).first()
        conn.commit()
    except BaseException:
        conn.close()
        engine.dispose()
        raise
    if taken:
        return RobotLock(engine, conn)
    conn.close()
    engine.dispose()
    found = _pg_holder(other)
    raise StoreBusy(
        f"store: {store_name(parsed)}: robot {robot!r} is driven by {found}", pid=found.pid
    )


def _pg_holder(row: Any) -> Holder:
    """The holder of a robot lock from its pg_stat_activity row (None: gone meanwhile)."""
    if row is None:
        return Holder(None, "another daemon", "an unknown time")
    _, pid, command = [*str(row[0]).split(" ", 2), "", ""][:3]
    since = row[1].astimezone(UTC).isoformat(timespec="seconds")
    return Holder(int(pid) if pid.isdigit() else None, command or "another daemon", since)


def robot_key(robot: str) -> int:
    """A robot name's advisory-lock key: the same in every process (unlike `hash`)."""
    return int.from_bytes(hashlib.sha256(robot.encode()).digest()[:4], "big") & 0x7FFF_FFFF
