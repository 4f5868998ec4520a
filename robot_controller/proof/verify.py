"""`fmd-robot audit verify`: the whole chain re-computed, and every checkpoint, in the store and
in the folder, checked against the keys, the chain and each other.

The checkpoint files are read first, then the store in one consistent read: a file is written
after its checkpoint is committed, so every file read has its events in that read. A
checkpoint with a bad signature, or by a key not trusted, vouches for nothing and is not
compared with the chain; a good one must match the chain's hash at its seq (or, at or before
the last prune's cut, the prune's own record). A file must be in the store as it is: an
attacker who rewrote the chain and the store's checkpoints consistently is caught by the files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from robot_controller.proof import folder as files
from robot_controller.proof.keys import PublicKey
from robot_controller.proof.note import Checkpoint, NoteError
from robot_controller.store import Store, StoreError
from robot_controller.store.chain_walk import ChainWalk, Finding
from robot_controller.store.checkpoints import CheckpointRow, PruneRow
from robot_controller.store.prunes import PRUNED


class Problem(StrEnum):
    """How a checkpoint (or a prune) can disagree."""

    TRUNCATED = "truncated"
    HEAD = "head-differs"
    GONE = "signed-event-missing"
    SIGNATURE = "bad-signature"
    KEY = "other-key"
    CORRUPT = "corrupt-file"
    NOT_IN_STORE = "file-not-in-store"
    DISAGREES = "file-disagrees"
    PRUNE = "prune"


@dataclass(frozen=True, slots=True)
class Report:
    """What `audit verify` found: intact when `findings` is empty (and `more` is 0)."""

    events: int
    first_seq: int
    last_seq: int
    checkpoints: int  # in the store
    files: int
    findings: tuple[Finding, ...]
    more: int = 0  # findings beyond those listed
    unsigned: int = 0  # events after the last good checkpoint
    good: tuple[CheckpointRow, ...] = field(default=(), repr=False)  # the store's, verified

    @property
    def ok(self) -> bool:
        return not self.findings and not self.more

    def as_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "checkpoints": self.checkpoints,
            "files": self.files,
            "unsigned": self.unsigned,
            "findings": [finding.as_json() for finding in self.findings],
            "more_findings": self.more,
        }


UNREADABLE = (SQLAlchemyError, StoreError, TypeError, ValueError)
"""What `verify` raises on audit tables it did not write (not our rows)."""


def unreadable(error: Exception) -> str:
    """An `UNREADABLE` error in one line."""
    text = str(error).strip()
    first = text.splitlines()[0] if text else repr(error)
    return f"store: its audit tables cannot be read as written: {first}"


def count(n: int, thing: str) -> str:
    """`n thing(s)`."""
    return f"{n} {thing}{'' if n == 1 else 's'}"


def counted(report: Report, folder: Path) -> str:
    """What was checked, in words: events and their seqs, checkpoints, files."""
    span = f"seq {report.first_seq}–{report.last_seq}" if report.events else "none"
    on_file = f"{count(report.files, 'file')} in {folder}" if folder.is_dir() else f"no {folder}"
    return (f"{count(report.events, 'event')} ({span}), "
            f"{count(report.checkpoints, 'checkpoint')}, {on_file}")  # fmt: skip


def verdict(report: Report, folder: Path) -> str:
    """The last line `audit verify` prints, without its word (`intact` or `broken`)."""
    if not report.ok:
        return (
            f"{count(len(report.findings) + report.more, 'finding')} in {counted(report, folder)}"
        )
    unsigned = (
        f"; {count(report.unsigned, 'event')} after the last checkpoint" if report.unsigned else ""
    )
    return counted(report, folder) + unsigned


@dataclass(frozen=True, slots=True)
class _Signed:
    """A checkpoint from the store or a file, with the name a finding gives it."""

    name: str
    checkpoint: Checkpoint


def verify(store: Store, keys: Sequence[PublicKey], folder: Path | None) -> Report:
    """Re-compute the chain and check every checkpoint against `keys`, the chain and the
    files in `folder` (None: the store's checkpoints alone)."""
    on_file = list(files.read(folder)) if folder is not None and folder.is_dir() else []
    with store.audit_snapshot() as snapshot:
        rows, prunes = snapshot.checkpoints(), snapshot.prunes()
        wanted = {row.seq for row in rows} | {
            c.seq for _, c in on_file if isinstance(c, Checkpoint)
        }
        chain = snapshot.walk(frozenset(wanted))
        pruned_events = snapshot.actions(PRUNED) if prunes else []
    findings: list[Finding] = list(chain.findings)
    trusted = {key.key_id: key for key in keys}
    good_rows = tuple(row for row in rows if _vouches(_named(row), trusted, findings))
    unmatched = list(_files(on_file, rows, findings))
    good = [_named(row) for row in good_rows]
    good += [s for s in unmatched if _vouches(s, trusted, findings)]
    findings += _against_chain(good, chain)
    signed = max((s.checkpoint.seq for s in good), default=chain.start[0])
    if prunes:
        findings += _last_prune(prunes[-1], good_rows, pruned_events, signed)
    return Report(
        events=chain.events,
        first_seq=chain.start[0] + 1,
        last_seq=chain.end[0],
        checkpoints=len(rows),
        files=len(on_file),
        findings=tuple(findings),
        more=chain.more,
        unsigned=max(0, chain.end[0] - signed),
        good=good_rows,
    )


def _named(row: CheckpointRow) -> _Signed:
    return _Signed(f"checkpoint #{row.id}", Checkpoint.of(row))


def _vouches(signed: _Signed, trusted: dict[str, PublicKey], findings: list[Finding]) -> bool:
    """Whether the checkpoint is signed by a trusted key (a finding when it is not)."""
    checkpoint = signed.checkpoint
    key = trusted.get(checkpoint.key_id)
    if key is None:
        known = ", ".join(sorted(trusted)) or "none"
        findings.append(Finding(Problem.KEY, checkpoint.seq, (
            f"{signed.name} (seq {checkpoint.seq}): signed by key {checkpoint.key_id}, not by "
            f"the key checked against ({known})")))  # fmt: skip
        return False
    if not key.verifies(checkpoint.signature, checkpoint.body):
        findings.append(Finding(Problem.SIGNATURE, checkpoint.seq, (
            f"{signed.name} (seq {checkpoint.seq}): its signature does not match its text "
            f"(forged or altered)")))  # fmt: skip
        return False
    return True


def _files(
    on_file: Iterable[tuple[Path, Checkpoint | NoteError]],
    rows: list[CheckpointRow],
    findings: list[Finding],
) -> Iterable[_Signed]:
    """The files that are not in the store as they are (each a finding), to be checked on
    their own."""
    in_store = {Checkpoint.of(row) for row in rows}
    by_seq: dict[int, list[CheckpointRow]] = {}
    for row in rows:
        by_seq.setdefault(row.seq, []).append(row)
    for path, checkpoint in on_file:
        if isinstance(checkpoint, NoteError):
            findings.append(Finding(Problem.CORRUPT, None,
                                    f"checkpoint file {path}: corrupt: {checkpoint}"))  # fmt: skip
            continue
        if checkpoint in in_store:
            continue
        name = f"checkpoint file {path.name}"
        same_seq = by_seq.get(checkpoint.seq)
        if same_seq:
            findings.append(Finding(Problem.DISAGREES, checkpoint.seq, (
                f"{name} (seq {checkpoint.seq}): the store's checkpoint #{same_seq[0].id} of "
                f"that seq differs from it ({_differs(checkpoint, same_seq[0])})")))  # fmt: skip
        else:
            findings.append(Finding(Problem.NOT_IN_STORE, checkpoint.seq, (
                f"{name} (seq {checkpoint.seq}, signed {checkpoint.at:%Y-%m-%d %H:%M:%S} UTC): "
                "not in the store (its checkpoint was deleted there)")))  # fmt: skip
        yield _Signed(name, checkpoint)


_FIELDS = {"head_hash": "head hash", "at": "time", "key_id": "key id", "signature": "signature"}
"""A checkpoint's fields, as a finding names them."""


def _differs(checkpoint: Checkpoint, row: CheckpointRow) -> str:
    other = Checkpoint.of(row)
    return ", ".join(said for name, said in _FIELDS.items()
                     if getattr(checkpoint, name) != getattr(other, name))  # fmt: skip


def _against_chain(good: list[_Signed], chain: ChainWalk) -> list[Finding]:
    """Each good checkpoint against the chain's hash at its seq; the tail cut short once."""
    findings = []
    start, end = chain.start, chain.end[0]
    beyond = [s for s in good if s.checkpoint.seq > end]
    for signed in good:
        seq, head_hash = signed.checkpoint.seq, signed.checkpoint.head_hash
        if seq > end or seq < start[0]:
            continue  # beyond the end: below, once; before the cut: pruned, nothing to match
        found = start[1] if seq == start[0] else chain.hashes.get(seq)
        if found is None:
            findings.append(
                Finding(
                    Problem.GONE, seq, f"{signed.name} (seq {seq}): the event it signs is missing"
                )
            )
        elif found != head_hash:
            findings.append(Finding(Problem.HEAD, seq, (
                f"{signed.name} (seq {seq}): the chain's hash at seq {seq} is not the signed "
                f"head (events at or before seq {seq} were rewritten)")))  # fmt: skip
    if beyond:
        furthest = max(beyond, key=lambda s: s.checkpoint.seq)
        seq = furthest.checkpoint.seq
        findings.append(Finding(Problem.TRUNCATED, seq, (
            f"{furthest.name} signed seq {seq}, but the chain ends at seq {end}: events "
            f"{end + 1}–{seq} were removed (truncated tail)")))  # fmt: skip
    return findings


def _last_prune(
    prune: PruneRow,
    good: tuple[CheckpointRow, ...],
    pruned_events: list[tuple[int, dict[str, object]]],
    signed: int,
) -> list[Finding]:
    """The prune the chain starts after: at a good checkpoint of its cut, and recorded by an
    event a good checkpoint signs (`log prune` signs the new head): the triggers let anyone
    who can write the store add a prune row and delete up to it, and hash a `log.pruned`
    event, but not sign one."""
    name, seq = f"prune #{prune.id}", prune.through_seq
    findings = []
    at = next((row for row in good if row.id == prune.checkpoint), None)
    if at is None or (at.seq, at.head_hash) != (seq, prune.head_hash):
        why = "is not a good checkpoint" if at is None else f"signs seq {at.seq}, not the cut"
        findings.append(Finding(Problem.PRUNE, seq, (
            f"{name} (through seq {seq}): its checkpoint #{prune.checkpoint} {why}")))  # fmt: skip
    recorded = [event_seq for event_seq, detail in pruned_events
                if detail.get("through_seq") == seq]  # fmt: skip
    if not recorded:
        findings.append(Finding(Problem.PRUNE, seq, (
            f"{name} (through seq {seq}): no {PRUNED} event records it in the chain")))  # fmt: skip
    elif recorded[0] > signed:
        findings.append(Finding(Problem.PRUNE, seq, (
            f"{name} (through seq {seq}): its {PRUNED} event (seq {recorded[0]}) is signed by no "
            "checkpoint, so anyone who can write the store could have made it (if the prune "
            "was yours, `fmd-robot audit checkpoint` signs it)")))  # fmt: skip
    return findings
