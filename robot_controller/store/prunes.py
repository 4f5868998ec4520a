"""Pruning the log after its retention: a prefix of the audit chain up to a checkpoint, and the
rows of the packs whose events all lie in it.

Which events are past their retention is the caller's rule (`KeptUntil`: an event's time and
its pack's printed expiry dates → until when it is kept); a pack with work still open (an
intent waiting for the hub, an alert case not closed) is kept whatever its age. The prune is
one transaction: the pack rows, the `audit_prunes` row (which the append-only trigger needs
before it lets the events go), the events, and the `log.pruned` event that records it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from robot_controller.alert_cases import AlertState
from robot_controller.states import IntentStatus
from robot_controller.store.audit import actor_event, chain_start
from robot_controller.store.checkpoints import CheckpointRow
from robot_controller.store.schema import (
    TABLES,
    alerts,
    audit_events,
    audit_prunes,
    decisions,
    outbox,
    scans,
)
from robot_controller.store.transactions import Written

KeptUntil = Callable[[datetime, Sequence[str]], datetime]
"""Until when an event recorded at a time is kept, given its pack's printed expiry dates."""

PRUNED = "log.pruned"
_CHUNK = 5000
_PACK = "pack:"


@dataclass(frozen=True, slots=True)
class Kept:
    """The first event that must be kept: its seq, and until when (None: as long as its pack
    has work open)."""

    seq: int
    until: datetime | None


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a prune deleted (or, planned, would delete): the events through `through.seq`,
    and the rows of `packs`."""

    through: CheckpointRow
    events: int
    packs: int


def past_retention(
    conn: Connection, kept_until: KeptUntil, now: datetime
) -> tuple[int, Kept | None]:
    """The last seq of the longest prefix of the chain whose every event is past its
    retention at `now` (the chain's start when none is), and the first event kept (None when
    every event is past it)."""
    last = chain_start(conn)[0]
    while True:
        rows: list[tuple[int, datetime, str]] = [
            (row.id, row.at, row.subject)
            for row in conn.execute(
                sa.select(audit_events.c.id, audit_events.c.at, audit_events.c.subject)
                .where(audit_events.c.id > last)
                .order_by(audit_events.c.id)
                .limit(_CHUNK)
            )
        ]
        if not rows:
            return last, None
        tokens = {_token(subject) for _, _, subject in rows} - {None}
        expiries, open_packs = _expiries(conn, tokens), _open(conn, tokens)
        for seq, at, subject in rows:
            token = _token(subject)
            if token in open_packs:
                return last, Kept(seq, None)
            until = kept_until(at, expiries.get(token, ()) if token is not None else ())
            if until > now:
                return last, Kept(seq, until)
            last = seq


def _token(subject: str) -> int | None:
    tail = subject.removeprefix(_PACK)
    return int(tail) if tail != subject and tail.isdigit() else None


def _expiries(conn: Connection, tokens: set[Any]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    query = sa.select(decisions.c.token, decisions.c.expiry_raw).where(
        decisions.c.token.in_(tokens), decisions.c.expiry_raw.is_not(None)
    )
    for row in conn.execute(query):
        found.setdefault(int(row.token), []).append(str(row.expiry_raw))
    return found


def _open(conn: Connection, tokens: set[Any]) -> set[int]:
    """The packs among `tokens` with work still open: an intent pending, an alert not closed."""
    pending = sa.select(outbox.c.token).where(
        outbox.c.token.in_(tokens), outbox.c.status == IntentStatus.PENDING.value
    )
    alerting = sa.select(alerts.c.token).where(
        alerts.c.token.in_(tokens), alerts.c.status != AlertState.CLOSED.value
    )
    return set(conn.execute(pending.union(alerting)).scalars())


def packs_within(conn: Connection, through: int) -> list[int]:
    """The packs whose remaining events all lie at or before seq `through`."""
    query = (
        sa.select(audit_events.c.subject)
        .where(audit_events.c.subject.like(f"{_PACK}%"))
        .group_by(audit_events.c.subject)
        .having(sa.func.max(audit_events.c.id) <= through)
    )
    subjects: list[str] = list(conn.execute(query).scalars())
    tokens = (_token(subject) for subject in subjects)
    return sorted(token for token in tokens if token is not None)


def plan(conn: Connection, through: CheckpointRow) -> Pruned:
    """What pruning through `through` would delete."""
    start = chain_start(conn)[0]
    return Pruned(through, max(0, through.seq - start), len(packs_within(conn, through.seq)))


def prune(
    conn: Connection, through: CheckpointRow, actor: str, why: str, at: datetime
) -> Written[Pruned]:
    """Delete the chain through the checkpoint `through` and the rows of the packs whose
    events all lie in it; record the prune (its row and its event)."""
    start = chain_start(conn)[0]
    tokens = packs_within(conn, through.seq)
    for chunk in _chunks(tokens):
        for statement in _deletions(chunk):
            conn.execute(statement)
    events = conn.execute(
        sa.select(sa.func.count()).where(audit_events.c.id <= through.seq)
    ).scalar_one()
    conn.execute(
        audit_prunes.insert().values(
            through_seq=through.seq, head_hash=through.head_hash, checkpoint=through.id,
            events=events, actor=actor, why=why, at=at,
        )
    )  # fmt: skip
    conn.execute(audit_events.delete().where(audit_events.c.id <= through.seq))
    done = Pruned(through, events, len(tokens))
    event = actor_event(
        at, actor, PRUNED, "log", why,
        before={"first_seq": start + 1}, after={"first_seq": through.seq + 1},
        through_seq=through.seq, checkpoint=through.id, events=events, packs=len(tokens),
    )  # fmt: skip
    return Written(done, (event,))


def _chunks(tokens: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(tokens), size):
        yield tokens[start : start + size]


def _deletions(tokens: list[int]) -> list[sa.Delete]:
    """Every row of these packs, children first: each table that names a scan, or names a
    row of such a table, then the scans."""
    statements = []
    for table in reversed(TABLES.sorted_tables):
        for key in table.foreign_keys:
            parent = key.column.table
            if parent is scans:
                statements.append(table.delete().where(key.parent.in_(tokens)))
            else:
                for owner in (k.parent for k in parent.foreign_keys if k.column.table is scans):
                    owned = sa.select(key.column).where(owner.in_(tokens))
                    statements.append(table.delete().where(key.parent.in_(owned)))
    return [*statements, scans.delete().where(scans.c.id.in_(tokens))]
