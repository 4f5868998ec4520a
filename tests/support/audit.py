"""A store with a signed chain, and an attacker with database access (the triggers dropped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from robot_controller.proof.checkpointer import Checkpointer
from robot_controller.proof.keys import SigningKey, generate
from robot_controller.proof.verify import Report, verify
from robot_controller.store import Store
from robot_controller.store.append_only import drop_statements
from robot_controller.store.audit import AuditEvent, chain_hash, event_of
from robot_controller.store.schema import audit_events
from scanners.base import Scan

AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class Clock:
    """A clock a test moves by hand."""

    def __init__(self, now: datetime = AT) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Signed:
    """A store, its key, its checkpoint folder and its checkpointer (on a hand clock)."""

    store: Store
    key: SigningKey
    folder: Path
    clock: Clock
    checkpoints: Checkpointer

    def record(self, packs: int) -> list[int]:
        """Scan `packs` packs, a second apart (one audit event each)."""
        tokens = []
        for _ in range(packs):
            self.clock.now += timedelta(seconds=1)
            scan = Scan(raw="]d2010950600013435221SN", symbology_id=None, source="t", at=AT)
            tokens.append(self.store.record_scan(scan, at=self.clock.now))
        return tokens

    def verify(self, folder: Path | None = None) -> Report:
        return verify(self.store, [self.key.public], folder or self.folder)

    def found(self, folder: Path | None = None) -> set[tuple[str, int | None]]:
        """What `verify` found: (kind, seq) pairs."""
        return {(f.kind, f.seq) for f in self.verify(folder).findings}


def signed_store(store: Store, folder: Path, *, every_events: int = 10) -> Signed:
    clock = Clock()
    key = generate(folder / "audit.key")
    checkpoints = Checkpointer(
        store, key, folder / "checkpoints", every_events=every_events,
        every=timedelta(minutes=10), clock=clock,
    )  # fmt: skip
    return Signed(store, key, folder / "checkpoints", clock, checkpoints)


class Attacker:
    """Someone with write access to the database: the append-only triggers are dropped first."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        with self.engine.begin() as conn:
            for statement in drop_statements(self.engine.dialect.name):
                conn.execute(sa.text(statement))

    def run(self, *statements: str, **values: object) -> None:
        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement), values)

    def event(self, seq: int) -> tuple[AuditEvent, str, str]:
        """Event `seq`, its prev_hash and its hash."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(audit_events).where(audit_events.c.id == seq)).one()
        return event_of(row), row.prev_hash, row.hash

    def rehash_from(self, seq: int) -> None:
        """Re-compute every hash from event `seq` on, so the chain is consistent again."""
        _, prev, _ = self.event(seq)
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(audit_events).where(audit_events.c.id >= seq).order_by(audit_events.c.id)
            ).all()
            for row in rows:
                digest = chain_hash(row.id, prev, event_of(row))
                conn.execute(
                    audit_events.update()
                    .where(audit_events.c.id == row.id)
                    .values(prev_hash=prev, hash=digest)
                )
                prev = digest

    def insert_after(self, seq: int, why: str) -> None:
        """A forged event after `seq`, the later ones renumbered, its successor relinked."""
        _, _, after = self.event(seq)
        template, _, _ = self.event(seq + 1)
        forged = AuditEvent(template.at, "daemon", "scan.recorded", "pack:999", why, "{}")
        digest = chain_hash(seq + 1, after, forged)
        self.run(
            "UPDATE audit_events SET id = -(id + 1) WHERE id > :seq",
            "UPDATE audit_events SET prev_hash = :digest WHERE id = :next",
            seq=seq,
            digest=digest,
            next=-(seq + 2),
        )
        with self.engine.begin() as conn:
            conn.execute(
                audit_events.insert().values(
                    id=seq + 1,
                    at=forged.at,
                    actor=forged.actor,
                    action=forged.action,
                    subject=forged.subject,
                    why=forged.why,
                    detail=forged.detail,
                    prev_hash=after,
                    hash=digest,
                )
            )
        self.run("UPDATE audit_events SET id = -id WHERE id < 0")
