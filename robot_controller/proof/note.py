"""A checkpoint as a signed note, after C2SP tlog-checkpoint: the origin line, the seq of the
last event it covers, that event's hash (hex) and the time (UTC, to the second), each on a
line; a blank line; then the signature line `— KEY_ID BASE64`, the Ed25519 signature over the
text above the blank line. The store keeps the same fields, so either can be checked against
the other and against the chain.

    fmd-robot audit log
    1042
    5f0c…e1
    time 2026-12-01T16:40:00Z

    — 3b8f0a1c9d2e4f60 Zm9v…
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from robot_controller.store.checkpoints import CheckpointRow

ORIGIN = "fmd-robot audit log"
SIGNATURE_MARK = "\u2014"  # the em dash that starts a signature line
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_HASH = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SEQ = re.compile(r"[1-9][0-9]{0,17}")


class NoteError(Exception):
    """A checkpoint file that is not a checkpoint: the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed head of the chain: event `seq`'s hash at time `at`, signed by `key_id`."""

    seq: int
    head_hash: str
    at: datetime
    key_id: str
    signature: str  # base64

    @property
    def body(self) -> str:
        """The signed text."""
        return body(self.seq, self.head_hash, self.at)

    @property
    def note(self) -> str:
        """The whole note, as a checkpoint file holds it."""
        return f"{self.body}\n{SIGNATURE_MARK} {self.key_id} {self.signature}\n"

    @classmethod
    def of(cls, row: CheckpointRow) -> Checkpoint:
        return cls(row.seq, row.head_hash, row.at, row.key_id, row.signature)


def body(seq: int, head_hash: str, at: datetime) -> str:
    """The text a checkpoint's signature is over."""
    return f"{ORIGIN}\n{seq}\n{head_hash}\ntime {at.astimezone(UTC).strftime(_TIME)}\n"


def to_the_second(at: datetime) -> datetime:
    """A checkpoint's time as its note carries it."""
    return at.astimezone(UTC).replace(microsecond=0)


def parse(text: str) -> Checkpoint:
    """The checkpoint a note holds; `NoteError` saying what is wrong with it."""
    signed, blank, signatures = text.partition("\n\n")
    if not blank:
        raise NoteError("no blank line before the signature")
    lines = signed.split("\n")
    if len(lines) != 4:
        raise NoteError(f"{len(lines)} lines before the signature, not 4")
    origin, seq, head_hash, when = lines
    if origin != ORIGIN:
        raise NoteError(f"its origin line is not {ORIGIN!r}")
    if not _SEQ.fullmatch(seq):
        raise NoteError("its second line is not a seq")
    if not _HASH.fullmatch(head_hash):
        raise NoteError("its third line is not a SHA-256 hash in hex")
    try:
        if not when.startswith("time "):
            raise ValueError(when)
        at = datetime.strptime(when.removeprefix("time "), _TIME).replace(tzinfo=UTC)
    except ValueError:
        raise NoteError("its fourth line is not `time YYYY-MM-DDTHH:MM:SSZ`") from None
    parts = signatures.rstrip("\n").split(" ")
    if len(parts) != 3 or parts[0] != SIGNATURE_MARK or not _KEY_ID.fullmatch(parts[1]):
        raise NoteError("its signature line is not `— KEY_ID SIGNATURE`")
    return Checkpoint(int(seq), head_hash, at, parts[1], parts[2])
