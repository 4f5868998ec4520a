"""Connections and transactions: short write transactions, batches, and the one commit path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

from robot_controller.store.audit import AuditChain, AuditEvent
from robot_controller.store.db import reader
from robot_controller.store.errors import translated

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Written(Generic[T]):
    """What a write step returns: its value, and the audit events that record it."""

    value: T
    events: tuple[AuditEvent, ...]


class Transactions:
    """Runs writes and reads on an engine; a batch makes this thread's calls one transaction.

    A driver error meaning the store cannot be written is raised as `StoreUnwritable`.
    """

    def __init__(self, engine: Engine, chain: AuditChain) -> None:
        self.engine = engine
        self._reader = reader(engine)
        self._chain = chain
        self._batch = threading.local()

    def write(self, step: Callable[[Connection], Written[T]]) -> T:
        """Run a write step in a transaction (or the running batch's) and chain its events."""
        with self._transaction() as conn:
            written = step(conn)
            self._chain.append(conn, written.events)
        return written.value

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run every store call made inside it, in this thread, in one transaction.

        Nested inside another batch, it simply joins that one.
        """
        if self._joined() is not None:
            yield
            return
        with self._transaction() as conn:
            self._batch.conn = conn
            try:
                yield
            finally:
                self._batch.conn = None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading (or the running batch's, to see its own writes)."""
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        with translated(self.engine.url), self._reader.connect() as conn:
            yield conn

    def _joined(self) -> Connection | None:
        """The connection of the batch running in this thread, if any."""
        conn: Connection | None = getattr(self._batch, "conn", None)
        return conn

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction (or the running batch's)."""
        joined = self._joined()
        if joined is not None:
            yield joined
            return
        with translated(self.engine.url), self.engine.begin() as conn:
            yield conn
