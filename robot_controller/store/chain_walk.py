"""Re-computing the audit chain, streamed in seq order, and saying exactly where it breaks.

Each row is checked on its own (its hash against its fields, its seq in the hash) and against
the row before it (its `prev_hash`, the next seq). What a break looks like tells its kind: a
gap in the seqs is a deleted row; a row whose hash matches its fields under a nearby seq holds
an event that was recorded there (reordered, or renumbered after a row was deleted or
inserted); a row that matches under the seq before, following the row two back, marks a row
inserted before it; a hash that matches under no seq is an edited field; a row whose own hash
is right but whose `prev_hash` is not the hash of the row before follows a rewritten event.
Runs of the same kind are one finding (a seq range), so a renumbered tail is one line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from robot_controller.store.audit import ChainCheck, canonical_text, utc_iso

MAX_FINDINGS = 100
"""Findings kept one by one; beyond them, only counted."""

NEARBY = 8
"""How far from its place an event is looked for (a wider move reads as an edit)."""

Row = tuple[int, Any, str, str, str, str, str, str | None, str | None, str, str]
"""seq, at, actor, action, subject, why, detail, before, after, prev_hash, hash."""


class Break(StrEnum):
    """How the chain itself can break."""

    MISSING = "missing"
    EDITED = "edited"
    MOVED = "moved"
    INSERTED = "inserted"
    UNLINKED = "unlinked"


@dataclass(frozen=True, slots=True)
class Finding:
    """One break, in one line: its kind, the seq it names (None: no seq) and what it means."""

    kind: str
    seq: int | None
    message: str

    def as_json(self) -> dict[str, object]:
        return {"kind": self.kind, "seq": self.seq, "message": self.message}


@dataclass(frozen=True, slots=True)
class ChainWalk:
    """What re-computing the chain found: `start` the seq and hash it follows (the last
    prune's cut, or 0 and GENESIS), `end` its last row's seq and stored hash (`start` when
    empty), `hashes` the stored hash at each wanted seq it holds."""

    start: tuple[int, str]
    end: tuple[int, str]
    events: int
    findings: tuple[Finding, ...]
    more: int
    hashes: dict[int, str] = field(default_factory=dict)

    def check(self) -> ChainCheck:
        broken_at = self.findings[0].seq if self.findings else None
        return ChainCheck(ok=not self.findings, events=self.events, broken_at=broken_at)


@dataclass(slots=True)
class _Run:
    kind: Break
    first: int
    last: int
    offset: int = 0


class _Findings:
    """Findings as they come, runs of one kind (and offset) merged, at most `MAX_FINDINGS`."""

    def __init__(self) -> None:
        self.kept: list[Finding] = []
        self.more = 0
        self._run: _Run | None = None

    def add(self, kind: Break, first: int, last: int | None = None, offset: int = 0) -> None:
        run = self._run
        if run and (run.kind, run.offset) == (kind, offset) and first == run.last + 1:
            run.last = first if last is None else last
            return
        self.flush()
        self._run = _Run(kind, first, first if last is None else last, offset)

    def flush(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        if len(self.kept) < MAX_FINDINGS:
            self.kept.append(Finding(run.kind, run.first, _message(run)))
        else:
            self.more += 1


def _message(run: _Run) -> str:
    span = f"seq {run.first}" if run.first == run.last else f"seq {run.first}–{run.last}"
    many = run.first != run.last
    match run.kind:
        case Break.MISSING:
            count = run.last - run.first + 1
            return f"{span}: missing ({count} event{'s' if many else ''} deleted)"
        case Break.EDITED:
            what = (
                "their hashes do not match their fields"
                if many
                else "its hash does not match its fields"
            )
            return f"{span}: edited ({what})"
        case Break.MOVED if not many:
            return (
                f"{span}: holds the event recorded as seq {run.first + run.offset} "
                "(rows reordered or renumbered)"
            )
        case Break.MOVED:
            steps = abs(run.offset)
            later, cause = ("later", "deleted") if run.offset > 0 else ("earlier", "inserted")
            return (
                f"{span}: each holds the event recorded {steps} seq{'s' if steps > 1 else ''} "
                f"{later} (rows {cause} before seq {run.first}, the rest renumbered)"
            )
        case Break.INSERTED:
            return (
                f"{span}: inserted (seq {run.first + 1} holds the event recorded as seq "
                f"{run.first}, which followed seq {run.first - 1})"
            )
    return (
        f"{span}: its prev_hash is not the hash of seq {run.first - 1} (an event before it "
        "was rewritten, inserted or removed)"
    )


def _digest(seq: int, prev: str, at: str, fields: tuple[Any, ...]) -> str:
    return hashlib.sha256(canonical_text(seq, prev, at, fields).encode()).hexdigest()


def walk(rows: Iterable[Row], start: tuple[int, str], wanted: frozenset[int]) -> ChainWalk:
    """Re-compute the chain over `rows` (seq order, the seqs after `start`), keeping the stored
    hash at each `wanted` seq; constant memory whatever the chain's length."""
    found = _Findings()
    hashes: dict[int, str] = {}
    expected, last_hash = start[0] + 1, start[1]
    before_last: str | None = None  # the stored hash of the row before the last one
    last_flagged, hint, events = False, 0, 0
    for seq, at, actor, action, subject, why, detail, before, after, prev, digest in rows:
        events += 1
        if seq in wanted:
            hashes[seq] = digest
        gap = seq > expected
        if gap:
            found.add(Break.MISSING, expected, seq - 1)
        try:
            when = utc_iso(at)
            fields = (actor, action, subject, why, detail, before, after)
            flagged = _digest(seq, prev, when, fields) != digest
            if not flagged:
                if prev != last_hash and not gap and not last_flagged:
                    found.add(Break.UNLINKED, seq)
            else:
                moved_to = _recorded_as(seq, prev, when, fields, digest, hint)
                if moved_to is not None:
                    hint = moved_to - seq
                    found.add(Break.MOVED, seq, offset=hint)
                elif (
                    not gap
                    and before_last is not None
                    and _digest(seq - 1, before_last, when, fields) == digest
                ):
                    found.add(Break.INSERTED, seq - 1)
                else:
                    found.add(Break.EDITED, seq)
        except (TypeError, ValueError):  # a field another program wrote that is no text
            flagged = True
            found.add(Break.EDITED, seq)
        before_last, last_hash, last_flagged = last_hash, digest, flagged
        expected = seq + 1
    found.flush()
    return ChainWalk(
        start, (expected - 1, last_hash), events, tuple(found.kept), found.more, hashes
    )


def _recorded_as(
    seq: int, prev: str, at: str, fields: tuple[Any, ...], digest: str, hint: int
) -> int | None:
    """The nearby seq under which this row's fields give its hash (the last move found is
    tried first: a renumbered tail costs one extra hash per row)."""
    offsets = [hint] if hint else []
    offsets += [k for d in range(1, NEARBY + 1) for k in (d, -d) if k != hint]
    for offset in offsets:
        if seq + offset > 0 and _digest(seq + offset, prev, at, fields) == digest:
            return seq + offset
    return None
