"""The durable verification log: one short transaction per pipeline step, each with its audit event.

`Store` is the facade the rest of the daemon uses. The work is done along the store's seams:
`transactions` (connections, batches, the one commit path), `journal` (each step's writes),
`intents` (the outbox), `queries` (recovery and reports), `audit` (the hash chain), `codec`
(rows ↔ domain objects) and `schema` (the tables).

Synchronous by design (SQLite and psycopg are blocking); the pipeline calls it from one worker
thread so the event loop never waits on a disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine, make_url

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import HubResult, ManualEntry, Reason
from fmd.hub.resilient import Attempt
from fmd.policy import Decision, Why
from robot_controller.robot.base import Job, JobOutcome
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import intents, queries
from robot_controller.store.audit import AuditChain, ChainCheck
from robot_controller.store.db import check_schema, create_engine_for, migrate
from robot_controller.store.errors import store_name
from robot_controller.store.journal import Journal
from robot_controller.store.records import DEFAULT_ROBOT, Intent, Unfinished
from robot_controller.store.statements import HotPath
from robot_controller.store.transactions import Transactions
from scanners.base import Scan


class Store:
    """The verification log on SQLite (default) or PostgreSQL.

    Enum arguments may also be given as their string values.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sql = HotPath(engine.dialect)
        self._chain = AuditChain(self._sql)
        self._tx = Transactions(engine, self._chain)
        self._journal = Journal(self._sql)
        self._shared = engine.dialect.name == "postgresql"  # several daemons may write it

    @classmethod
    def open(cls, url: str, *, read_only: bool = False) -> Store:
        """Open (and create or upgrade, with Alembic) the store at a SQLAlchemy URL; with
        `read_only`, open it as it is, creating and changing nothing (`StoreMissing` when there
        is no store of this version there).

        Opening takes no writer's lock: a daemon, or a command that writes, holds
        `locks.hold_store` first.
        """
        engine = create_engine_for(url, read_only=read_only)
        try:
            if read_only:
                check_schema(engine, store_name(make_url(url)))
            else:
                migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def batch(self) -> AbstractContextManager[None]:
        """Run every store call made inside it, in this thread, in one transaction.

        Nested inside another batch, it simply joins that one.
        """
        return self._tx.batch()

    # -- writes: one transaction each (or part of a batch) -------------------------------

    def record_scan(self, scan: Scan, *, at: datetime, robot: str = DEFAULT_ROBOT) -> int:
        """Commit a raw scan taken by `robot`'s daemon; returns its token."""
        return self._tx.write(lambda conn: self._journal.record_scan(
            conn, scan.raw, scan.symbology_id, scan.source, scan.at, at, robot))  # fmt: skip

    def record_keyed_in(
        self,
        raw: str,
        entry: ManualEntry,
        *,
        message: str,
        at: datetime,
        robot: str = DEFAULT_ROBOT,
    ) -> int:
        """Commit a pack keyed in by hand (`raw`: what was keyed, spelled out) as a scan of
        source `manual`, finished at once as `returned` (it never goes to the robot, so
        recovery leaves it alone); returns its token."""
        return self._tx.write(lambda conn: self._journal.record_keyed_in(
            conn, raw, entry, message, at, robot))  # fmt: skip

    def record_decision(
        self,
        token: int,
        stage: Stage,
        parsed: ParsedScan,
        decision: Decision,
        *,
        at: datetime,
    ) -> None:
        """Commit a decision."""
        stage = Stage(stage)
        self._tx.write(lambda conn: self._journal.record_decision(
            conn, token, stage, parsed, decision, at))  # fmt: skip

    def record_verification(
        self,
        token: int,
        operation: str,
        ui: PackIdentifier | ManualEntry,
        trx: str,
        result: HubResult | None,
        *,
        error: str | None,
        latency_s: float,
        at: datetime,
        reason: Reason | None = None,
    ) -> None:
        """Commit one hub call (`operation` as the hub client names it; `ui` a pack keyed in by
        hand for `manual`), and an alert register entry for an alert."""
        self._tx.write(lambda conn: self._journal.record_verification(
            conn, token, operation, ui, trx, result, error=error, latency_s=latency_s, at=at,
            reason=reason))  # fmt: skip

    def settle_intent(
        self,
        intent_id: int,
        status: IntentStatus,
        code: str | None,
        *,
        at: datetime,
        counted: bool = False,
    ) -> None:
        """Mark an outbox intent done, failed or flagged (or still pending after an attempt);
        `counted`: its attempt was counted when it was sent (`note_sending`)."""
        status = IntentStatus(status)
        self._tx.write(
            lambda conn: intents.settle(
                self._sql, conn, intent_id, status, code, at, counted=counted
            )
        )

    def queue_intent(
        self,
        token: int,
        ui: PackIdentifier,
        operation: HubOperation,
        reason: Reason | None,
        *,
        trx: str,
        at: datetime,
    ) -> Intent:
        """Commit a state change for the hub to the outbox (for instance an operator's undo)."""
        operation = HubOperation(operation)
        return self._tx.write(lambda conn: intents.add(
            self._sql, conn, token, ui, operation, reason, trx, at))  # fmt: skip

    def note_sending(self, intent_ids: Sequence[int], *, at: datetime, sent: bool = True) -> None:
        """Count an attempt for these pending intents before they are sent (see
        `intents.note_sending`): one that was in flight when the process stopped is asked
        about before it is sent again. `sent` False takes the count back (throttled)."""
        if intent_ids:
            self._tx.write(lambda conn: intents.note_sending(conn, intent_ids, at, sent=sent))

    def claim_intents(
        self, *, by: str, at: datetime, lease: timedelta, finished_packs_only: bool = False
    ) -> list[Intent]:
        """The pending intents robot `by`'s daemon is to replay now, oldest first, claimed for
        it (`intents.claim`) on PostgreSQL, where daemons share the outbox; on SQLite, where
        one daemon holds the store (`locks.hold_store`), every pending one."""
        if not self._shared:
            return self.pending_intents(finished_packs_only=finished_packs_only)
        return self._tx.write(lambda conn: intents.claim(
            conn, by, at, lease, finished_packs_only=finished_packs_only))  # fmt: skip

    def keep_claims(self, intent_ids: Sequence[int], *, by: str, at: datetime) -> set[int]:
        """Renew robot `by`'s claims on these intents before a request carries them; the ids
        it still holds (all of them on SQLite)."""
        if not self._shared or not intent_ids:
            return set(intent_ids)
        return self._tx.write(lambda conn: intents.keep(conn, intent_ids, by, at))

    def release_claims(self, *, by: str) -> None:
        """Give up robot `by`'s claims on the intents it leaves pending (its replay ended)."""
        if self._shared:
            self._tx.write(lambda conn: intents.release(conn, by))

    def cancel_unsent(self, token: int, *, at: datetime, keep_verify: bool = False) -> None:
        """Cancel a pack's pending intents that must not be sent now that it missed the shelf:
        every one never sent, and its deferred verify (unless `keep_verify`). A change already
        sent stays pending: it may have landed, and replay settles it."""
        self._tx.write(lambda conn: intents.cancel_unsent(conn, token, at, keep_verify))

    def job(self, job_id: int) -> Job:
        """A robot job as it was started."""
        with self._tx.read() as conn:
            return queries.job(conn, job_id)

    def start_job(self, job: Job, *, at: datetime, robot: str = DEFAULT_ROBOT) -> int:
        """Commit a job of `robot` as started, before the robot is asked to move the pack."""
        return self._tx.write(lambda conn: self._journal.start_job(conn, job, at, robot))

    def record_calls(self, token: int, calls: Iterable[Attempt]) -> None:
        """Record every call a step made to the hub (each with its answer or error)."""
        for call in calls:
            self.record_verification(
                token, call.operation, call.ui, call.trx, call.result, error=call.error,
                latency_s=call.latency_s, at=call.at, reason=call.reason,
            )  # fmt: skip

    def finish(
        self,
        token: int,
        *,
        route: Route,
        why: Why,
        message: str,
        ui: PackIdentifier | None,
        at: datetime,
        job_id: int | None = None,
        outcome: JobOutcome | None = None,
        flagged: bool = False,
    ) -> None:
        """Commit a pack's final route (and the job's outcome) in one transaction."""
        route = Route(route)
        self._tx.write(lambda conn: self._journal.finish(
            conn, token, route=route, why=why, message=message, ui=ui, at=at, job_id=job_id,
            outcome=outcome, flagged=flagged))  # fmt: skip

    def record_retrieval(
        self, token: int, job_id: int, outcome: JobOutcome | None, *, at: datetime
    ) -> Route:
        """Commit the end of a retrieve-to-quarantine job; the pack's route from now on."""
        return self._tx.write(
            lambda conn: self._journal.record_retrieval(conn, token, job_id, outcome, at)
        )

    def flag(self, token: int, message: str, *, at: datetime) -> None:
        """Mark a finished pack for the operator's attention."""
        self._tx.write(lambda conn: self._journal.flag(conn, token, message, at))

    # -- reads --------------------------------------------------------------------------

    def retrievals_due(self, *, robot: str = DEFAULT_ROBOT) -> tuple[list[int], list[int]]:
        """`robot`'s shelved packs whose deferred check failed: those never sent to be
        retrieved, and those whose retrieve job started but never ended (a stop or crash
        mid-move), which only the operator can settle. Durable, so nothing depends on memory."""
        with self._tx.read() as conn:
            return queries.retrievals_due(conn, robot)

    def shelved_location(self, token: int) -> int | None:
        """Where a pack on the shelf is (None when it is not on the shelf)."""
        with self._tx.read() as conn:
            return queries.shelved_location(conn, token)

    def in_stock(self, ui: PackIdentifier) -> bool:
        """True when a pack with this product code and serial was shelved here before."""
        with self._tx.read() as conn:
            return queries.in_stock(self._sql, conn, ui)

    def change_pending(self, ui: PackIdentifier | ManualEntry) -> bool:
        """True when a state change for this pack still waits in the outbox."""
        with self._tx.read() as conn:
            return intents.change_pending(conn, ui)

    def unfinished(self, *, robot: str = DEFAULT_ROBOT) -> list[Unfinished]:
        """`robot`'s scans without a final outcome, oldest first, with their open intent and
        started job (scans recorded before robots had names count as the default robot's)."""
        with self._tx.read() as conn:
            return queries.unfinished(conn, robot)

    def outbox_counts(self, *, robot: str | None = None) -> dict[tuple[str, str], int]:
        """How many intents there are per (operation, status); with `robot`, of its packs
        alone (on a shared store, what its daemon is to send)."""
        with self._tx.read() as conn:
            return intents.counts(conn, robot)

    def last_decision(self, token: int) -> Decision | None:
        """The newest decision recorded for a pack."""
        with self._tx.read() as conn:
            return queries.last_decision(conn, token)

    def intents_of(self, token: int) -> list[Intent]:
        """Every outbox intent of one pack, oldest first."""
        with self._tx.read() as conn:
            return intents.of_pack(conn, token)

    def pending_intents(self, *, finished_packs_only: bool = False) -> list[Intent]:
        """Intents still waiting for the hub, oldest first; optionally only those of packs
        whose route is settled (the pipeline itself handles the packs still in flight)."""
        with self._tx.read() as conn:
            return intents.pending(conn, finished_packs_only=finished_packs_only)

    def summary(self) -> dict[str, int]:
        """Counts for the end of a run: packs, routes, alerts, decommissions, unfinished scans."""
        with self._tx.read() as conn:
            return queries.summary(conn)

    def outcomes(self) -> dict[int, tuple[str, str]]:
        """Every finished pack: token → (route, why)."""
        with self._tx.read() as conn:
            return queries.outcomes_by_token(conn)

    def raw_scans(self) -> Iterator[tuple[int, str]]:
        """Every scan: (token, raw) in token order."""
        with self._tx.read() as conn:
            yield from queries.raw_scans(conn)

    def check_audit_chain(self) -> ChainCheck:
        """Re-compute the audit hash chain over the whole log."""
        with self._tx.read() as conn:
            return self._chain.check(conn)
