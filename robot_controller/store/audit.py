"""The audit hash chain: each event's hash is the SHA-256 of its canonical form, which holds
its sequence number, its content and the previous event's hash.

The canonical form (`canonical_form`) is the JSON object of the event's fields with sorted keys,
no whitespace and ASCII only: `seq`, `prev`, `at` (ISO 8601 in UTC), `actor`, `action`,
`subject`, `why`, `before`, `after` (canonical JSON text or null) and `detail` (canonical JSON
text). Sequence numbers are the table's ids, 1, 2, 3…, each one more than the event before it;
the first event follows `GENESIS` (or, after a prune, the hash of the last event pruned).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ClauseElement

from robot_controller.store.schema import audit_events, audit_prunes
from robot_controller.store.statements import HotPath

GENESIS = "0" * 64
_str = json.encoder.encode_basestring_ascii  # a JSON string, ASCII only, as json.dumps writes it
ACTOR = "daemon"
_SQLITE_FORM = len("2026-01-01 00:00:00.000000")
_LOCK_CHAIN = sa.text("SELECT pg_advisory_xact_lock(7420161)")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who (`actor`) did what (`action` to `subject`), when (UTC), why, with the values a change
    replaced (`before`) and set (`after`); each JSON text in canonical form (or None)."""

    at: datetime
    actor: str
    action: str
    subject: str
    why: str
    detail: str  # canonical JSON
    before: str | None = None
    after: str | None = None


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


def actor_event(
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    why: str,
    /,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    **detail: Any,
) -> AuditEvent:
    """An event a named person (or command) caused, with the values it replaced and set."""
    return AuditEvent(
        at.astimezone(UTC),
        actor,
        action,
        subject,
        why,
        canonical_json(detail),
        None if before is None else canonical_json(before),
        None if after is None else canonical_json(after),
    )


def canonical_form(seq: int, prev_hash: str, event: AuditEvent) -> str:
    """The text an event's hash is taken over (see the module's docstring)."""
    return canonical_text(seq, prev_hash, utc_iso(event.at), event)


def canonical_text(seq: int, prev: str, at: str, e: AuditEvent | tuple[Any, ...]) -> str:
    """The canonical form of an event (or of its fields: actor, action, subject, why, detail,
    before, after) at `at` (ISO 8601 in UTC): `canonical_json` of its object, written out key by
    key for speed (the same text, as `tests/test_audit_chain.py` proves)."""
    if isinstance(e, AuditEvent):
        actor, action, subject, why, detail, before, after = (
            e.actor, e.action, e.subject, e.why, e.detail, e.before, e.after)  # fmt: skip
    else:
        actor, action, subject, why, detail, before, after = e
    return (
        f'{{"action":{_str(action)},"actor":{_str(actor)},"after":{_opt(after)},'
        f'"at":{_str(at)},"before":{_opt(before)},"detail":{_str(detail)},'
        f'"prev":{_str(prev)},"seq":{int(seq)},"subject":{_str(subject)},"why":{_str(why)}}}'
    )


def _opt(text: str | None) -> str:
    return "null" if text is None else _str(text)


def utc_iso(at: datetime | str) -> str:
    """An aware datetime (or a SQLite timestamp, stored in UTC) as `datetime.isoformat` writes
    it in UTC; SQLAlchemy's SQLite form (`YYYY-MM-DD HH:MM:SS.ffffff`) is rewritten directly."""
    if isinstance(at, str):
        if len(at) == _SQLITE_FORM and at[10] == " " and at[19] == ".":
            whole = at[:10] + "T" + at[11:19]
            return f"{whole}+00:00" if at.endswith(".000000") else f"{whole}{at[19:]}+00:00"
        return datetime.fromisoformat(at).replace(tzinfo=UTC).isoformat()
    return at.astimezone(UTC).isoformat()


def chain_hash(seq: int, prev_hash: str, event: AuditEvent) -> str:
    """The hash of event number `seq`, chained to the one before it."""
    return hashlib.sha256(canonical_form(seq, prev_hash, event).encode()).hexdigest()


def event_of(row: Any) -> AuditEvent:
    """The event an `audit_events` row holds."""
    return AuditEvent(
        row.at, row.actor, row.action, row.subject, row.why, row.detail, row.before, row.after
    )


def _last_event() -> ClauseElement:
    head = sa.select(audit_events.c.id, audit_events.c.hash)
    return head.order_by(audit_events.c.id.desc()).limit(1)


def _last_prune() -> sa.Select[Any]:
    return (
        sa.select(audit_prunes.c.through_seq, audit_prunes.c.head_hash)
        .order_by(audit_prunes.c.through_seq.desc())
        .limit(1)
    )


def chain_start(conn: Connection) -> tuple[int, str]:
    """The seq and hash the remaining chain follows: `(0, GENESIS)`, or the last prune's cut."""
    row = conn.execute(_last_prune()).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


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
        self._known: tuple[object, tuple[int, str]] | None = None  # (transaction, head)

    def append(self, conn: Connection, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        transaction = conn.get_transaction()
        known = self._known
        if known is not None and known[0] is transaction:
            seq, prev = known[1]
        else:
            if self._lock:
                conn.execute(_LOCK_CHAIN)
            seq, prev = self._read_head(conn)
        for event in events:
            seq += 1
            digest = chain_hash(seq, prev, event)
            self._sql.insert(
                conn,
                audit_events,
                {
                    "id": seq,
                    "at": event.at,
                    "actor": event.actor,
                    "action": event.action,
                    "subject": event.subject,
                    "why": event.why,
                    "detail": event.detail,
                    "prev_hash": prev,
                    "hash": digest,
                    "before": event.before,
                    "after": event.after,
                },
            )
            prev = digest
        self._known = (transaction, (seq, prev))

    def _read_head(self, conn: Connection) -> tuple[int, str]:
        row = self._sql.execute(conn, _last_event).fetchone()
        return (int(row[0]), str(row[1])) if row else chain_start(conn)
