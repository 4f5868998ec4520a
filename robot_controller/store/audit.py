"""The audit hash chain: each event's hash covers its content and the previous event's hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


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
