"""The store's failures, each one line naming the store, and the driver errors they stand for."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

# SQLite primary result codes (the low byte of an extended code) and what they mean here
_SQLITE_UNWRITABLE = {
    8: "it is read-only",  # SQLITE_READONLY
    10: "an I/O error",  # SQLITE_IOERR
    13: "the disk is full",  # SQLITE_FULL
}
# PostgreSQL SQLSTATEs
_POSTGRES_UNWRITABLE = {
    "53100": "the disk is full",  # disk_full
    "25006": "it is read-only",  # read_only_sql_transaction
    "58030": "an I/O error",  # io_error
}


class StoreError(Exception):
    """The store cannot be used as asked; the message is one line naming the store."""


class StoreBusy(StoreError):
    """Another process holds the store (SQLite) or this robot's share of it (PostgreSQL)."""

    def __init__(self, message: str, *, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid  # of the holder, when known


class StoreMissing(StoreError):
    """No store where the URL points, for a command that creates nothing: a SQLite file or its
    folder that does not exist, a database without the schema (or another version's)."""


class StoreUnwritable(StoreError):
    """The store cannot be written (a full disk, a read-only store, an I/O error): the step
    that hit it was rolled back, and nothing after it can be recorded."""


def store_name(url: URL) -> str:
    """The store as the operator knows it: a SQLite file's path, a server URL without password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def unwritable_cause(error: BaseException) -> str | None:
    """Why a driver error means the store cannot be written (None: it means something else)."""
    original = error.orig if isinstance(error, DBAPIError) else error
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        return None if code is None else _SQLITE_UNWRITABLE.get(code & 0xFF)
    return _POSTGRES_UNWRITABLE.get(str(getattr(original, "sqlstate", "")))


@contextmanager
def translated(url: URL) -> Iterator[None]:
    """Raise a driver error that means "cannot be written" as `StoreUnwritable` (wrapped by
    SQLAlchemy, or raw from the hot path's cursors)."""
    try:
        yield
    except Exception as error:
        cause = unwritable_cause(error)
        if cause is None:
            raise
        original = str(error.orig if isinstance(error, DBAPIError) else error).strip()
        detail = original.splitlines()[0] if original else type(error).__name__
        raise unwritable(store_name(url), cause, detail) from error


def unwritable(store: str, cause: str, detail: str) -> StoreUnwritable:
    """The one line saying that `store` cannot be written, why, and that nothing is half-done."""
    return StoreUnwritable(
        f"store: {store} cannot be written: {cause} ({detail}); the step in hand was rolled "
        "back, nothing is half-recorded"
    )
