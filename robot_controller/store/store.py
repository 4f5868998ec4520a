"""The durable verification log: one short transaction per pipeline step, each with its audit event.

`Store` is the facade the rest of the daemon uses. The work is done along the store's seams:
`transactions` (connections, batches, the one commit path), `journal` (each step's writes),
`intents` (the outbox), `queries` (recovery and reports), `audit` (the hash chain), `codec`
(rows ↔ domain objects) and `schema` (the tables).

Synchronous by design (SQLite and psycopg are blocking); the pipeline calls it from one worker
thread so the event loop never waits on a disk.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Engine, make_url

from fmd.codes.model import PackIdentifier, ParsedScan
from fmd.hub.contract import HubResult, ManualEntry, Reason
from fmd.hub.resilient import Attempt
from fmd.policy import Decision, Why
from robot_controller.alert_cases import AlertCase, AlertState, Transition
from robot_controller.robot.base import Job, JobOutcome
from robot_controller.states import HubOperation, IntentStatus, Route, Stage
from robot_controller.store import alert_register, checkpoints, intents, packs, prunes, queries
from robot_controller.store import users as user_rows
from robot_controller.store.alert_register import QuarantinedPack
from robot_controller.store.audit import AuditChain, AuditEvent, ChainCheck, actor_event
from robot_controller.store.checkpoints import AuditSnapshot, CheckpointRow
from robot_controller.store.db import check_schema, create_engine_for, migrate
from robot_controller.store.errors import store_name
from robot_controller.store.journal import Journal
from robot_controller.store.prunes import Kept, KeptUntil, Pruned
from robot_controller.store.records import (
    DEFAULT_ROBOT,
    OPERATOR_SOURCE,
    PACK_ACTION,
    Dispensed,
    Intent,
    KnownPack,
    ShelvedPack,
    Unfinished,
)
from robot_controller.store.statements import HotPath
from robot_controller.store.transactions import Transactions, Written
from robot_controller.users import Role, User, checked_name, new_token, token_hash
from scanners.base import Scan


class Store:
    """The verification log on SQLite (default) or PostgreSQL.

    Enum arguments may also be given as their string values.
    """

    def __init__(self, engine: Engine, *, location: str | None = None) -> None:
        self.engine = engine
        self._sql = HotPath(engine.dialect)
        self._chain = AuditChain(self._sql)
        self._tx = Transactions(engine, self._chain)
        self._journal = Journal(self._sql, location)
        self._location = location
        self._shared = engine.dialect.name == "postgresql"  # several daemons may write it

    @classmethod
    def open(cls, url: str, *, read_only: bool = False, location: str | None = None) -> Store:
        """Open (and create or upgrade, with Alembic) the store at a SQLAlchemy URL; with
        `read_only`, open it as it is, creating and changing nothing (`StoreMissing` when there
        is no store of this version there). `location`: the premises ([site] location) of
        the daemon or command writing, which the alert cases it opens name.

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
        return cls(engine, location=location)

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
        location: str | None = None,
        claimed_by: str | None = None,
    ) -> Intent:
        """Commit a state change for the hub to the outbox (`location`: the premises queueing
        it, `[site] location`; a person's pack action is `queue_pack_action`); `claimed_by`:
        the process that sends it at once, whose claim keeps every replay off it (see
        `claim_intents`) until it is released or its lease passes."""
        operation = HubOperation(operation)
        return self._tx.write(lambda conn: intents.add(
            self._sql, conn, token, ui, operation, reason, trx, at, location=location,
            claimed_by=claimed_by))  # fmt: skip

    def note_sending(self, intent_ids: Sequence[int], *, at: datetime, sent: bool = True) -> None:
        """Count an attempt for these pending intents before they are sent (see
        `intents.note_sending`): one that was in flight when the process stopped is asked
        about before it is sent again. `sent` False takes the count back (throttled)."""
        if intent_ids:
            self._tx.write(lambda conn: intents.note_sending(conn, intent_ids, at, sent=sent))

    def claim_intents(
        self,
        *,
        by: str,
        at: datetime,
        lease: timedelta,
        finished_packs_only: bool = False,
        tokens: Collection[int] | None = None,
    ) -> list[Intent]:
        """The pending intents robot `by`'s daemon is to replay now, oldest first (optionally
        of finished packs, or of the packs `tokens`, only), claimed for it (`intents.claim`) on
        PostgreSQL, where daemons share the outbox; on SQLite, where one daemon holds the store
        (`locks.hold_store`), every pending one but those a command claimed to send itself."""
        if not self._shared:
            with self._tx.read() as conn:
                return intents.unheld(conn, by, at, lease, finished_packs_only=finished_packs_only,
                                      tokens=tokens)  # fmt: skip
        return self._tx.write(lambda conn: intents.claim(
            conn, by, at, lease, finished_packs_only=finished_packs_only,
            tokens=tokens))  # fmt: skip

    def keep_claims(self, intent_ids: Sequence[int], *, by: str, at: datetime) -> set[int]:
        """Renew robot `by`'s claims on these intents before a request carries them; the ids
        it still holds (all of them on SQLite)."""
        if not self._shared or not intent_ids:
            return set(intent_ids)
        return self._tx.write(lambda conn: intents.keep(conn, intent_ids, by, at))

    def release_claims(self, *, by: str) -> None:
        """Give up `by`'s claims on the intents it leaves pending (its replay ended, or the
        command that sent one itself)."""
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

    def shelved_packs(self, *, robot: str = DEFAULT_ROBOT) -> list[ShelvedPack]:
        """`robot`'s packs the log has on the shelf (stock reconciliation)."""
        with self._tx.read() as conn:
            return queries.shelved_packs(conn, robot)

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

    def product_name(self, token: int) -> str:
        """The hub's newest name of a pack's product ("": its answers named none)."""
        with self._tx.read() as conn:
            return queries.product_name(conn, token)

    def intents_of(self, token: int) -> list[Intent]:
        """Every outbox intent of one pack, oldest first."""
        with self._tx.read() as conn:
            return intents.of_pack(conn, token)

    def pending_intents(
        self, *, finished_packs_only: bool = False, tokens: Collection[int] | None = None
    ) -> list[Intent]:
        """Intents still waiting for the hub, oldest first; optionally only those of packs
        whose route is settled (the pipeline itself handles the packs still in flight), or of
        the packs `tokens` only."""
        with self._tx.read() as conn:
            return intents.pending(conn, finished_packs_only=finished_packs_only, tokens=tokens)

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
        """Re-compute the audit hash chain over the whole log (from the last prune's cut);
        `audit_snapshot` gives every finding and the checkpoints."""
        with self.audit_snapshot() as snapshot:
            return snapshot.walk(frozenset()).check()

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection for the read queries of `history` and `reports` (a server-side cursor
        on it streams on PostgreSQL)."""
        return self._tx.read()

    # -- the alert register -------------------------------------------------------------

    def alert_cases(self, state: AlertState | None = None) -> list[AlertCase]:
        """Every alert case (in `state`, if given), in the order they were opened."""
        state = None if state is None else AlertState(state)
        with self._tx.read() as conn:
            return alert_register.cases(conn, state)

    def alert_case(self, alert: int) -> tuple[AlertCase, list[Transition]] | None:
        """One alert case and its transitions, oldest first (None: no such case)."""
        with self._tx.read() as conn:
            return alert_register.case(conn, alert)

    def move_alert(
        self,
        alert: int,
        to: str,
        *,
        reason: str,
        actor: str,
        at: datetime,
        cause: str | None = None,
    ) -> AlertCase:
        """Move alert case `alert` to state `to` (closing it with `cause`), with its transition
        row and audit event in one transaction; `TransitionRefused` (one line naming what is
        allowed, nothing written) when the register's rules do not allow it."""
        return self._tx.write(lambda conn: alert_register.move(
            conn, alert, to, cause=cause, reason=reason, actor=actor, at=at))  # fmt: skip

    def open_case(
        self,
        token: int,
        ui: PackIdentifier,
        return_code: str,
        message: str,
        *,
        at: datetime,
        since: datetime,
    ) -> AlertCase:
        """The case of a state change the hub refused for a pack: the one an alert of it
        raised at or after `since` opened already, else one opened now (with its
        `alert.raised` event)."""

        return self._tx.write(lambda conn: alert_register.open_refused(
            self._sql, conn, token, ui, return_code, message, self._location, at,
            since))  # fmt: skip

    def quarantine(self) -> list[QuarantinedPack]:
        """The packs in the quarantine chute, the longest there first, with their alert case."""
        with self._tx.read() as conn:
            return alert_register.quarantine(conn)

    # -- pack actions ---------------------------------------------------------------------

    def find_pack(self, product_code: str, serial: str) -> KnownPack | None:
        """The pack with this product code and serial as the log knows it (None: never seen
        here): its newest token, its identifier, every outbox intent of its tokens."""
        with self._tx.read() as conn:
            return packs.find(conn, product_code, serial)

    def pack_of(self, token: int) -> tuple[str, str] | None:
        """The product code and serial of the pack a token names (None: none recorded)."""
        with self._tx.read() as conn:
            return packs.of_token(conn, token)

    def queue_pack_action(
        self,
        token: int | None,
        ui: PackIdentifier,
        operation: HubOperation,
        reason: Reason,
        *,
        trx: str,
        at: datetime,
        actor: str,
        note: str,
        location: str | None,
        scan: str | None = None,
        robot: str = DEFAULT_ROBOT,
    ) -> Intent:
        """Commit a person's state change for a pack to the outbox, in their name (`actor`,
        their reason `note`, the premises `location`), before it is sent. A pack never seen
        here (`token` None) is recorded first, in the same transaction, from its `scan`: a
        scan of source `operator`, finished at once as `returned` (it stays in the hand)."""
        operation = HubOperation(operation)

        def step(conn: Connection) -> Written[Intent]:
            events: tuple[AuditEvent, ...] = ()
            pack = token
            if pack is None:
                if scan is None:
                    raise ValueError("a pack never seen here is recorded from its scan")
                recorded = self._journal.record_returned(
                    conn, scan, OPERATOR_SOURCE, PACK_ACTION, ui.product_code, ui.serial,
                    f"first seen by a pack action ({operation} {reason})", at, robot,
                )  # fmt: skip
                pack = recorded.value
                events = tuple(replace(event, actor=actor) for event in recorded.events)
            queued = intents.add(self._sql, conn, pack, ui, operation, reason, trx, at,
                                 location=location, actor=actor, note=note)  # fmt: skip
            return Written(queued.value, (*events, *queued.events))

        return self._tx.write(step)

    # -- hand-out ---------------------------------------------------------------------------

    def record_dispensed(
        self,
        raw: str,
        ui: PackIdentifier | None,
        *,
        robot_pack: int,
        source: str,
        why: str,
        message: str,
        actor: str,
        at: datetime,
        robot: str = DEFAULT_ROBOT,
    ) -> Dispensed:
        """Record a pack the robot handed out (its Pack Id `robot_pack`), in `actor`'s name: a
        pack the log has on the shelf gets route `dispensed` (audited before/after); one it
        never shelved (or with no identifier, `ui` None) is recorded from `raw` as a scan of
        `source`, dispensed at once and flagged with `why`; one recorded dispensed already is
        left as it is."""

        def step(conn: Connection) -> Written[Dispensed]:
            known = None if ui is None else packs.on_the_shelf_or_out(conn, ui.product_code,
                                                                       ui.serial)  # fmt: skip
            if known is not None and known[1] is Route.DISPENSED:
                return Written(Dispensed(known[0], shelved=False, already=True), ())
            if known is not None:
                written = self._journal.record_dispensed(conn, known[0], message, at, actor,
                                                         robot_pack)  # fmt: skip
                return Written(Dispensed(known[0], shelved=True), written.events)
            recorded = self._journal.record_returned(
                conn, raw, source, why, ui.product_code if ui else None,
                ui.serial if ui else None, message, at, robot, route=Route.DISPENSED,
                location=robot_pack, flagged=True,
            )  # fmt: skip
            events = tuple(replace(event, actor=actor) for event in recorded.events)
            return Written(Dispensed(recorded.value, shelved=False), events)

        return self._tx.write(step)

    def flagged_changes(self, *, since: datetime, robot: str = DEFAULT_ROBOT) -> list[Intent]:
        """The changes that landed since `since` (decommissions, confirms, undos) of `robot`'s
        packs flagged off the shelf, oldest first: whose undo deadlines the daemon watches."""
        with self._tx.read() as conn:
            return packs.flagged_changes(conn, robot, since)

    # -- the provable log ----------------------------------------------------------------

    def audit_head(self) -> tuple[int, str]:
        """The seq and hash of the chain's last event (its start when it has none)."""
        with self._tx.read() as conn:
            return checkpoints.head(conn)

    def record_verified(
        self, ok: bool, what: str, *, actor: str, at: datetime, last_seq: int, findings: int
    ) -> None:
        """Record that `actor` had the log verified (an `audit.verified` event about the
        chain): whether it was intact, what was checked (`what`, in words), the last seq
        checked and how many findings there were."""
        event = actor_event(at, actor, "audit.verified", "audit:chain",
                            f"{'intact' if ok else 'broken'}: {what}", ok=ok, last_seq=last_seq,
                            findings=findings)  # fmt: skip
        self._tx.write(lambda conn: Written(None, (event,)))

    def last_checkpoint(self) -> CheckpointRow | None:
        """The checkpoint of the furthest seq."""
        with self._tx.read() as conn:
            return checkpoints.last_checkpoint(conn)

    def add_checkpoint(
        self,
        seq: int,
        head_hash: str,
        *,
        at: datetime,
        key_id: str,
        signature: str,
        robot: str | None = None,
    ) -> CheckpointRow:
        """Keep a signed checkpoint of the chain's head (not an audit event: it signs them)."""
        return self._tx.write(lambda conn: Written(checkpoints.add_checkpoint(
            conn, seq, head_hash, at, key_id, signature, robot), ()))  # fmt: skip

    @contextmanager
    def audit_snapshot(self) -> Iterator[AuditSnapshot]:
        """The chain, its checkpoints and prunes as one consistent read."""
        with self._tx.read() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            yield AuditSnapshot(conn)

    def past_retention(self, kept_until: KeptUntil, *, now: datetime) -> tuple[int, Kept | None]:
        """The last seq of the longest prefix of the chain past its retention at `now`, and
        the first event kept (see `prunes.past_retention`)."""
        with self._tx.read() as conn:
            return prunes.past_retention(conn, kept_until, now)

    def prune_plan(self, through: CheckpointRow) -> Pruned:
        """What pruning the log through the checkpoint `through` would delete."""
        with self._tx.read() as conn:
            return prunes.plan(conn, through)

    def prune(self, through: CheckpointRow, *, actor: str, why: str, at: datetime) -> Pruned:
        """Delete the chain through the checkpoint `through` and the rows of the packs whose
        events all lie in it, recorded as a prune and a `log.pruned` event."""
        return self._tx.write(lambda conn: prunes.prune(conn, through, actor, why, at))

    # -- the people who use the screens and the API ---------------------------------------

    def add_user(self, name: str, role: Role, *, actor: str, at: datetime) -> tuple[User, str]:
        """A new user and their token (returned once: the store keeps only its hash), with
        its `user.added` event; `UserRefused` when the name is taken or unfit."""
        name, role = checked_name(name), Role(role)
        token = new_token(role)
        user = self._tx.write(lambda conn: user_rows.add(
            conn, name, role, token_hash(token), token, actor=actor, at=at))  # fmt: skip
        return user, token

    def revoke_user(self, name: str, *, actor: str, why: str, at: datetime) -> User:
        """Revoke a user's token, with its `user.revoked` event; `UserRefused` when there is no
        such active user."""
        return self._tx.write(
            lambda conn: user_rows.revoke(conn, name.strip(), actor=actor, why=why, at=at)
        )

    def users(self) -> list[User]:
        """Every user, revoked ones too, in the order they were added."""
        with self._tx.read() as conn:
            return user_rows.listed(conn)

    def user_by_token(self, token: str) -> User | None:
        """The user a token belongs to (revoked or not), or None."""
        with self._tx.read() as conn:
            return user_rows.by_token_hash(conn, token_hash(token))

    def user(self, user_id: int) -> User | None:
        with self._tx.read() as conn:
            return user_rows.by_id(conn, user_id)

    def note_user_seen(self, user_id: int, *, at: datetime) -> None:
        self._tx.write(lambda conn: user_rows.touch(conn, user_id, at))

    # -- what a person does that changes nothing in the store (the robot terminal) ----------

    def record_action(
        self,
        action: str,
        subject: str,
        why: str,
        *,
        actor: str,
        at: datetime,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        **detail: Any,
    ) -> None:
        """Append one event by `actor` to the audit chain: what they did (`action` to
        `subject`, e.g. `robot.command` to `robot:main`), why, and the values before and after
        (a PackML command, a fault acknowledged: the robot changes, not the store)."""
        event = actor_event(at, actor, action, subject, why, before=before, after=after, **detail)
        self._tx.write(lambda conn: Written(None, (event,)))
