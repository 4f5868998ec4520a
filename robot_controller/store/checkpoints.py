"""The audit chain as a verifier reads it: its head, its signed checkpoints, its prunes, and its
rows streamed in seq order (raw values, no type processing: a million rows in seconds)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from robot_controller.store.audit import chain_start
from robot_controller.store.chain_walk import ChainWalk, Row, walk
from robot_controller.store.schema import audit_checkpoints, audit_events, audit_prunes

STREAM_ROWS = 5000
_ROWS = sa.text(
    'SELECT id, "at", actor, action, subject, why, detail, "before", "after", prev_hash, hash '
    "FROM audit_events WHERE id > :after ORDER BY id"
)


@dataclass(frozen=True, slots=True)
class CheckpointRow:
    """A signed checkpoint as the store keeps it (`signature`: base64 Ed25519)."""

    id: int
    seq: int
    head_hash: str
    at: datetime
    key_id: str
    signature: str
    robot: str | None


@dataclass(frozen=True, slots=True)
class PruneRow:
    """A prune: the chain now starts after `through_seq`, whose hash was `head_hash`, at the
    checkpoint `checkpoint`; `events` were deleted, by `actor`, for `why`."""

    id: int
    through_seq: int
    head_hash: str
    checkpoint: int
    events: int
    actor: str
    why: str
    at: datetime


def head(conn: Connection) -> tuple[int, str]:
    """The seq and hash of the chain's last event (the chain's start when it has none)."""
    query = sa.select(audit_events.c.id, audit_events.c.hash)
    row = conn.execute(query.order_by(audit_events.c.id.desc()).limit(1)).fetchone()
    return (int(row[0]), str(row[1])) if row else chain_start(conn)


def checkpoints(conn: Connection) -> list[CheckpointRow]:
    """Every checkpoint, oldest first."""
    rows = conn.execute(sa.select(audit_checkpoints).order_by(audit_checkpoints.c.id))
    return [CheckpointRow(**row._mapping) for row in rows]


def last_checkpoint(conn: Connection) -> CheckpointRow | None:
    """The checkpoint of the furthest seq (the newest of those)."""
    query = sa.select(audit_checkpoints).order_by(
        audit_checkpoints.c.seq.desc(), audit_checkpoints.c.id.desc()
    )
    row = conn.execute(query.limit(1)).fetchone()
    return CheckpointRow(**row._mapping) if row else None


def add_checkpoint(
    conn: Connection,
    seq: int,
    head_hash: str,
    at: datetime,
    key_id: str,
    signature: str,
    robot: str | None,
) -> CheckpointRow:
    insert = audit_checkpoints.insert().values(
        seq=seq, head_hash=head_hash, at=at, key_id=key_id, signature=signature, robot=robot
    )
    new_id: int = conn.execute(insert.returning(audit_checkpoints.c.id)).scalar_one()
    return CheckpointRow(int(new_id), seq, head_hash, at, key_id, signature, robot)


def prunes(conn: Connection) -> list[PruneRow]:
    """Every prune, oldest first."""
    rows = conn.execute(sa.select(audit_prunes).order_by(audit_prunes.c.id))
    return [PruneRow(**row._mapping) for row in rows]


def rows_after(conn: Connection, seq: int) -> Iterator[Row]:
    """The chain's rows after `seq`, in seq order, streamed (a server-side cursor on
    PostgreSQL)."""
    streamed = conn.execution_options(stream_results=True)
    for rows in streamed.execute(_ROWS, {"after": seq}).partitions(STREAM_ROWS):
        yield from rows


class AuditSnapshot:
    """The chain, its checkpoints and its prunes as one consistent read (one transaction;
    REPEATABLE READ on PostgreSQL), so a daemon appending meanwhile shows no false break."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def checkpoints(self) -> list[CheckpointRow]:
        return checkpoints(self._conn)

    def prunes(self) -> list[PruneRow]:
        return prunes(self._conn)

    def actions(self, action: str) -> list[tuple[int, dict[str, object]]]:
        """The seq and details of the events of one action (say, `log.pruned`), in seq order."""
        query = sa.select(audit_events.c.id, audit_events.c.detail).where(
            audit_events.c.action == action
        )
        rows = self._conn.execute(query.order_by(audit_events.c.id))
        return [(int(row.id), _detail(str(row.detail))) for row in rows]

    def walk(self, wanted: frozenset[int]) -> ChainWalk:
        """Re-compute the chain from its start (see `chain_walk.walk`)."""
        start = chain_start(self._conn)
        return walk(rows_after(self._conn, start[0]), start, wanted)


def _detail(text: str) -> dict[str, object]:
    """An event's detail (canonical JSON) as a dict (empty when it is not one)."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
