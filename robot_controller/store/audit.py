"""The audit hash chain: each event's hash covers its content and the previous event's hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement

from robot_controller.store.schema import audit_events
from robot_controller.store.statements import HotPath

GENESIS = "0" * 64
ACTOR = "daemon"
_LOCK_CHAIN = sa.text("SELECT pg_advisory_xact_lock(7420161)")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: str
    action: str
    subject: str
    why: str
    detail: str  # canonical JSON


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The result of re-computing the chain: `broken_at` is the id of the first bad event."""

    ok: bool
    events: int
    broken_at: int | None = None


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def pack_event(at: datetime, action: str, token: int, why: str, /, **detail: Any) -> AuditEvent:
    """The daemon's event about one pack."""
    return AuditEvent(
        at.astimezone(UTC), ACTOR, action, f"pack:{token}", why, canonical_json(detail)
    )


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    """The hash of one event, chained to the one before it."""
    body = canonical_json(
        [prev_hash, event.at.isoformat(), event.actor, event.action, event.subject, event.why]
    )
    return hashlib.sha256(f"{body}{event.detail}".encode()).hexdigest()


def check_chain(rows: Iterable[tuple[int, AuditEvent, str, str]]) -> ChainCheck:
    """Re-compute the chain over (id, event, prev_hash, hash) rows in id order."""
    expected_prev = GENESIS
    count = 0
    for row_id, event, prev_hash, stored_hash in rows:
        count += 1
        if prev_hash != expected_prev or chain_hash(prev_hash, event) != stored_hash:
            return ChainCheck(ok=False, events=count, broken_at=row_id)
        expected_prev = stored_hash
    return ChainCheck(ok=True, events=count)


def _last_hash() -> ClauseElement:
    return sa.select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)


class AuditChain:
    """Appends events to the chain inside the caller's transaction.

    The head is read once in each transaction, never remembered across them, since another
    process may have appended in between. Appends are serialised: on PostgreSQL by a
    transaction lock taken first, on SQLite by the write lock every write transaction takes
    when it begins; so within one transaction the head it last wrote stays the head. The
    unique `prev_hash` refuses a fork should they ever not be serialised.
    """

    def __init__(self, sql: HotPath) -> None:
        self._sql = sql
        self._lock = sql.dialect.name == "postgresql"
        self._known: tuple[object, str] | None = None  # (transaction, head it wrote)

    def append(self, conn: Connection, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        transaction = conn.get_transaction()
        known = self._known
        if known is not None and known[0] is transaction:
            prev = known[1]
        else:
            if self._lock:
                conn.execute(_LOCK_CHAIN)
            prev = self._read_head(conn)
        for event in events:
            digest = chain_hash(prev, event)
            self._sql.insert(
                conn,
                audit_events,
                {
                    "at": event.at,
                    "actor": event.actor,
                    "action": event.action,
                    "subject": event.subject,
                    "why": event.why,
                    "detail": event.detail,
                    "prev_hash": prev,
                    "hash": digest,
                },
            )
            prev = digest
        self._known = (transaction, prev)

    def check(self, conn: Connection) -> ChainCheck:
        """Re-compute the whole chain."""
        rows = conn.execute(sa.select(audit_events).order_by(audit_events.c.id))
        return check_chain(
            (r.id, AuditEvent(r.at, r.actor, r.action, r.subject, r.why, r.detail), r.prev_hash,
             r.hash)
            for r in rows
        )  # fmt: skip

    def _read_head(self, conn: Connection) -> str:
        row = self._sql.execute(conn, _last_hash).fetchone()
        return str(row[0]) if row else GENESIS
