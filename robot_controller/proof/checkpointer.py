"""Checkpoints while the daemon runs: one every `every_events` events or `every` (whichever
comes first, looked at every `POLL_S`), one at every clean stop, and one on demand
(`fmd-robot audit checkpoint`). Each is signed, kept in the store, then written to the
checkpoint folder; a file that cannot be written is an error line, never a stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from robot_controller.proof import folder as files
from robot_controller.proof.keys import SigningKey
from robot_controller.proof.note import Checkpoint, body, to_the_second
from robot_controller.store import Store
from robot_controller.store.checkpoints import CheckpointRow

log = structlog.get_logger("fmd.audit")

POLL_S = 1.0
Call = Callable[..., Awaitable[Any]]


class Checkpointer:
    """Signs the chain's head with `key` into `store` and `folder`."""

    def __init__(
        self,
        store: Store,
        key: SigningKey,
        folder: Path,
        *,
        every_events: int,
        every: timedelta,
        clock: Callable[[], datetime],
        robot: str | None = None,
    ) -> None:
        self.store = store
        self.key = key
        self.folder = folder
        self.every_events = every_events
        self.every = every
        self.clock = clock
        self.robot = robot
        self._since = clock()  # with no checkpoint yet, the time counts from here

    def if_due(self) -> CheckpointRow | None:
        """A checkpoint, when `every_events` events or `every` have passed since the last."""
        seq, head_hash = self.store.audit_head()
        last = self.store.last_checkpoint()
        signed = last.seq if last else 0
        if seq <= signed:
            return None
        since = last.at if last else self._since
        if seq - signed < self.every_events and self.clock() - since < self.every:
            return None
        return self._sign(seq, head_hash)

    def if_new(self) -> CheckpointRow | None:
        """A checkpoint, when events came after the last one (at a clean stop)."""
        seq, head_hash = self.store.audit_head()
        last = self.store.last_checkpoint()
        return self._sign(seq, head_hash) if seq > (last.seq if last else 0) else None

    def now(self) -> CheckpointRow | None:
        """A checkpoint of the head now (None: the chain has no event to sign)."""
        seq, head_hash = self.store.audit_head()
        return self._sign(seq, head_hash) if seq > 0 else None

    def _sign(self, seq: int, head_hash: str) -> CheckpointRow:
        at = to_the_second(self.clock())
        public = self.key.public
        signature = self.key.sign(body(seq, head_hash, at))
        row = self.store.add_checkpoint(
            seq, head_hash, at=at, key_id=public.key_id, signature=signature, robot=self.robot
        )
        try:
            path = files.write(self.folder, Checkpoint.of(row), row.id)
        except OSError as error:
            log.error("audit.checkpoint_file_failed", seq=seq, folder=str(self.folder),
                      error=error.strerror or str(error))  # fmt: skip
        else:
            log.info("audit.checkpoint", seq=seq, file=str(path), key_id=public.key_id)
        return row

    async def run(self, call: Call, poll_s: float = POLL_S) -> None:
        """Make the checkpoints that fall due, through `call` (the store's thread), until
        cancelled; a failure is logged and tried again at the next look."""
        while True:
            await asyncio.sleep(poll_s)
            try:
                await call(self.if_due)
            except Exception as error:  # noqa: BLE001 - logged; loading goes on
                log.error("audit.checkpoint_failed", error=repr(error))
